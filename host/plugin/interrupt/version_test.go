package interrupt

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"testing"
)

// TestVersionPinsOutput pins the digest of Instrument's output for a few
// modules to Version. If Instrument's output changed, bump Version and
// update the digests here: caches keyed by Version would otherwise serve
// modules instrumented by the old code.
func TestVersionPinsOutput(t *testing.T) {
	pins := map[string]map[string]string{
		"1": {
			"cguest.wasm":  "ad3283150a6eff43352c38e769d9ebdedec37a30240b303910fb23364ad8a823",
			"endless.wasm": "14bc7ff36d3bb88afbb4c0526cdfcd3dafb6c6c92d5aa0a6c9068f341c0614fa",
			"bulk.wasm":    "bf64d0dbbca387abb211051e42d4650a1fa61c790d4aa41030a9e67167d42f4f",
		},
	}
	want, ok := pins[Version]
	if !ok {
		t.Fatalf("no digests pinned for Version %q", Version)
	}
	for name, digest := range want {
		in, err := os.ReadFile("testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		out, err := Instrument(in)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(out)
		if got := hex.EncodeToString(sum[:]); got != digest {
			t.Errorf("%s: instrumented digest %s, pinned %q for Version %q: bump Version and pin the new digests", name, got, digest, Version)
		}
	}
}
