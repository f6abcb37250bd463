package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/pluginpb"

	"github.com/troupe-rpc/troupe/wire/echopb"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden with the generator's output")

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// run runs the generator in-process on files, generating the ones named in gen, as protoc would
// with --go-troupe_opt=param.
func run(t *testing.T, param string, gen []string, files ...*descriptorpb.FileDescriptorProto) *pluginpb.CodeGeneratorResponse {
	t.Helper()
	req := &pluginpb.CodeGeneratorRequest{
		FileToGenerate: gen,
		Parameter:      proto.String(param),
		ProtoFile:      files,
	}
	var cfg config
	plugin, err := options(&cfg).New(req)
	if err != nil {
		t.Fatalf("New(%q) = %v", param, err)
	}
	if err := generate(plugin, cfg); err != nil {
		plugin.Error(err)
	}
	return plugin.Response()
}

// echoFile is wire/echopb's echo.proto, as compiled into echopb (without its comments).
func echoFile() *descriptorpb.FileDescriptorProto {
	return protodesc.ToFileDescriptorProto(echopb.File_echopb_echo_proto)
}

// multiFile is testdata/multi.proto, compiled with its comments into testdata/multi.binpb by
// make generate.
func multiFile(t *testing.T) *descriptorpb.FileDescriptorProto {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "multi.binpb"))
	if err != nil {
		t.Fatal(err)
	}
	var set descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(b, &set); err != nil {
		t.Fatalf("Unmarshal(multi.binpb) = %v", err)
	}
	if len(set.File) != 1 {
		t.Fatalf("multi.binpb has %d files, want 1", len(set.File))
	}
	return set.File[0]
}

// TestGolden compares the generated files with testdata/NAME.golden; -update rewrites them.
func TestGolden(t *testing.T) {
	tests := []struct {
		name, param string
		gen         []string
		files       func(t *testing.T) []*descriptorpb.FileDescriptorProto
	}{
		{"echo", "paths=source_relative", []string{"echopb/echo.proto"},
			func(*testing.T) []*descriptorpb.FileDescriptorProto { return fileList(echoFile()) }},
		{"echo_suffix", "paths=source_relative,package_suffix=troupe", []string{"echopb/echo.proto"},
			func(*testing.T) []*descriptorpb.FileDescriptorProto { return fileList(echoFile()) }},
		{"multi", "", []string{"multi.proto"},
			func(t *testing.T) []*descriptorpb.FileDescriptorProto { return fileList(echoFile(), multiFile(t)) }},
		{"messages_only", "paths=source_relative", []string{"echopb/echo.proto"},
			func(*testing.T) []*descriptorpb.FileDescriptorProto {
				f := echoFile()
				f.Service = nil
				return fileList(f)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := run(t, tt.param, tt.gen, tt.files(t)...)
			if resp.Error != nil {
				t.Fatalf("generate: %s", resp.GetError())
			}
			got := render(resp)
			path := filepath.Join("testdata", tt.name+".golden")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to write it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("generated code differs from %s (run go test -update and review the diff):\n%s", path, got)
			}
			if again := render(run(t, tt.param, tt.gen, tt.files(t)...)); !bytes.Equal(again, got) {
				t.Errorf("a second run generated different code")
			}
		})
	}
}

func fileList(fs ...*descriptorpb.FileDescriptorProto) []*descriptorpb.FileDescriptorProto {
	return fs
}

// render lays out a response's files one after another, each after a "-- name --" line.
func render(resp *pluginpb.CodeGeneratorResponse) []byte {
	var b bytes.Buffer
	for _, f := range resp.File {
		b.WriteString("-- " + f.GetName() + " --\n")
		b.WriteString(f.GetContent())
	}
	return b.Bytes()
}

// TestNameCollision checks that a method GoFoo beside a method Foo fails the generation with
// an error naming both, rather than generating code that does not compile.
func TestNameCollision(t *testing.T) {
	f := echoFile()
	svc := f.Service[0]
	goEcho := proto.Clone(svc.Method[0]).(*descriptorpb.MethodDescriptorProto)
	goEcho.Name = proto.String("GoEcho")
	svc.Method = append(svc.Method, goEcho)
	resp := run(t, "paths=source_relative", []string{"echopb/echo.proto"}, f)
	if resp.Error == nil {
		t.Fatalf("generate with methods Echo and GoEcho: no error, want one")
	}
	for _, want := range []string{"example.EchoService", "GoEcho", "asynchronous form of method Echo"} {
		if !strings.Contains(resp.GetError(), want) {
			t.Errorf("error %q does not name %q", resp.GetError(), want)
		}
	}
	if len(resp.File) != 0 {
		t.Errorf("generate with an error wrote %d files, want none", len(resp.File))
	}
}

// TestBadOption checks that an unknown plugin option is refused.
func TestBadOption(t *testing.T) {
	var cfg config
	_, err := options(&cfg).New(&pluginpb.CodeGeneratorRequest{Parameter: proto.String("no_such_option=1")})
	if err == nil || !strings.Contains(err.Error(), "no_such_option") {
		t.Errorf("New(no_such_option=1) = %v, want an error naming the option", err)
	}
}
