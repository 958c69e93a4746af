package grep11pb_test

import (
	"testing"

	"github.com/osohost/osohost/internal/protogen"
)

// TestGenerated regenerates the Go code from grep11.proto and compares it
// with the committed files (see protogen.Check).
func TestGenerated(t *testing.T) {
	protogen.Check(t, "grep11.proto", "go generate ./host/signing/grep11/grep11pb", "grep11.pb.go", "grep11_grpc.pb.go")
}
