package credpb_test

import (
	"testing"

	"github.com/osohost/osohost/internal/protogen"
)

// TestGenerated regenerates the Go code from credentials.proto and compares
// it with the committed files (see protogen.Check).
func TestGenerated(t *testing.T) {
	protogen.Check(t, "credentials.proto", "go generate ./host/credentials/credpb", "credentials.pb.go", "credentials_grpc.pb.go")
}
