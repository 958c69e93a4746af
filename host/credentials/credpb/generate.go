// Package credpb holds the protocol buffer messages and gRPC stubs of the
// osohost credentials driver protocol (service
// osohost.credentials.v1.Credentials), generated from credentials.proto.
//
// The generated files are committed, so building osohost needs no protoc.
// After editing credentials.proto, regenerate them with protoc,
// protoc-gen-go and protoc-gen-go-grpc on PATH:
//
//	go generate ./host/credentials/credpb
//
// TestGenerated fails when the committed files differ from what those tools
// produce (it is skipped when they are not installed).
package credpb

//go:generate protoc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative credentials.proto
