package naming

import "context"

// Filtered returns svc without the servers f rejects (brpc's NamingServiceFilter): its Watch
// reports svc's lists filtered, and only when the filtered list changes. A nil f returns svc.
func Filtered(svc Service, f Filter) Service {
	if f == nil {
		return svc
	}
	return filtered{svc: svc, f: f}
}

type filtered struct {
	svc Service
	f   Filter
}

func (s filtered) Watch(ctx context.Context, update func([]ServerNode)) error {
	r := reporter{update: update}
	return s.svc.Watch(ctx, func(nodes []ServerNode) {
		kept := make([]ServerNode, 0, len(nodes))
		for _, n := range nodes {
			if s.f.Accept(n) {
				kept = append(kept, n)
			}
		}
		r.report(kept)
	})
}
