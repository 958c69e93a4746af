package loadgen

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/osohost/osohost/host/schema"
)

// The request body is a valid V1_3 DocumentList holding the documents.
func TestAppendBody(t *testing.T) {
	docs := make([]Doc, 3)
	MakeDocs(docs, 7, 42)
	l, err := schema.DecodeDocumentList(AppendBody(nil, docs), schema.DefaultLimits)
	if err != nil || l.Count != 3 || len(l.Documents) != 3 {
		t.Fatalf("%+v, %v", l, err)
	}
	for i, d := range l.Documents {
		if d.ID != docs[i].ID || d.Content != docs[i].Content || d.Metadata != docs[i].Metadata || len(d.Content) != ContentBytes {
			t.Errorf("document %d: %+v, want %+v", i, d, docs[i])
		}
	}
	again := make([]Doc, 3)
	MakeDocs(again, 7, 43)
	if again[0].ID == docs[0].ID {
		t.Error("two requests of a client share ids")
	}
}

// signedAnswer answers docs as examples/signer does.
func signedAnswer(t *testing.T, docs []Doc, keyID string, priv ed25519.PrivateKey) []byte {
	t.Helper()
	type doc struct {
		ID       string `json:"id"`
		Content  string `json:"content"`
		Metadata string `json:"metadata"`
	}
	var out struct {
		Documents []doc `json:"documents"`
		Count     int   `json:"count"`
	}
	for _, d := range docs {
		sig := hex.EncodeToString(ed25519.Sign(priv, []byte(d.Content)))
		out.Documents = append(out.Documents, doc{d.ID, d.Content, `{"key_id": "` + keyID + `", "signature": "` + sig + `", "algorithm": "ED25519"}`})
	}
	out.Count = len(docs)
	b, _ := json.Marshal(out)
	return b
}

func TestCheck(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "ED25519"), 0o755)
	spki, _ := x509.MarshalPKIXPublicKey(pub)
	os.WriteFile(filepath.Join(dir, "ED25519", "k1.pub"), spki, 0o644)
	keys := NewKeyring(dir)

	docs := make([]Doc, 4)
	MakeDocs(docs, 1, 1)
	good := signedAnswer(t, docs, "k1", priv)
	if n, err := Check(200, good, docs, keys, 5, false); err != nil || n != 1 {
		t.Fatalf("good answer: %d verified, %v", n, err)
	}
	if n, err := Check(200, good, docs, keys, 0, true); err != nil || n != 4 {
		t.Fatalf("good answer, verify all: %d verified, %v", n, err)
	}
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	for name, c := range map[string]struct {
		status int
		body   []byte
		want   string
	}{
		"status":        {503, good, "status 503"},
		"not json":      {200, []byte("nope"), "not a DocumentList"},
		"count":         {200, []byte(strings.Replace(string(good), `"count":4`, `"count":3`, 1)), "count 3"},
		"wrong id":      {200, []byte(strings.Replace(string(good), docs[2].ID, "x", 1)), "document 2"},
		"bad signature": {200, signedAnswer(t, docs, "k1", other), "does not verify"},
		"unknown key":   {200, signedAnswer(t, docs, "k2", priv), "unknown key id"},
		"metadata":      {200, []byte(strings.Replace(string(good), `"algorithm\": \"ED25519\"`, `"algorithm\": \"X\"`, 1)), "algorithm ED25519"},
	} {
		if _, err := Check(c.status, c.body, docs, keys, 0, true); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", name, err, c.want)
		}
	}
}

func TestAltSvcH3Port(t *testing.T) {
	for in, want := range map[string]string{
		`h3=":4433"; ma=2592000`:               "4433",
		`h2=":443", h3="127.0.0.1:9000"; ma=1`: "9000",
		`h3-29=":443"`:                         "",
		``:                                     "",
	} {
		if got := altSvcH3Port([]string{in}); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}

func TestPercentile(t *testing.T) {
	var v []time.Duration
	for i := 1; i <= 100; i++ {
		v = append(v, time.Duration(i))
	}
	if pct(v, 50) != 50 || pct(v, 99) != 99 || pct(v, 100) != 100 || pct(v[:1], 99) != 1 {
		t.Errorf("percentiles %d %d %d", pct(v, 50), pct(v, 99), pct(v, 100))
	}
}

// TreeUsage reads this process.
func TestTreeUsage(t *testing.T) {
	u, err := TreeUsage(os.Getpid())
	if err != nil || u.Processes < 1 || u.RSS <= 0 {
		t.Fatalf("%+v, %v", u, err)
	}
}
