// Package protogen checks, in tests, that the Go code generated from a
// .proto file is up to date.
package protogen

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Check regenerates the Go code (messages and gRPC) of proto, a file in
// the test's working directory, and compares every file of outputs with
// the committed one; a stale file fails t with a message naming
// generateCmd. It needs protoc, protoc-gen-go and protoc-gen-go-grpc (on
// PATH or in $GOPATH/bin) and skips without them, or when their versions
// differ from those that generated the committed files (the output would
// differ for that reason alone).
func Check(t *testing.T, proto, generateCmd string, outputs ...string) {
	t.Helper()
	protoc := lookTool(t, "protoc")
	genGo := lookTool(t, "protoc-gen-go")
	genGRPC := lookTool(t, "protoc-gen-go-grpc")

	out := t.TempDir()
	cmd := exec.Command(protoc,
		"--plugin=protoc-gen-go="+genGo, "--plugin=protoc-gen-go-grpc="+genGRPC,
		"--go_out="+out, "--go_opt=paths=source_relative",
		"--go-grpc_out="+out, "--go-grpc_opt=paths=source_relative",
		proto)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("protoc: %v\n%s", err, msg)
	}
	for _, name := range outputs {
		committed, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		fresh, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		if cv, fv := versions(committed), versions(fresh); cv != fv {
			t.Skipf("%s: installed tools (%s) differ from those that generated it (%s)", name, fv, cv)
		}
		if !bytes.Equal(committed, fresh) {
			t.Errorf("%s is stale: run %s", name, generateCmd)
		}
	}
}

// versionLine matches the tool versions protoc-gen-go and
// protoc-gen-go-grpc write into the header of a generated file.
var versionLine = regexp.MustCompile(`(?m)^// (?:\t|- )(protoc\S*)\s+(v\S+)$`)

func versions(src []byte) string {
	var vs []string
	for _, m := range versionLine.FindAllSubmatch(src, -1) {
		vs = append(vs, string(m[1])+" "+string(m[2]))
	}
	return strings.Join(vs, ", ")
}

func lookTool(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if gopath, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		for _, dir := range filepath.SplitList(strings.TrimSpace(string(gopath))) {
			p := filepath.Join(dir, "bin", name)
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	t.Skipf("%s is not installed", name)
	return ""
}
