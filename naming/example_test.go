package naming_test

import (
	"context"
	"fmt"

	"github.com/troupe-rpc/troupe/naming"
)

func ExampleNew() {
	svc, err := naming.New("list://127.0.0.1:7777 50, [::1]:7778 blue # a comment", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	svc.Watch(ctx, func(servers []naming.ServerNode) {
		for _, s := range servers {
			fmt.Printf("%s tag=%q weight=%d\n", s.Addr, s.Tag, s.Weight)
		}
		cancel() // one list is enough here
	})
	// Output:
	// 127.0.0.1:7777 tag="50" weight=50
	// [::1]:7778 tag="blue" weight=0
}

func ExampleFiltered() {
	m := naming.NewManual()
	m.Update([]naming.ServerNode{{Addr: "10.0.0.1:80", Tag: "enable"}, {Addr: "10.0.0.2:80"}})
	enabled := naming.FilterFunc(func(n naming.ServerNode) bool { return n.Tag == "enable" })
	ctx, cancel := context.WithCancel(context.Background())
	naming.Filtered(m, enabled).Watch(ctx, func(servers []naming.ServerNode) {
		fmt.Println(servers)
		cancel()
	})
	// Output:
	// [{10.0.0.1:80 enable 0}]
}
