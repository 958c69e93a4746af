package abi_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/osohost/osohost/abi"
)

func TestDocumentReader_RoundTrip(t *testing.T) {
	docs := [][3]string{{"a", "content", ""}, {"", "", "m"}, {"é", "x\x00y", `{"k": 1}`}}
	b := abi.AppendDocumentListHeader(nil, len(docs))
	for _, d := range docs {
		b = abi.AppendDocument(b, d[0], d[1], d[2])
	}
	r, err := abi.NewDocumentReader(b)
	if err != nil || r.Len() != len(docs) {
		t.Fatalf("reader: %v, %d", err, r.Len())
	}
	for i := 0; ; i++ {
		d, ok := r.Next()
		if !ok {
			if i != len(docs) {
				t.Fatalf("stopped after %d documents", i)
			}
			break
		}
		if string(d.ID) != docs[i][0] || string(d.Content) != docs[i][1] || string(d.Metadata) != docs[i][2] {
			t.Fatalf("document %d = %q %q %q", i, d.ID, d.Content, d.Metadata)
		}
	}
	if r.Err() != nil {
		t.Fatal(r.Err())
	}
}

func TestDocumentReader_Errors(t *testing.T) {
	good := abi.AppendDocument(abi.AppendDocumentListHeader(nil, 1), "id", "c", "m")
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"short header", []byte{1, 0}},
		{"count larger than the bytes", []byte{0xff, 0xff, 0xff, 0x0f}},
		{"truncated document", good[:len(good)-1]},
		{"trailing bytes", append(append([]byte{}, good...), 0)},
		{"empty list with trailing bytes", []byte{0, 0, 0, 0, 1}},
		{"string length past the end", []byte{1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := abi.NewDocumentReader(tt.b)
			if err == nil {
				for {
					if _, ok := r.Next(); !ok {
						break
					}
				}
				err = r.Err()
			}
			if !errors.Is(err, abi.ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
		})
	}
}

func TestStatus_RoundTrip(t *testing.T) {
	errs := []abi.StatusError{{Code: "1", Message: "GREP11 server does not support ECDSA"}}
	b := abi.AppendStatus(nil, 500, "Internal Server Error", errs, `{"queued": 3}`)
	v, err := abi.DecodeStatus(b)
	if err != nil {
		t.Fatal(err)
	}
	if v.Code != 500 || string(v.Status) != "Internal Server Error" || len(v.Errors) != 1 ||
		string(v.Errors[0].Message) != errs[0].Message || string(v.Extra) != `{"queued": 3}` {
		t.Fatalf("status = %+v", v)
	}
	for i := range b {
		if _, err := abi.DecodeStatus(b[:i]); !errors.Is(err, abi.ErrMalformed) {
			t.Fatalf("truncated at %d: err = %v", i, err)
		}
	}
	if _, err := abi.DecodeStatus(append(b, 0)); !errors.Is(err, abi.ErrMalformed) {
		t.Fatal("trailing byte accepted")
	}
}

// FuzzDocumentReader checks that whatever the reader accepts re-encodes to
// the same bytes, and that it never reads outside its input.
func FuzzDocumentReader(f *testing.F) {
	f.Add(abi.AppendDocument(abi.AppendDocumentListHeader(nil, 1), "id", "c", "m"))
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{2, 0, 0, 0, 1, 0, 0, 0, 'a'})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := abi.NewDocumentReader(b)
		if err != nil {
			return
		}
		out := abi.AppendDocumentListHeader(nil, r.Len())
		for {
			d, ok := r.Next()
			if !ok {
				break
			}
			out = abi.AppendDocument(out, string(d.ID), string(d.Content), string(d.Metadata))
		}
		if r.Err() != nil {
			return
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("accepted %x but re-encodes to %x", b, out)
		}
	})
}

func FuzzDecodeStatus(f *testing.F) {
	f.Add(abi.AppendStatus(nil, 200, "OK", nil, ""))
	f.Add(abi.AppendStatus(nil, 500, "x", []abi.StatusError{{Code: "1", Message: "m"}}, "{}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := abi.DecodeStatus(b)
		if err != nil {
			return
		}
		errs := make([]abi.StatusError, len(v.Errors))
		for i, e := range v.Errors {
			errs[i] = abi.StatusError{Code: string(e.Code), Message: string(e.Message)}
		}
		if out := abi.AppendStatus(nil, int(v.Code), string(v.Status), errs, string(v.Extra)); !bytes.Equal(out, b) {
			t.Fatalf("accepted %x but re-encodes to %x", b, out)
		}
	})
}
