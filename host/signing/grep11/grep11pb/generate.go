// Package grep11pb holds the protocol buffer messages and gRPC stubs of the
// GREP11 service, generated from grep11.proto.
//
// The generated files are committed, so building osohost needs no protoc.
// After editing grep11.proto, regenerate them with protoc, protoc-gen-go and
// protoc-gen-go-grpc on PATH:
//
//	go generate ./host/signing/grep11/grep11pb
//
// TestGenerated fails when the committed files differ from what those tools
// produce (it is skipped when they are not installed).
package grep11pb

//go:generate protoc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative grep11.proto
