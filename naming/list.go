package naming

import "context"

// listService is list://a,b,c: a fixed list parsed once.
type listService struct {
	nodes []ServerNode
}

func newList(target string, opts *Options) (Service, error) {
	return &listService{nodes: parseList(target, opts.Logger)}, nil
}

// Watch reports the list once (possibly empty) and waits for ctx to end.
func (s *listService) Watch(ctx context.Context, update func([]ServerNode)) error {
	r := reporter{update: update}
	r.report(s.nodes)
	<-ctx.Done()
	return ctx.Err()
}
