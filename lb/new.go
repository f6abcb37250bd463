package lb

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/troupe-rpc/troupe/wire"
)

// policies is the static table of brpc's balancer names. params lists the parameters each
// accepts; make gets them parsed and checked for range.
var policies = [...]struct {
	name   string
	params []string
	make   func(p params) (Balancer, error)
}{
	{"rr", recoveryParams, func(p params) (Balancer, error) {
		rec, err := p.recovery()
		return newRoundRobin(rec), err
	}},
	{"random", recoveryParams, func(p params) (Balancer, error) {
		rec, err := p.recovery()
		return &randomized{rec: rec}, err
	}},
	{"wrr", nil, func(params) (Balancer, error) { return &weightedRR{}, nil }},
	{"la", nil, func(params) (Balancer, error) { return newLocalityAware(), nil }},
	{"c_murmurhash", hashingParams, hashing(Murmur3)},
	{"c_md5", hashingParams, hashing(MD5)},
	{"c_ketama", hashingParams, hashing(Ketama)},
}

var hashingParams = []string{"replicas", "enable_server_tag"}

// boolParams are the parameters whose value is true or false; the others take a positive
// integer.
var boolParams = []string{"enable_server_tag"}

var recoveryParams = []string{"min_working_instances", "hold_seconds"}

// New returns the balancer named by spec, brpc's load_balancer_name: a name, case-insensitive,
// optionally followed by ':' and space-separated key=value parameters:
//
//	rr, random         min_working_instances=M hold_seconds=H (both or neither, both > 0):
//	                   cluster-recovery throttling
//	wrr, la            none
//	c_murmurhash,      replicas=N points per server (default 100, brpc's -chash_num_replicas;
//	c_md5, c_ketama    at most 65536; a multiple of 4 for c_ketama)
//	                   enable_server_tag=true|false: hash a server's tag into its points'
//	                   keys, "A-i-tag" instead of "A-i" (default false, brpc's
//	                   -consistent_hashing_enable_server_tag)
//
// A bad spec gives a [*wire.Error] with code EINVAL whose text names the bad part.
func New(spec string) (Balancer, error) {
	name, rest, _ := strings.Cut(spec, ":")
	name = strings.ToLower(strings.TrimSpace(name))
	for _, pol := range policies {
		if pol.name != name {
			continue
		}
		p, err := parseParams(spec, rest, pol.params)
		if err != nil {
			return nil, err
		}
		b, err := pol.make(p)
		if err != nil {
			return nil, badSpec(spec, err.Error())
		}
		return b, nil
	}
	return nil, badSpec(spec, fmt.Sprintf("unknown load balancer %q (known: %s)", name, knownNames()))
}

func knownNames() string {
	names := make([]string, len(policies))
	for i, p := range policies {
		names[i] = p.name
	}
	return strings.Join(names, ", ")
}

func badSpec(spec, why string) error {
	return wire.Errorf(wire.EINVAL, fmt.Sprintf("load balancer %q: %s", spec, why))
}

// params are the parsed key=value parameters of a spec; a boolean one is 1 for true, 0 for
// false.
type params map[string]int64

func parseParams(spec, rest string, allowed []string) (params, error) {
	p := params{}
	for _, kv := range strings.Fields(rest) {
		k, v, ok := strings.Cut(kv, "=")
		switch {
		case !ok:
			return nil, badSpec(spec, fmt.Sprintf("parameter %q is not key=value", kv))
		case !contains(allowed, k):
			return nil, badSpec(spec, fmt.Sprintf("unknown parameter %q (accepted: %s)",
				k, acceptedText(allowed)))
		}
		if _, dup := p[k]; dup {
			return nil, badSpec(spec, fmt.Sprintf("parameter %q given twice", k))
		}
		if contains(boolParams, k) {
			switch v {
			case "true":
				p[k] = 1
			case "false":
				p[k] = 0
			default:
				return nil, badSpec(spec, fmt.Sprintf("parameter %s=%q is not true or false", k, v))
			}
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return nil, badSpec(spec, fmt.Sprintf("parameter %s=%q is not a positive integer", k, v))
		}
		p[k] = n
	}
	return p, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func acceptedText(allowed []string) string {
	if len(allowed) == 0 {
		return "none"
	}
	return strings.Join(allowed, ", ")
}

// recovery returns the cluster-recovery policy the parameters ask for, nil when they ask for
// none.
func (p params) recovery() (*recovery, error) {
	m, okM := p["min_working_instances"]
	h, okH := p["hold_seconds"]
	switch {
	case okM && okH && h > maxHoldSeconds:
		return nil, fmt.Errorf("hold_seconds=%d is above %d", h, maxHoldSeconds)
	case okM && okH:
		return newRecovery(m, h), nil
	case okM:
		return nil, fmt.Errorf("min_working_instances=%d needs hold_seconds", m)
	case okH:
		return nil, fmt.Errorf("hold_seconds=%d needs min_working_instances", h)
	}
	return nil, nil
}

const (
	maxReplicas    = 1 << 16
	maxHoldSeconds = 1 << 30
)

func hashing(h Hasher) func(params) (Balancer, error) {
	return func(p params) (Balancer, error) {
		n, ok := p["replicas"]
		switch {
		case !ok:
			n = DefaultReplicas
		case n > maxReplicas:
			return nil, fmt.Errorf("replicas=%d is above %d", n, maxReplicas)
		case h == Ketama && n%4 != 0:
			return nil, fmt.Errorf("replicas=%d is not a multiple of 4 (c_ketama)", n)
		}
		return &consistentHashing{hasher: h, replicas: int(n), withTag: p["enable_server_tag"] == 1}, nil
	}
}
