package naming

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strings"
	"time"
)

// ErrUnknownScheme is matched by the error [New] returns for a URL whose scheme is neither
// built in nor in [Options.Schemes]. For "etcd", its text says to plug in the scheme of
// package github.com/troupe-rpc/troupe/naming/etcd.
var ErrUnknownScheme = errors.New("naming: unknown scheme")

// Builder makes the [Service] for the target of a URL (the text after "scheme://"); a program
// passes it in [Options.Schemes]. opts is never nil and has its defaults filled in (its Logger
// is never nil). A Builder checks target and returns an error naming what is wrong; it should
// not connect anywhere: [Service.Watch] does.
type Builder func(target string, opts *Options) (Service, error)

// Options configures [New]. The zero value (or nil) gives brpc's defaults.
type Options struct {
	// Logger receives warnings: skipped entries, unreadable files, failed lookups, outages of
	// a source. A Builder receives it too. nil: nowhere.
	Logger *slog.Logger
	// Schemes adds services by scheme name, in any case ("consul" for "consul://…"). A name that
	// is also built in replaces the built-in service. etcd:// is one of these:
	// {"etcd": etcd.Scheme(nil)} with package github.com/troupe-rpc/troupe/naming/etcd.
	Schemes map[string]Builder
	// FileInterval is how often file:// checks its file for a change. 0: 100ms.
	FileInterval time.Duration
	// DNSInterval is how often http:// and https:// resolve their host again. 0: 5s.
	DNSInterval time.Duration
	// Resolver resolves the host of http:// and https://. nil: net.DefaultResolver.
	Resolver *net.Resolver
}

// Defaults of [Options].
const (
	DefaultFileInterval = 100 * time.Millisecond
	DefaultDNSInterval  = 5 * time.Second
)

// builtins returns the services every URL may name, by scheme (a function, so that no caller
// can change the table).
func builtins() map[string]Builder {
	return map[string]Builder{
		"list":  newList,
		"file":  newFile,
		"http":  newHTTP,
		"https": newHTTPS,
	}
}

// New returns the naming service that url names: "scheme://target", the scheme in any case
// ("FILE://servers.txt" works). It fails on an unknown scheme (the error lists the known ones,
// and for etcd:// says where that scheme lives), an invalid option, or a target the service
// rejects at once (a file:// that cannot be read, an http:// host that is not a valid name).
func New(url string, opts *Options) (Service, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	scheme, target, ok := strings.Cut(url, "://")
	if !ok {
		return nil, fmt.Errorf("naming: %q has no scheme (want scheme://target, e.g. file://servers.txt)", url)
	}
	schemes := o.schemes()
	build, ok := schemes[strings.ToLower(scheme)]
	if !ok {
		known := slices.Sorted(maps.Keys(schemes))
		return nil, fmt.Errorf("%w %q in %q (known: %s)%s", ErrUnknownScheme, scheme, url,
			strings.Join(known, ", "), schemeHint(scheme))
	}
	return build(target, o)
}

// schemeHint tells where a well-known scheme that is not built in lives, or returns "".
func schemeHint(scheme string) string {
	if !strings.EqualFold(scheme, "etcd") {
		return ""
	}
	return `; etcd:// is not built in: import "github.com/troupe-rpc/troupe/naming/etcd" and add ` +
		`"etcd": etcd.Scheme(nil) to the schemes (naming.Options.Schemes, or ` +
		`actors.ChannelOptions.NamingSchemes for a channel)`
}

// schemes returns the built-in services and the user's, by lower-case name.
func (o *Options) schemes() map[string]Builder {
	all := builtins()
	for name, b := range o.Schemes {
		all[strings.ToLower(name)] = b
	}
	return all
}

// withDefaults checks o and returns a copy with every zero field set to its default.
func (o *Options) withDefaults() (*Options, error) {
	var c Options
	if o != nil {
		c = *o
	}
	for _, f := range []struct {
		name string
		d    *time.Duration
		def  time.Duration
	}{
		{"FileInterval", &c.FileInterval, DefaultFileInterval},
		{"DNSInterval", &c.DNSInterval, DefaultDNSInterval},
	} {
		if *f.d < 0 {
			return nil, fmt.Errorf("naming: Options.%s = %v, want > 0 (or 0 for %v)", f.name, *f.d, f.def)
		}
		if *f.d == 0 {
			*f.d = f.def
		}
	}
	for name, b := range c.Schemes {
		if b == nil || name == "" {
			return nil, fmt.Errorf("naming: Options.Schemes[%q] is empty, want a name and a Builder", name)
		}
	}
	c.Logger = orDiscard(c.Logger)
	if c.Resolver == nil {
		c.Resolver = net.DefaultResolver
	}
	return &c, nil
}
