package actors_test

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// The README's quick start is Example_quickStart's body as a program: the two must not drift.
func TestReadmeQuickStartIsTheExample(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile("example_quickstart_test.go")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```go\n.*?func main\\(\\) \\{\n(.*?)\n\\}\n```").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md has no Go block with a func main")
	}
	e := regexp.MustCompile(`(?s)func Example_quickStart\(\) \{\n(.*?)\n\t// Output:`).FindSubmatch(example)
	if e == nil {
		t.Fatal("example_quickstart_test.go has no Example_quickStart")
	}
	if got, want := normalize(string(m[1])), normalize(string(e[1])); got != want {
		t.Errorf("README.md's quick start differs from Example_quickStart:\nREADME:\n%s\nExample:\n%s", got, want)
	}
}

// normalize drops indentation and blank lines.
func normalize(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
