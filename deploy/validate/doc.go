// Package validate checks the Kubernetes manifests of deploy/k8s against
// the Kubernetes API types (k8s.io/api), strictly: an unknown or misspelt
// field is an error, as it is for kubectl apply --validate=strict. It is
// its own module so that the k8s.io dependencies stay out of the
// gateway's go.mod; run it with (cd deploy/validate && go test ./...).
package validate
