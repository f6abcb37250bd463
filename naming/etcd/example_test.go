package etcd_test

import (
	"errors"
	"fmt"

	"github.com/troupe-rpc/troupe/naming"
	"github.com/troupe-rpc/troupe/naming/etcd"
)

// An etcd:// URL works once the scheme is plugged in; without it, it is an unknown scheme. New
// connects to nothing: the etcd client is made when the service is watched.
func ExampleScheme() {
	url := "etcd://127.0.0.1:2379/services/echo"
	_, err := naming.New(url, nil)
	fmt.Println(errors.Is(err, naming.ErrUnknownScheme))

	svc, err := naming.New(url, &naming.Options{
		Schemes: map[string]naming.Builder{"etcd": etcd.Scheme(nil)},
	})
	fmt.Println(svc != nil, err)
	// Output:
	// true
	// true <nil>
}
