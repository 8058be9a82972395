// Package graph holds the GraphQL executor that gqlgen generates from
// schema.graphqls. Nothing here is written by hand: run `go generate ./...`.
package graph

//go:generate sh -c "cd .. && go tool gqlgen generate"
