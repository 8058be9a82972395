// Package gateway holds the GraphQL schema of the gateway as its file,
// schema.graphqls, byte for byte, for `gateway schema` to print: the file
// is what clients generate code from, so the command prints it, comments
// and layout included, rather than a reformatting of the parsed schema.
package gateway

import _ "embed"

// SchemaGraphQLS is schema.graphqls as it is in the repository (the
// gateway's executable schema is generated from the same file).
//
//go:embed schema.graphqls
var SchemaGraphQLS string
