package etcd_test

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(stopEtcdAfter{m})
}

// stopEtcdAfter runs the tests and then stops the etcd they shared, before goleak looks.
type stopEtcdAfter struct{ m *testing.M }

func (s stopEtcdAfter) Run() int {
	code := s.m.Run()
	stopSharedEtcd()
	return code
}
