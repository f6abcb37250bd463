module github.com/troupe-rpc/troupe

go 1.26

require (
	github.com/golang/snappy v1.0.0
	google.golang.org/protobuf v1.36.12
)
