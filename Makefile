# Developer shortcuts; .ci/run is what CI runs.
.PHONY: run test race generate vet check

run:        ## run the gateway against the built-in sandbox
	go run ./cmd/gateway

test:       ## the README's test command
	go test ./...

race:
	go test -race ./...

generate:   ## regenerate graph/ from schema.graphqls
	go generate ./...

vet:
	go vet ./...

check:      ## everything CI checks
	bash .ci/run
