package hostcall_test

import (
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/osohost/osohost/abi"
	"github.com/osohost/osohost/host/hostcall"
	"github.com/osohost/osohost/host/plugin"
	"github.com/osohost/osohost/host/signing"
)

// metadataRE is the exact metadata text examples/signer writes.
var metadataRE = regexp.MustCompile(`^\{"key_id": "([0-9a-f-]{36})", "signature": "([0-9a-f]{128})", "algorithm": "ED25519"\}$`)

func documents(n int) ([]byte, [][2]string) {
	docs := make([][2]string, n)
	b := abi.AppendDocumentListHeader(nil, n)
	for i := range docs {
		docs[i] = [2]string{fmt.Sprintf("doc-%d", i), fmt.Sprintf("transaction %d: %s", i, strings.Repeat("x", 100))}
		b = abi.AppendDocument(b, docs[i][0], docs[i][1], `{"ignored": true}`)
	}
	return b, docs
}

// TestExampleSigner runs examples/signer against the software backend.
func TestExampleSigner(t *testing.T) {
	s := newSigner(t)
	p := newPool(t, "signer", s, hostcall.Policy{}, nil)
	ctx := t.Context()

	if !p.Stateless() {
		t.Error("the signer does not declare itself stateless")
	}
	// No documents: nothing signed, no key generated.
	res, err := p.Call(ctx, abi.ExportToISV, abi.AppendDocumentListHeader(nil, 0))
	if err != nil || res.Kind != abi.OutputDocumentList || string(res.Data) != "\x00\x00\x00\x00" {
		t.Fatalf("empty to_isv: %+v, %v", res, err)
	}
	if ids, _ := s.ListKeys(ctx, signing.Ed25519); len(ids) != 0 {
		t.Fatalf("keys after an empty batch: %q", ids)
	}

	var keyID string
	for round := range 2 { // the second round reuses the key of the first
		in, docs := documents(5)
		res, err := p.Call(ctx, abi.ExportToISV, in)
		if err != nil || res.Kind != abi.OutputDocumentList {
			t.Fatalf("to_isv: kind %d, %v", res.Kind, err)
		}
		r, err := abi.NewDocumentReader(res.Data)
		if err != nil || r.Len() != len(docs) {
			t.Fatalf("answer: %v, %d documents", err, r.Len())
		}
		for i := 0; ; i++ {
			d, ok := r.Next()
			if !ok {
				break
			}
			if string(d.ID) != docs[i][0] || string(d.Content) != docs[i][1] {
				t.Fatalf("document %d = %q %q", i, d.ID, d.Content)
			}
			m := metadataRE.FindStringSubmatch(string(d.Metadata))
			if m == nil {
				t.Fatalf("metadata %s", d.Metadata)
			}
			if keyID == "" {
				keyID = m[1]
			}
			if m[1] != keyID {
				t.Fatalf("round %d signed with %s, then %s", round, keyID, m[1])
			}
			k, err := s.PublicKey(ctx, keyID)
			if err != nil {
				t.Fatal(err)
			}
			sig, _ := hex.DecodeString(m[2])
			verifyEd25519(t, k.PublicKey, d.Content, sig)
		}
		if err := r.Err(); err != nil {
			t.Fatal(err)
		}
	}
	if ids, _ := s.ListKeys(ctx, signing.Ed25519); !slices.Equal(ids, []string{keyID}) {
		t.Fatalf("keys %q, want only %s", ids, keyID)
	}

	res, err = p.Call(ctx, abi.ExportStatus, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := abi.DecodeStatus(res.Data)
	if err != nil || st.Code != 200 || string(st.Status) != "OK" || string(st.Extra) != `{"keys":1}` {
		t.Fatalf("status = %+v (extra %s), %v", st, st.Extra, err)
	}
	res, err = p.Call(ctx, abi.ExportToOSO, nil)
	if err != nil || res.Kind != abi.OutputDocumentList || string(res.Data) != "\x00\x00\x00\x00" {
		t.Fatalf("to_oso: %+v, %v", res, err)
	}
}

// TestExampleSigner_FirstKey: with keys present, the signer uses the first
// ED25519 id in sorted order and generates none.
func TestExampleSigner_FirstKey(t *testing.T) {
	s := newSigner(t)
	for range 3 {
		if _, err := s.GenerateKey(t.Context(), signing.Ed25519); err != nil {
			t.Fatal(err)
		}
	}
	ids, _ := s.ListKeys(t.Context(), signing.Ed25519)
	p := newPool(t, "signer", s, hostcall.Policy{}, nil)
	in, _ := documents(1)
	res, err := p.Call(t.Context(), abi.ExportToISV, in)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := abi.NewDocumentReader(res.Data)
	d, _ := r.Next()
	m := metadataRE.FindStringSubmatch(string(d.Metadata))
	if m == nil || m[1] != ids[0] {
		t.Fatalf("metadata %s, want key %s", d.Metadata, ids[0])
	}
	if after, _ := s.ListKeys(t.Context(), signing.Ed25519); len(after) != 3 {
		t.Fatalf("%d keys after signing, want 3", len(after))
	}
}

// TestExampleSigner_Errors: a backend failure fails the whole batch, with
// 503 when the backend is unavailable; the status reports it.
func TestExampleSigner_Errors(t *testing.T) {
	s := &countingSigner{Signer: newSigner(t), err: fmt.Errorf("hsm down: %w", signing.ErrUnavailable)}
	p := newPool(t, "signer", s, hostcall.Policy{}, nil)
	in, _ := documents(3)
	_, err := p.Call(t.Context(), abi.ExportToISV, in)
	var ge *plugin.GuestError
	if !errors.As(err, &ge) || ge.Code != 503 {
		t.Fatalf("to_isv with the backend down: %v", err)
	}
	p = newPool(t, "signer", s, hostcall.Policy{AllowedTypes: []signing.KeyType{signing.Secp256k1}}, nil)
	res, err := p.Call(t.Context(), abi.ExportStatus, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := abi.DecodeStatus(res.Data)
	if st.Code != 500 || len(st.Errors) != 1 || !strings.Contains(string(st.Errors[0].Message), "not allowed") {
		t.Fatalf("status with ED25519 refused = %+v", st)
	}
}
