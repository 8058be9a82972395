// This file holds helpers of the warm path: a snapshot answered from the
// whole-response cache (responsecache.go) passes every middleware and does
// little else, so what each costs per request counts (issue 16: warm
// throughput unchanged by the features added since).

package server

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"

	"github.com/ghl-graphql/gateway/loaders"
)

// responseCacheKey is the whole-response cache's key of a request:
// "response", the credential's ID and location, the method, the
// Content-Type and Accept headers and the hex of the request's hash, each
// after a unit separator (0x1f). It is built in one allocation, the
// string's.
func responseCacheKey(credID, locationID, method, contentType, accept string, sum [sha256.Size]byte) string {
	const prefix = "response"
	var h [2 * sha256.Size]byte
	hex.Encode(h[:], sum[:])
	var b strings.Builder
	b.Grow(len(prefix) + 6 + len(credID) + len(locationID) + len(method) + len(contentType) + len(accept) + len(h))
	b.WriteString(prefix)
	for _, part := range [...]string{credID, locationID, method, contentType, accept} {
		b.WriteByte(0x1f)
		b.WriteString(part)
	}
	b.WriteByte(0x1f)
	b.Write(h[:])
	return b.String()
}

// noCacheRequested is loaders.NoCacheRequested, answered at once for the
// request that carries neither of the headers it reads (nearly every one).
func noCacheRequested(h http.Header) bool {
	if len(h["Cache-Control"]) == 0 && len(h["Pragma"]) == 0 {
		return false
	}
	return loaders.NoCacheRequested(h)
}
