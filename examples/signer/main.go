// Command signer is a backend plugin for osohost: it signs the content of
// every document the OSO posts with an Ed25519 key that the host keeps (the
// key never enters the plugin), answers the documents with the signature
// in their metadata, and keeps them in the host's durable state until the
// OSO collects them with GET documents. It is the reference plugin of the
// signing-path benchmark.
//
// Build it as a WASI reactor:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -o build/guests/signer.wasm ./examples/signer
package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/osohost/osohost/abi"
	oso "github.com/osohost/osohost/guest-sdk/go"
)

// keyID names the key to sign with. When empty, the plugin signs with the
// first ED25519 key the host lists (ids are sorted, so every instance picks
// the same one), and generates one when there is none. Set it at build
// time:
//
//	go build -ldflags '-X main.keyID=<uuid>' …
var keyID string

// Signed documents wait in state under signedPrefix, then the time of the
// request (16 hex digits of Unix nanoseconds), 16 random hex digits and
// the document's place in its request (6 digits): keys sort in the order
// the documents were signed (as far as the host's clock goes), and
// concurrent requests on several instances never write the same key, so
// they never conflict. A value is the signed document as a one-document
// compact DocumentList.
const signedPrefix = "signed/"

// maxBatchBytes bounds one to_oso answer (compact encoding); what does
// not fit waits for the next GET.
const maxBatchBytes = 4 << 20

// signer is the plugin. It keeps nothing between calls but reusable
// buffers: the key is looked up on the host at every call, so that every
// instance, and every restart, signs with the same key.
type signer struct {
	reqs  []oso.SignRequest
	meta  []byte
	val   []byte
	extra []byte
}

// batchPrefix returns the key prefix of one request's documents.
func batchPrefix() string {
	var r [8]byte
	rand.Read(r[:])
	return fmt.Sprintf("%s%016x%x/", signedPrefix, uint64(time.Now().UnixNano()), r)
}

// ToISV signs every document with one sign_many call, keeps the signed
// documents in state for ToOSO, and answers them as a DocumentList whose
// metadata is
//
//	{"key_id": "<id>", "signature": "<lowercase hex>", "algorithm": "ED25519"}
//
// If any signature or state write fails, the whole request fails (and the
// host keeps none of it): 503 when the signing backend or the state is
// unavailable or full (the OSO may retry), a generic 500 otherwise. When
// the host runs the call without state (outside a request), the documents
// are answered and not kept.
func (s *signer) ToISV(in *oso.Documents, out *oso.Reply) error {
	l := out.Documents()
	if in.Len() == 0 {
		return nil
	}
	id, err := signingKey()
	if err != nil {
		return failure(fmt.Errorf("signer: find the signing key: %w", err))
	}
	s.reqs = s.reqs[:0]
	for d := range in.All() {
		s.reqs = append(s.reqs, oso.SignRequest{KeyID: id, Data: d.ContentBytes()})
	}
	res, err := oso.SignMany(s.reqs)
	clear(s.reqs) // do not keep views of this call's input
	if err != nil {
		return failure(fmt.Errorf("signer: sign %d documents with key %s: %w", in.Len(), id, err))
	}
	prefix := batchPrefix()
	keep := true
	i := 0
	for d := range in.All() {
		r := res[i]
		i++
		if r.Err != nil {
			return failure(fmt.Errorf("signer: sign document %d with key %s: %w", i, id, r.Err))
		}
		m := append(s.meta[:0], `{"key_id": `...)
		m = oso.AppendJSONString(m, id)
		m = append(m, `, "signature": "`...)
		m = hex.AppendEncode(m, r.Signature)
		m = append(m, `", "algorithm": "ED25519"}`...)
		s.meta = m
		l.AppendWithMetadata(d.ID, d.Content, m)

		if !keep {
			continue
		}
		v := abi.AppendDocumentListHeader(s.val[:0], 1)
		v = abi.AppendDocument(v, d.ID, d.Content, string(m))
		s.val = v
		k := strconv.Itoa(i)
		if err := oso.KVPut(prefix+"000000"[len(k):]+k, v); err != nil {
			if !errors.Is(err, oso.ErrNotAllowed) {
				return stateFailure(err)
			}
			// The host runs this call without state (outside a request,
			// as `osohost call` does): answer, keep nothing.
			oso.Log.Warn("signer: no state in this call: the signed documents are answered but not kept for collection")
			keep = false
		}
	}
	return nil
}

// ToOSO hands over the signed documents, oldest first, up to
// maxBatchBytes per call, and deletes them in the same transaction: they
// leave the state only when the host commits this call, before it sends
// the answer.
func (s *signer) ToOSO(out *oso.DocumentList) error {
	n, size := 0, 0
	var failed error
	err := oso.KVList(signedPrefix, func(k string) bool {
		v, ok, err := oso.KVGet(k)
		if err != nil || !ok {
			failed = err
			return false
		}
		docs, err := oso.NewDocuments(v)
		if err != nil || docs.Len() != 1 {
			failed = errors.New("signer: malformed signed document " + k)
			return false
		}
		if n > 0 && size+len(v)-4 > maxBatchBytes {
			return false
		}
		for d := range docs.All() {
			out.Add(d)
		}
		if _, err := oso.KVDelete(k); err != nil {
			failed = err
			return false
		}
		n++
		size += len(v) - 4
		return true
	})
	if err == nil {
		err = failed
	}
	if errors.Is(err, oso.ErrNotAllowed) {
		return nil // no state in this call: nothing kept, nothing to collect
	}
	return stateFailure(err)
}

// Status answers 200 OK with the number of ED25519 keys, {"keys": N}, or
// 500 with an error item when the signing backend cannot be reached or
// the configured key is missing, as the framework's health_check did.
func (s *signer) Status() (oso.Status, error) {
	ids, err := oso.ListKeys(oso.Ed25519)
	if err == nil && keyID != "" {
		_, err = oso.PublicKey(keyID)
	}
	if err != nil {
		oso.Log.Errorf("signer: status: %v", err)
		msg := "signing backend unavailable"
		switch {
		case errors.Is(err, oso.ErrNotFound):
			msg = "the configured signing key does not exist"
		case errors.Is(err, oso.ErrNotAllowed):
			msg = "signing with ED25519 keys is not allowed by the host"
		}
		return oso.Status{
			Code:   500,
			Status: "Internal Server Error",
			Errors: []oso.StatusError{{Code: "1", Message: msg}},
		}, nil
	}
	o := oso.NewJSONObject(s.extra[:0])
	o.Int("keys", int64(len(ids)))
	s.extra = o.End()
	st := oso.OK()
	st.Extra = s.extra
	return st, nil
}

// signingKey returns the id of the key to sign with: keyID, else the first
// ED25519 key, generated if there is none. Two instances that find no key
// at the same moment may both generate one; from then on both use the
// first of the two, and each signature names its key.
func signingKey() (string, error) {
	if keyID != "" {
		return keyID, nil
	}
	ids, err := oso.ListKeys(oso.Ed25519)
	if err != nil {
		return "", err
	}
	if len(ids) > 0 {
		return ids[0], nil
	}
	k, err := oso.GenerateKey(oso.Ed25519)
	if err != nil {
		return "", err
	}
	oso.Log.Info("signer: generated ED25519 key " + k.ID)
	return k.ID, nil
}

// failure turns a signing error into the request's answer: 503 when the
// backend is unavailable, else a generic 500 (err is logged by the SDK,
// never sent to the client).
func failure(err error) error {
	if errors.Is(err, oso.ErrUnavailable) {
		oso.Log.Warn(err.Error())
		return oso.Error{Code: 503, Message: "signing backend unavailable, retry later"}
	}
	return err
}

// stateFailure turns a state error into the request's answer: 503 when
// too many signed documents wait for collection or the host's storage
// failed (the OSO may retry), a generic 500 otherwise.
func stateFailure(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, oso.ErrLimited):
		oso.Log.Warn("signer: " + err.Error())
		return oso.Error{Code: 503, Message: "too many signed documents waiting for collection, retry later"}
	case errors.Is(err, oso.ErrUnavailable):
		oso.Log.Warn("signer: " + err.Error())
		return oso.Error{Code: 503, Message: "storage unavailable, retry later"}
	}
	return err
}

func init() {
	oso.Register(&signer{}, oso.Stateless())
}

// main is never called: a -buildmode=c-shared module only runs package
// initialisers (see init above) before the host calls its exports.
func main() {}
