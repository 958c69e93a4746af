package bench

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/osohost/osohost/host/schema"
)

// The benchmark inputs must be what the benchmarks claim to send.
func TestFixtures(t *testing.T) {
	docs := documents(listDocs)
	for i, d := range docs {
		if len(d.ID) != 36 || len(d.Content) != contentBytes || len(d.Metadata) < 38 || len(d.Metadata) > 42 {
			t.Fatalf("document %d has sizes %d/%d/%d, want 36/%d/about 40", i, len(d.ID), len(d.Content), len(d.Metadata), contentBytes)
		}
	}
	if n := len(oneKiB()); n != 1024 {
		t.Errorf("oneKiB is %d bytes", n)
	}
	l, err := schema.DecodeDocumentList(postBody(t, docs), schema.DefaultLimits)
	if err != nil || l.Count != listDocs || len(l.Documents) != listDocs {
		t.Fatalf("POST body decodes to %d documents, count %d: %v", len(l.Documents), l.Count, err)
	}
	for i := range docs {
		if l.Documents[i] != docs[i] {
			t.Fatalf("POST body document %d = %+v, want %+v", i, l.Documents[i], docs[i])
		}
	}
}

// The Extism plugins are the files testdata/extism/README.md names.
func TestExtismPlugins(t *testing.T) {
	for file, sum := range map[string]string{
		"noop.wasm":         "f388f9ed67eb63e0dd155a24356db599b7a2a0aced5a7d517acbdeaa8df38b2c",
		"replace.wasm":      "49327bb1f6d89f42d3cd728fa48847bc4d007ea7c357b9fa0ec34eaef13c674d",
		"count_vowels.wasm": "0c1779c48f56f94b3e3624d76f55e38215870c59ccb3d41f6ba8b2bc22f218f5",
	} {
		b, err := os.ReadFile(filepath.Join("testdata", "extism", file))
		if err != nil {
			t.Fatal(err)
		}
		if got := sha256.Sum256(b); hex.EncodeToString(got[:]) != sum {
			t.Errorf("%s: SHA-256 %x, want %s", file, got, sum)
		}
	}
}
