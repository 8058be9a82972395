# The gateway's image (issue 15): a static, non-root binary on distroless.
#
#   docker build -t ghl-graphql-gateway .
#   docker run --rm -p 8080:8080 ghl-graphql-gateway        # the built-in sandbox
#
# Static (CGO_ENABLED=0): the final image has no libc, no shell, no package
# manager; only the binary, CA certificates (HighLevel is called over TLS),
# /etc/passwd with the nonroot user (65532) and tzdata, which is what
# gcr.io/distroless/static-debian12 holds. TestImageBinary in cmd/gateway
# builds the binary with the flags below and runs it with only those files,
# as user 65532, since this repository's CI has no container daemon.

FROM golang:1.26 AS build
WORKDIR /src
# Modules first: a layer that changes only with go.mod/go.sum.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# -trimpath: no build machine paths in the binary; -s -w: no symbol table
# or DWARF (smaller; stack traces keep function names and lines).
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags="-s -w" -o /out/gateway ./cmd/gateway

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/gateway /gateway
# Numeric, so that Kubernetes' runAsNonRoot can check it without /etc/passwd.
USER 65532:65532
# Inside a container the loopback default (127.0.0.1:8080) is unreachable.
ENV GATEWAY_ADDR=:8080
EXPOSE 8080
# No HEALTHCHECK: the image has no shell or curl; orchestrators probe
# /healthz (alive) and /readyz (ready) over HTTP (see deploy/k8s).
ENTRYPOINT ["/gateway"]
