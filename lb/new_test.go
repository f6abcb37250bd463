package lb_test

import (
	"strings"
	"testing"

	"github.com/troupe-rpc/troupe/lb"
	"github.com/troupe-rpc/troupe/wire"
)

func TestNew(t *testing.T) {
	tests := []struct{ spec, name string }{
		{"rr", "rr"},
		{"RR", "rr"},
		{" Random ", "random"},
		{"wrr", "wrr"},
		{"la", "la"},
		{"c_murmurhash", "c_murmurhash"},
		{"C_MD5", "c_md5"},
		{"c_ketama", "c_ketama"},
		{"rr:", "rr"},
		{"rr:min_working_instances=2 hold_seconds=2", "rr"},
		{"random:  min_working_instances=6   hold_seconds=10 ", "random"},
		{"c_murmurhash:replicas=150", "c_murmurhash"},
		{"c_md5:replicas=3", "c_md5"},
		{"c_ketama:replicas=160", "c_ketama"},
		{"c_ketama:replicas=160 enable_server_tag=true", "c_ketama"},
		{"c_md5:enable_server_tag=false", "c_md5"},
	}
	for _, tt := range tests {
		b, err := lb.New(tt.spec)
		if err != nil {
			t.Errorf("New(%q) = %v, want %s", tt.spec, err, tt.name)
			continue
		}
		if b.Name() != tt.name {
			t.Errorf("New(%q).Name() = %q, want %q", tt.spec, b.Name(), tt.name)
		}
	}
}

// TestNewInvalid is brpc's invalid_lb_params and more: the error names the bad part.
func TestNewInvalid(t *testing.T) {
	tests := []struct{ spec, want string }{
		{"random:mi_working_instances=2 hold_seconds=2", `"mi_working_instances"`},
		{"rr:min_working_instances=2 hold_secon=2", `"hold_secon"`},
		{"rr:min_working_instances=2", "needs hold_seconds"},
		{"random:hold_seconds=2", "needs min_working_instances"},
		{"rr:min_working_instances=0 hold_seconds=2", "min_working_instances"},
		{"rr:min_working_instances=x hold_seconds=2", "min_working_instances"},
		{"rr:min_working_instances=2 hold_seconds=-1", "hold_seconds"},
		{"rr:min_working_instances=2 hold_seconds=99999999999", "hold_seconds"},
		{"wrr:replicas=4", `"replicas"`},
		{"la:x=1", `"x"`},
		{"c_ketama:replicas=10", "multiple of 4"},
		{"c_md5:replicas=0", "replicas"},
		{"c_murmurhash:replicas=1000000", "replicas"},
		{"c_murmurhash:replicas=100 replicas=200", "twice"},
		{"c_murmurhash:replicas", "key=value"},
		{"c_murmurhash:enable_server_tag=yes", "not true or false"},
		{"c_md5:enable_server_tag=1", "not true or false"},
		{"c_md5:enable_server_tag=true enable_server_tag=false", "twice"},
		{"rr:enable_server_tag=true", `"enable_server_tag"`},
		{"roundrobin", "known: rr, random, wrr, la, c_murmurhash, c_md5, c_ketama"},
		{"", "unknown load balancer"},
	}
	for _, tt := range tests {
		b, err := lb.New(tt.spec)
		if err == nil {
			t.Errorf("New(%q) = %s, want an error", tt.spec, b.Name())
			continue
		}
		wantCode(t, "New("+tt.spec+")", err, wire.EINVAL)
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New(%q) = %v, want it to say %s", tt.spec, err, tt.want)
		}
	}
}
