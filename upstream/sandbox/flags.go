// This file binds a Config to command-line flags, for `gateway sandbox` and
// the gateway's embedded mode.

package sandbox

import (
	"flag"
	"strings"
)

// RegisterFlags defines the sandbox's flags on fs, bound to c: -seed
// -locations -contacts -latency -jitter -rate-max -rate-interval
// -rate-daily -fault-rate -fault-kinds (comma list) -fault-ops (comma list)
// -fault-max -strict-list-items -slow-delay -token-lifetime. Each flag's default is c's current value, or the value New
// would use for a zero field.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	orDefault := func(v, def int) int {
		if v == 0 {
			return def
		}
		return v
	}
	seed := c.Seed
	if seed == 0 {
		seed = DefaultSeed
	}
	fs.Int64Var(&c.Seed, "seed", seed, "seed of the data, IDs, tokens and fault draws")
	fs.IntVar(&c.Locations, "locations", orDefault(c.Locations, DefaultLocations), "number of locations (sub-accounts)")
	fs.IntVar(&c.ContactsPerLocation, "contacts", orDefault(c.ContactsPerLocation, DefaultContactsPerLocation), "seeded contacts per location")
	fs.DurationVar(&c.Latency, "latency", c.Latency, "added latency of each answer")
	fs.DurationVar(&c.Jitter, "jitter", c.Jitter, "uniform jitter (±) around -latency")
	fs.IntVar(&c.RateLimit.Max, "rate-max", c.RateLimit.Max, "calls per -rate-interval and location (0: unlimited; HighLevel: 100)")
	fs.DurationVar(&c.RateLimit.Interval, "rate-interval", c.RateLimit.Interval, "rate-limit window (0: 10s)")
	fs.IntVar(&c.RateLimit.Daily, "rate-daily", c.RateLimit.Daily, "calls per day and location (0: unlimited; HighLevel: 200000)")
	fs.Float64Var(&c.Faults.Rate, "fault-rate", c.Faults.Rate, "share of requests that fail, 0..1")
	fs.Var(&kindsFlag{p: &c.Faults.Kinds}, "fault-kinds", "comma list of fault kinds among 5xx, slow, drop, drop-after-write, malformed (default 5xx)")
	fs.Var(&listFlag{p: &c.Faults.Ops}, "fault-ops", "comma list of operation IDs that faults affect (default all)")
	fs.IntVar(&c.Faults.Max, "fault-max", c.Faults.Max, "most faults injected, then none (0: no limit)")
	fs.BoolVar(&c.StrictListItems, "strict-list-items", c.StrictListItems, "search and listing items carry only the spec's ContactsSearchSchema fields (no name, no phone)")
	fs.DurationVar(&c.Faults.SlowDelay, "slow-delay", c.Faults.SlowDelay, "wait of the slow fault (0: 5s)")
	fs.DurationVar(&c.AccessTokenLifetime, "token-lifetime", c.AccessTokenLifetime, "lifetime of the access tokens its OAuth token endpoint issues (0: 24h, as HighLevel's)")
}

// kindsFlag is a comma list of fault kinds.
type kindsFlag struct{ p *[]FaultKind }

func (f *kindsFlag) String() string {
	if f == nil || f.p == nil {
		return ""
	}
	parts := make([]string, len(*f.p))
	for i, k := range *f.p {
		parts[i] = string(k)
	}
	return strings.Join(parts, ",")
}

func (f *kindsFlag) Set(s string) error {
	kinds, err := ParseFaultKinds(s)
	if err != nil {
		return err
	}
	*f.p = kinds
	return nil
}

// listFlag is a comma list of strings.
type listFlag struct{ p *[]string }

func (f *listFlag) String() string {
	if f == nil || f.p == nil {
		return ""
	}
	return strings.Join(*f.p, ",")
}

func (f *listFlag) Set(s string) error {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	*f.p = out
	return nil
}
