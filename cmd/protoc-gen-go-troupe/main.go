package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"google.golang.org/protobuf/compiler/protogen"
	"google.golang.org/protobuf/types/pluginpb"
)

// version is the plugin's version, written into the header of every generated file.
const version = "v0.2.0-dev"

func main() {
	if len(os.Args) == 2 && os.Args[1] == "--version" {
		fmt.Printf("%s %s\n", filepath.Base(os.Args[0]), version)
		return
	}
	if len(os.Args) == 2 && os.Args[1] == "--help" {
		fmt.Println("protoc-gen-go-troupe is a protoc plugin: run it as protoc --go-troupe_out=DIR. " +
			"See go doc github.com/troupe-rpc/troupe/cmd/protoc-gen-go-troupe.")
		return
	}
	var cfg config
	options(&cfg).Run(func(gen *protogen.Plugin) error {
		return generate(gen, cfg)
	})
}

// options returns the plugin's options, which set cfg from the parameters protoc passes.
func options(cfg *config) protogen.Options {
	var flags flag.FlagSet
	flags.StringVar(&cfg.packageSuffix, "package_suffix", "",
		"generate the stubs into a Go package of their own, named after the messages' package plus this suffix")
	return protogen.Options{ParamFunc: flags.Set}
}

// config is the plugin's own options (--go-troupe_opt=name=value).
type config struct {
	// packageSuffix, when not empty, puts the stubs of a file whose messages are in Go package
	// "foopb" into package "foopb"+packageSuffix, in a subdirectory of that name.
	packageSuffix string
}

// supportedFeatures are the protobuf features the plugin handles: proto3 optional fields do not
// matter to it, and neither do editions beyond what protoc-gen-go supports.
const supportedFeatures = uint64(pluginpb.CodeGeneratorResponse_FEATURE_PROTO3_OPTIONAL | pluginpb.CodeGeneratorResponse_FEATURE_SUPPORTS_EDITIONS)
