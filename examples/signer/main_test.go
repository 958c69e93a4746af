package main

import (
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/osohost/osohost/abi"
	oso "github.com/osohost/osohost/guest-sdk/go"
)

// Outside WebAssembly the SDK signs with an in-memory Ed25519 keystore, so
// the plugin's logic runs natively. The keystore lives as long as the test
// binary: the tests below run in order on one keystore.

var metadataRE = regexp.MustCompile(`^\{"key_id": "([0-9a-f-]{36})", "signature": "([0-9a-f]{128})", "algorithm": "ED25519"\}$`)

func list(t *testing.T, docs ...oso.Document) *oso.Documents {
	t.Helper()
	b := abi.AppendDocumentListHeader(nil, len(docs))
	for _, d := range docs {
		b = abi.AppendDocument(b, d.ID, d.Content, d.Metadata)
	}
	in, err := oso.NewDocuments(b)
	if err != nil {
		t.Fatal(err)
	}
	return &in
}

// signed calls ToISV and returns the answered documents.
func signed(t *testing.T, s *signer, docs ...oso.Document) []oso.Document {
	t.Helper()
	var reply oso.Reply
	if err := s.ToISV(list(t, docs...), &reply); err != nil {
		t.Fatal(err)
	}
	kind, b := reply.Output()
	if kind != abi.OutputDocumentList {
		t.Fatalf("answer kind %d", kind)
	}
	out, err := oso.NewDocuments(b)
	if err != nil {
		t.Fatal(err)
	}
	var got []oso.Document
	for d := range out.All() {
		got = append(got, d.Clone())
	}
	return got
}

func TestSigner(t *testing.T) {
	s := &signer{}
	if got := signed(t, s); len(got) != 0 {
		t.Fatalf("empty batch answered %q", got)
	}
	if ids, _ := oso.ListKeys(oso.Ed25519); len(ids) != 0 {
		t.Fatalf("an empty batch generated a key: %q", ids)
	}
	docs := []oso.Document{{ID: "1", Content: "tx one", Metadata: `{"a": 1}`}, {ID: "2", Content: ""}}
	var keyID string
	var answered []oso.Document
	for round := range 2 {
		got := signed(t, s, docs...)
		answered = append(answered, got...)
		if len(got) != len(docs) {
			t.Fatalf("round %d: %d documents", round, len(got))
		}
		for i, d := range got {
			m := metadataRE.FindStringSubmatch(d.Metadata)
			if d.ID != docs[i].ID || d.Content != docs[i].Content || m == nil {
				t.Fatalf("round %d: document %q", round, d)
			}
			if keyID == "" {
				keyID = m[1]
			}
			k, err := oso.PublicKey(m[1])
			if err != nil || m[1] != keyID {
				t.Fatalf("round %d: key %s (first %s): %v", round, m[1], keyID, err)
			}
			sig, _ := hex.DecodeString(m[2])
			if !ed25519.Verify(ed25519.PublicKey(k.PublicKey[12:]), []byte(d.Content), sig) {
				t.Fatalf("round %d: document %s: bad signature", round, d.ID)
			}
		}
	}

	st, err := s.Status()
	if err != nil || st.Code != 200 || string(st.Extra) != `{"keys":1}` {
		t.Fatalf("Status() = %+v (extra %s), %v", st, st.Extra, err)
	}
	// The signed documents wait in state until ToOSO collects them, in
	// the order they were signed.
	if got := collect(t, s); !slices.Equal(got, answered) {
		t.Fatalf("ToOSO = %q, want %q", got, answered)
	}
	if got := collect(t, s); len(got) != 0 {
		t.Fatalf("second ToOSO: %q", got)
	}
}

// collect calls ToOSO and returns its documents.
func collect(t *testing.T, s *signer) []oso.Document {
	t.Helper()
	var out oso.DocumentList
	if err := s.ToOSO(&out); err != nil {
		t.Fatal(err)
	}
	in, err := oso.NewDocuments(out.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	var docs []oso.Document
	for d := range in.All() {
		docs = append(docs, d.Clone())
	}
	return docs
}

// TestSigner_ToOSO_Batches: one answer holds at most maxBatchBytes; the
// rest waits for the next call.
func TestSigner_ToOSO_Batches(t *testing.T) {
	s := &signer{}
	big := strings.Repeat("x", 700<<10)
	for i := range 8 {
		signed(t, s, oso.Document{ID: fmt.Sprint(i), Content: big})
	}
	first := collect(t, s)
	rest := collect(t, s)
	if len(first) == 0 || len(first) >= 8 || len(first)+len(rest) != 8 || rest[0].ID != fmt.Sprint(len(first)) {
		t.Fatalf("batches of %d and %d documents", len(first), len(rest))
	}
}

func TestSigner_ConfiguredKeyMissing(t *testing.T) {
	keyID = "00000000-0000-4000-8000-000000000000"
	defer func() { keyID = "" }()
	s := &signer{}
	var reply oso.Reply
	err := s.ToISV(list(t, oso.Document{ID: "1", Content: "x"}), &reply)
	var e oso.Error
	if !errors.Is(err, oso.ErrNotFound) || errors.As(err, &e) {
		t.Fatalf("ToISV with a missing key: %v (a generic 500 is expected)", err)
	}
	st, _ := s.Status()
	if st.Code != 500 || len(st.Errors) != 1 || st.Errors[0].Message != "the configured signing key does not exist" {
		t.Fatalf("Status() = %+v", st)
	}
}
