package lb_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/troupe-rpc/troupe/lb"
	"github.com/troupe-rpc/troupe/wire"
)

// The files in testdata/brpc-lb hold the selections of Apache brpc 1.17's consistent-hashing
// balancers; its README.md says how they were made.
const goldenDir = "testdata/brpc-lb"

// goldenSet is a server set of the golden files: its servers in the order brpc added them and
// the parameters its balancers were made with.
type goldenSet struct {
	servers []lb.ServerNode
	params  []string // each is tested; nil: none
}

func goldenSets() map[string]goldenSet {
	var a3, b10, c10 []lb.ServerNode
	for i := range 3 {
		a3 = append(a3, lb.ServerNode{Addr: fmt.Sprintf("127.0.0.1:%d", 8000+i)})
	}
	for i := range 10 {
		addr := fmt.Sprintf("10.0.0.1:%d", 9000+i)
		b10 = append(b10, lb.ServerNode{Addr: addr})
		c10 = append(c10, lb.ServerNode{Addr: addr, Tag: strconv.Itoa(i + 1)})
	}
	var e7 []lb.ServerNode
	for _, a := range []string{"10.92.115.19:8833", "10.42.108.25:8833", "10.36.150.32:8833",
		"10.92.149.48:8833", "10.42.122.201:8833", "[2408:871a:2100:3:0:ff:b025:348d]:8833",
		"unix:test.sock"} {
		e7 = append(e7, lb.ServerNode{Addr: a})
	}
	return map[string]goldenSet{
		"a3":                      {servers: a3},
		"b10":                     {servers: b10},
		"c10tagged":               {servers: c10, params: []string{"", "enable_server_tag=false"}},
		"c10tagged-servertagflag": {servers: c10, params: []string{"enable_server_tag=true"}},
		"d10-replicas160":         {servers: b10, params: []string{"replicas=160"}},
		"e7-unittest":             {servers: e7},
	}
}

// goldenRow is one selection: the request code and the address brpc selected, or "EINVAL".
type goldenRow struct {
	code uint64
	want string
}

func readGolden(t *testing.T, path string) []goldenRow {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []goldenRow
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		code, want, ok := strings.Cut(sc.Text(), "\t")
		if line == 1 {
			if code != "request_code" || want != "selected_address" {
				t.Fatalf("%s: header %q, want request_code, selected_address", path, sc.Text())
			}
			continue
		}
		n, err := strconv.ParseUint(code, 10, 64)
		if !ok || err != nil || want == "" {
			t.Fatalf("%s:%d: bad row %q", path, line, sc.Text())
		}
		rows = append(rows, goldenRow{code: n, want: want})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}

// goldenPickers returns two pickers of spec over nodes: one from a balancer that saw the list
// grow as brpc's did (the first half added one at a time, then the rest at once), one from a
// balancer given the whole list at once.
func goldenPickers(t *testing.T, spec string, nodes []lb.ServerNode) (grown, whole lb.Picker) {
	t.Helper()
	servers := make([]lb.Server, len(nodes))
	for i := range nodes {
		servers[i] = lb.Server{ServerNode: nodes[i]}
	}
	b := mustNew(t, spec)
	for i := 1; i <= len(servers)/2; i++ {
		b.Build(servers[:i])
	}
	return b.Build(servers), mustNew(t, spec).Build(servers)
}

// TestGoldenBrpcSelections checks every selection of every golden file: the balancer named as
// in brpc, over the set's servers, picks the server brpc picked, and fails with EINVAL where
// brpc did.
func TestGoldenBrpcSelections(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(goldenDir, "c_*.*.tsv"))
	if err != nil || len(files) != 18 {
		t.Fatalf("golden files: %d, %v, want 18 (3 balancers × 6 sets)", len(files), err)
	}
	sets := goldenSets()
	for _, file := range files {
		name, setName, _ := strings.Cut(strings.TrimSuffix(filepath.Base(file), ".tsv"), ".")
		t.Run(name+"."+setName, func(t *testing.T) {
			set, ok := sets[setName]
			if !ok {
				t.Fatalf("no server set %q", setName)
			}
			rows := readGolden(t, file)
			specs := set.params
			if specs == nil {
				specs = []string{""}
			}
			for _, params := range specs {
				spec := name
				if params != "" {
					spec += ":" + params
				}
				checkGolden(t, spec, set.servers, rows)
			}
		})
	}
}

// checkGolden checks the picks of the balancer spec over nodes against rows.
func checkGolden(t *testing.T, spec string, nodes []lb.ServerNode, rows []goldenRow) {
	t.Helper()
	grown, whole := goldenPickers(t, spec, nodes)
	bad := 0
	for _, row := range rows {
		r := &lb.Request{Code: row.code, HasCode: true}
		for pi, p := range []lb.Picker{grown, whole} {
			got := goldenPick(p, r, nodes)
			if got != row.want {
				bad++
				if bad <= 10 {
					t.Errorf("%s picker %d: Pick(code %d) = %s, want %s", spec, pi, row.code,
						got, row.want)
				}
			}
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d selections differ from brpc's", spec, bad, 2*len(rows))
	}
}

// goldenPick returns what p picks for r as a golden file says it: the address, or the name of
// the error code (EINVAL).
func goldenPick(p lb.Picker, r *lb.Request, nodes []lb.ServerNode) string {
	i, err := p.Pick(r)
	if err != nil {
		var we *wire.Error
		if errors.As(err, &we) && errors.Is(err, wire.EINVAL) {
			return "EINVAL"
		}
		return "error " + err.Error()
	}
	return nodes[i].Addr
}

// TestGoldenTagsDoNotMove checks that, without enable_server_tag, tags leave every point in
// place: brpc's selections for the tagged set are byte for byte those of the untagged one.
func TestGoldenTagsDoNotMove(t *testing.T) {
	for _, name := range []string{"c_murmurhash", "c_md5", "c_ketama"} {
		tagged, err1 := os.ReadFile(filepath.Join(goldenDir, name+".c10tagged.tsv"))
		plain, err2 := os.ReadFile(filepath.Join(goldenDir, name+".b10.tsv"))
		flagged, err3 := os.ReadFile(filepath.Join(goldenDir, name+".c10tagged-servertagflag.tsv"))
		if err := errors.Join(err1, err2, err3); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(tagged, plain) {
			t.Errorf("%s: c10tagged.tsv differs from b10.tsv", name)
		}
		if bytes.Equal(flagged, plain) {
			t.Errorf("%s: c10tagged-servertagflag.tsv equals b10.tsv: the flag moved nothing", name)
		}
	}
}

// TestGoldenHashes checks the hash functions the rings use against brpc's MurmurHash32,
// MD5Hash32 and MD5HashSignature words in hashes.tsv.
func TestGoldenHashes(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(goldenDir, "hashes.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if lines[0] != "function\tinput\toutput" {
		t.Fatalf("hashes.tsv header %q", lines[0])
	}
	seen := map[string]int{}
	for n, line := range lines[1:] {
		f := strings.Split(line, "\t")
		if len(f) != 3 {
			t.Fatalf("hashes.tsv:%d: %q has %d fields, want 3", n+2, line, len(f))
		}
		want, err := strconv.ParseUint(f[2], 10, 32)
		if err != nil {
			t.Fatalf("hashes.tsv:%d: output %q: %v", n+2, f[2], err)
		}
		key := []byte(f[1])
		var got uint32
		switch fn := f[0]; {
		case fn == "murmurhash3_x86_32":
			got = lb.MurmurHash32(key)
		case fn == "md5_hash32":
			got = lb.MD5Hash32(key)
		case strings.HasPrefix(fn, "ketama_word") && len(fn) == len("ketama_word0") && fn[11] >= '0' && fn[11] <= '3':
			got = lb.KetamaWords(key)[fn[11]-'0']
		default:
			t.Fatalf("hashes.tsv:%d: unknown function %q", n+2, fn)
		}
		seen[f[0]]++
		if uint64(got) != want {
			t.Errorf("%s(%q) = %d, want %d", f[0], f[1], got, want)
		}
	}
	if len(seen) != 6 || seen["murmurhash3_x86_32"] < 18 {
		t.Errorf("hashes.tsv rows per function: %v, want all 6 functions, 18+ murmur rows", seen)
	}
}
