// The frontend protocol's settings (issue 14): automatic persisted queries,
// batched requests, CORS request headers and preflight caching.

package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/ghl-graphql/gateway/server"
)

// protocolConfig is the frontend protocol's flags.
type protocolConfig struct {
	apqCacheBytes    int
	maxBatch         int
	corsAllowHeaders string
	corsMaxAge       time.Duration
}

// validateProtocol checks the frontend protocol's flags.
func (c *config) validateProtocol() error {
	p := c.protocol
	switch {
	case p.apqCacheBytes < 0:
		return fmt.Errorf("%s %d: must not be negative (0 switches APQ off)", setting("apq-cache-bytes"), p.apqCacheBytes)
	case p.maxBatch < 0:
		return fmt.Errorf("%s %d: must not be negative (0 refuses batches)", setting("max-batch"), p.maxBatch)
	case p.corsMaxAge < 0:
		return fmt.Errorf("%s %v: must not be negative (0 sends no Max-Age)", setting("cors-max-age"), p.corsMaxAge)
	}
	if err := server.CheckCORSHeaders(c.corsHeaders()); err != nil {
		return fmt.Errorf("%s: %w", setting("cors-allow-headers"), err)
	}
	return nil
}

// corsHeaders splits -cors-allow-headers.
func (c *config) corsHeaders() []string {
	out := []string{}
	for h := range strings.SplitSeq(c.protocol.corsAllowHeaders, ",") {
		if h = strings.TrimSpace(h); h != "" {
			out = append(out, h)
		}
	}
	return out
}

// protocolSettings puts the frontend protocol's settings into scfg; a 0 on
// the command line means off, as server.Config says with a negative value.
func (c *config) protocolSettings(scfg *server.Config) {
	off := func(v int) int {
		if v == 0 {
			return -1
		}
		return v
	}
	scfg.APQCacheBytes = off(c.protocol.apqCacheBytes)
	scfg.MaxBatch = off(c.protocol.maxBatch)
	scfg.CORSAllowHeaders = c.corsHeaders()
	scfg.CORSMaxAge = c.protocol.corsMaxAge
	if scfg.CORSMaxAge == 0 {
		scfg.CORSMaxAge = -1
	}
}
