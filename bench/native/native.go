// Package native is the floor of the signing-path benchmark: what the
// same work costs in plain Go, with no plugin, no transport and no
// durability. SignLoop is the signature alone; Request is a whole
// request as a native Go service would handle it: decode and validate the
// DocumentList with encoding/json, sign every content with Ed25519, write
// the signer's metadata, encode the answer.
package native

import (
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/osohost/osohost/bench/loadgen"
)

// SignLoop signs msg with priv on goroutines goroutines for d and returns
// the number of signatures and the CPU time this process used meanwhile.
// Run it while nothing else in the process is busy.
func SignLoop(priv ed25519.PrivateKey, msg []byte, goroutines int, d time.Duration) (int64, time.Duration) {
	var n atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	cpu0 := loadgen.SelfCPU()
	for range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := int64(0)
			for !stop.Load() {
				ed25519.Sign(priv, msg)
				local++
			}
			n.Add(local)
		}()
	}
	time.Sleep(d)
	stop.Store(true)
	wg.Wait()
	return n.Load(), loadgen.SelfCPU() - cpu0
}

type inDocument struct {
	ID       *string         `json:"id"`
	Content  *string         `json:"content"`
	Metadata json.RawMessage `json:"metadata,omitempty"`
}

type inList struct {
	Documents []inDocument `json:"documents"`
	Count     *float64     `json:"count"`
}

type outDocument struct {
	ID       string `json:"id"`
	Content  string `json:"content"`
	Metadata string `json:"metadata"`
}

type outList struct {
	Documents []outDocument `json:"documents"`
	Count     int           `json:"count"`
}

var errInvalid = errors.New("native: invalid DocumentList")

// Request handles one POST body as a native Go service would: decode and
// validate the DocumentList (count required and integral, id and content
// required strings, metadata a string, an object or null), sign each
// content with priv, and encode the documents with the signer's metadata
// {"key_id": …, "signature": …, "algorithm": "ED25519"}.
func Request(body []byte, keyID string, priv ed25519.PrivateKey) ([]byte, error) {
	var l inList
	if err := json.Unmarshal(body, &l); err != nil {
		return nil, fmt.Errorf("%w: %v", errInvalid, err)
	}
	if l.Count == nil || *l.Count != float64(int64(*l.Count)) {
		return nil, errInvalid
	}
	out := outList{Documents: make([]outDocument, len(l.Documents)), Count: len(l.Documents)}
	var meta []byte
	for i, d := range l.Documents {
		if d.ID == nil || d.Content == nil {
			return nil, errInvalid
		}
		if m := d.Metadata; len(m) > 0 && m[0] != '"' && m[0] != '{' && string(m) != "null" {
			return nil, errInvalid
		}
		sig := ed25519.Sign(priv, []byte(*d.Content))
		meta = append(meta[:0], `{"key_id": "`...)
		meta = append(meta, keyID...)
		meta = append(meta, `", "signature": "`...)
		meta = hex.AppendEncode(meta, sig)
		meta = append(meta, `", "algorithm": "ED25519"}`...)
		out.Documents[i] = outDocument{ID: *d.ID, Content: *d.Content, Metadata: string(meta)}
	}
	return json.Marshal(out)
}
