package abi

import (
	"encoding/binary"
	"errors"
)

// The compact encoding carries documents and statuses across the boundary
// without JSON: every integer is a little-endian u32 and every string is a
// u32 byte length followed by the bytes (UTF-8, no terminator).
//
//	DocumentList    = u32 n, n × Document
//	Document        = str id, str content, str metadata
//	ComponentStatus = u32 status_code, str status, u32 n, n × Error, str extra
//	Error           = str code, str message
//
// extra is empty or the text of a JSON object whose members the host writes
// after status_code, status and errors.
//
// Readers return views into the buffer they were given: no copies, no
// allocation. A view is valid as long as the buffer is; in a guest that is
// until the export call returns.

// ErrMalformed reports compact-encoded bytes that are truncated, carry
// trailing bytes, or declare more items than they can hold.
var ErrMalformed = errors.New("abi: malformed compact encoding")

// AppendU32 appends v in little-endian order.
func AppendU32(b []byte, v uint32) []byte {
	return binary.LittleEndian.AppendUint32(b, v)
}

// AppendString appends s as a length-prefixed string.
func AppendString(b []byte, s string) []byte {
	b = AppendU32(b, uint32(len(s)))
	return append(b, s...)
}

// AppendBytes appends p as a length-prefixed string.
func AppendBytes(b []byte, p []byte) []byte {
	b = AppendU32(b, uint32(len(p)))
	return append(b, p...)
}

// AppendDocumentListHeader appends the header of a DocumentList of n
// documents; append exactly n documents after it with [AppendDocument].
func AppendDocumentListHeader(b []byte, n int) []byte {
	return AppendU32(b, uint32(n))
}

// AppendDocument appends one document of a DocumentList.
func AppendDocument(b []byte, id, content, metadata string) []byte {
	b = AppendString(b, id)
	b = AppendString(b, content)
	return AppendString(b, metadata)
}

// DocumentView is one document read from a compact DocumentList. Its slices
// alias the buffer given to [NewDocumentReader].
type DocumentView struct {
	ID, Content, Metadata []byte
}

// DocumentReader walks a compact DocumentList. The zero value is an empty
// list. It is not safe for concurrent use.
type DocumentReader struct {
	b    []byte
	left uint32
	err  error
}

// NewDocumentReader reads the header of a compact DocumentList. It fails
// with [ErrMalformed] when the header is missing or declares more documents
// than the bytes can hold.
func NewDocumentReader(b []byte) (DocumentReader, error) {
	if len(b) < 4 {
		return DocumentReader{}, ErrMalformed
	}
	n := binary.LittleEndian.Uint32(b)
	if uint64(n)*12 > uint64(len(b)-4) { // each document takes at least three lengths
		return DocumentReader{}, ErrMalformed
	}
	if n == 0 && len(b) != 4 { // an empty list has no bytes after its header
		return DocumentReader{}, ErrMalformed
	}
	return DocumentReader{b: b[4:], left: n}, nil
}

// Len returns how many documents are left to read.
func (r *DocumentReader) Len() int { return int(r.left) }

// Next returns the next document, or false at the end of the list or at the
// first malformed document ([DocumentReader.Err] tells which).
func (r *DocumentReader) Next() (DocumentView, bool) {
	if r.left == 0 || r.err != nil {
		return DocumentView{}, false
	}
	var d DocumentView
	var ok bool
	if d.ID, r.b, ok = cut(r.b); !ok {
		return r.fail()
	}
	if d.Content, r.b, ok = cut(r.b); !ok {
		return r.fail()
	}
	if d.Metadata, r.b, ok = cut(r.b); !ok {
		return r.fail()
	}
	r.left--
	if r.left == 0 && len(r.b) != 0 {
		r.err = ErrMalformed
	}
	return d, true
}

// Err returns [ErrMalformed] if the list was malformed, else nil.
func (r *DocumentReader) Err() error { return r.err }

func (r *DocumentReader) fail() (DocumentView, bool) {
	r.err = ErrMalformed
	r.left = 0
	return DocumentView{}, false
}

// StatusError is one V1_3 Error item of a ComponentStatus.
type StatusError struct {
	Code, Message string
}

// AppendStatus appends a compact ComponentStatus. extra is "" or a JSON
// object text.
func AppendStatus(b []byte, code int, status string, errs []StatusError, extra string) []byte {
	b = AppendU32(b, uint32(int32(code)))
	b = AppendString(b, status)
	b = AppendU32(b, uint32(len(errs)))
	for _, e := range errs {
		b = AppendString(b, e.Code)
		b = AppendString(b, e.Message)
	}
	return AppendString(b, extra)
}

// StatusView is a ComponentStatus read from the compact encoding; its byte
// slices alias the decoded buffer.
type StatusView struct {
	Code   int32
	Status []byte
	Errors []ErrorView
	Extra  []byte
}

// ErrorView is one Error item of a [StatusView].
type ErrorView struct {
	Code, Message []byte
}

// DecodeStatus reads a compact ComponentStatus. It fails with
// [ErrMalformed] on truncated input, trailing bytes or more than
// [MaxStatusErrors] errors.
func DecodeStatus(b []byte) (StatusView, error) {
	var s StatusView
	if len(b) < 4 {
		return s, ErrMalformed
	}
	s.Code = int32(binary.LittleEndian.Uint32(b))
	b = b[4:]
	var ok bool
	if s.Status, b, ok = cut(b); !ok {
		return s, ErrMalformed
	}
	if len(b) < 4 {
		return s, ErrMalformed
	}
	n := binary.LittleEndian.Uint32(b)
	b = b[4:]
	if n > MaxStatusErrors || uint64(n)*8 > uint64(len(b)) {
		return s, ErrMalformed
	}
	if n > 0 {
		s.Errors = make([]ErrorView, n)
	}
	for i := range s.Errors {
		if s.Errors[i].Code, b, ok = cut(b); !ok {
			return s, ErrMalformed
		}
		if s.Errors[i].Message, b, ok = cut(b); !ok {
			return s, ErrMalformed
		}
	}
	if s.Extra, b, ok = cut(b); !ok || len(b) != 0 {
		return s, ErrMalformed
	}
	return s, nil
}

// cut splits one length-prefixed string off b.
func cut(b []byte) (s, rest []byte, ok bool) {
	if len(b) < 4 {
		return nil, b, false
	}
	n := binary.LittleEndian.Uint32(b)
	if uint64(n) > uint64(len(b)-4) {
		return nil, b, false
	}
	return b[4 : 4+n : 4+n], b[4+n:], true
}

// Signing encodings (ABI v1.1), in the same primitives:
//
//	KeyInfo        = str key_id, str public_key           key_generate
//	KeyList        = u32 n, n × str key_id                key_list
//	PublicKey      = u32 type, str public_key             key_public
//	SignManyInput  = u32 n, n × SignRequest               sign_many input
//	SignRequest    = str key_id, str data
//	SignManyOutput = u32 n, n × SignResult                sign_many output
//	SignResult     = i32 status, str signature
//
// public_key is the SubjectPublicKeyInfo DER; type a [KeyType]; status a
// [Status], 0 with a signature or negative with an empty one.

// Credential encoding (ABI v1.2):
//
//	Credential = str token, str token_type, u64 expires_at_ms
//
// expires_at_ms is Unix milliseconds, little-endian; 0 means no expiry.
// kv_list writes a KeyList of state keys.

// AppendU64 appends v little-endian.
func AppendU64(b []byte, v uint64) []byte {
	return binary.LittleEndian.AppendUint64(b, v)
}

// AppendCredential appends the Credential encoding.
func AppendCredential(b []byte, token, tokenType string, expiresAtMS uint64) []byte {
	b = AppendString(b, token)
	b = AppendString(b, tokenType)
	return AppendU64(b, expiresAtMS)
}

// DecodeCredential reads a Credential; the slices alias b. It fails with
// [ErrMalformed] on truncated input or trailing bytes.
func DecodeCredential(b []byte) (token, tokenType []byte, expiresAtMS uint64, err error) {
	var ok bool
	if token, b, ok = cut(b); !ok {
		return nil, nil, 0, ErrMalformed
	}
	if tokenType, b, ok = cut(b); !ok || len(b) != 8 {
		return nil, nil, 0, ErrMalformed
	}
	return token, tokenType, binary.LittleEndian.Uint64(b), nil
}

// AppendKeyList appends a KeyList of the given keys.
func AppendKeyList(b []byte, keys ...string) []byte {
	b = AppendU32(b, uint32(len(keys)))
	for _, k := range keys {
		b = AppendString(b, k)
	}
	return b
}

// AppendKeyInfo appends the KeyInfo encoding of a key.
func AppendKeyInfo(b []byte, id string, publicKey []byte) []byte {
	b = AppendString(b, id)
	return AppendBytes(b, publicKey)
}

// DecodeKeyInfo reads a KeyInfo; the slices alias b. It fails with
// [ErrMalformed] on truncated input or trailing bytes.
func DecodeKeyInfo(b []byte) (id, publicKey []byte, err error) {
	var ok bool
	if id, b, ok = cut(b); !ok {
		return nil, nil, ErrMalformed
	}
	if publicKey, b, ok = cut(b); !ok || len(b) != 0 {
		return nil, nil, ErrMalformed
	}
	return id, publicKey, nil
}

// AppendPublicKey appends the PublicKey encoding of a key.
func AppendPublicKey(b []byte, t KeyType, publicKey []byte) []byte {
	b = AppendU32(b, uint32(t))
	return AppendBytes(b, publicKey)
}

// DecodePublicKey reads a PublicKey; the slice aliases b. It fails with
// [ErrMalformed] on truncated input or trailing bytes.
func DecodePublicKey(b []byte) (KeyType, []byte, error) {
	if len(b) < 4 {
		return 0, nil, ErrMalformed
	}
	t := KeyType(binary.LittleEndian.Uint32(b))
	pub, rest, ok := cut(b[4:])
	if !ok || len(rest) != 0 {
		return 0, nil, ErrMalformed
	}
	return t, pub, nil
}

// KeyListReader walks a compact KeyList. The zero value is an empty list.
type KeyListReader struct {
	b    []byte
	left uint32
	err  error
}

// NewKeyListReader reads the header of a KeyList; it fails with
// [ErrMalformed] when the header is missing or declares more ids than the
// bytes can hold.
func NewKeyListReader(b []byte) (KeyListReader, error) {
	n, rest, err := listHeader(b, 4)
	if err != nil {
		return KeyListReader{}, err
	}
	return KeyListReader{b: rest, left: n}, nil
}

// Len returns how many ids are left to read.
func (r *KeyListReader) Len() int { return int(r.left) }

// Next returns the next id, a view into the list, or false at the end or at
// the first malformed item ([KeyListReader.Err] tells which).
func (r *KeyListReader) Next() ([]byte, bool) {
	if r.left == 0 || r.err != nil {
		return nil, false
	}
	id, rest, ok := cut(r.b)
	if !ok {
		r.err, r.left = ErrMalformed, 0
		return nil, false
	}
	r.b = rest
	r.left--
	if r.left == 0 && len(r.b) != 0 {
		r.err = ErrMalformed
	}
	return id, true
}

// Err returns [ErrMalformed] if the list was malformed, else nil.
func (r *KeyListReader) Err() error { return r.err }

// AppendSignRequest appends one request of a SignManyInput, after a u32
// count written with [AppendU32].
func AppendSignRequest(b []byte, keyID string, data []byte) []byte {
	b = AppendString(b, keyID)
	return AppendBytes(b, data)
}

// SignRequestReader walks a SignManyInput. It is not safe for concurrent
// use; the zero value is an empty batch.
type SignRequestReader struct {
	b    []byte
	left uint32
	err  error
}

// NewSignRequestReader reads the header of a SignManyInput. It fails with
// [ErrMalformed] when the header is missing or declares more requests than
// the bytes can hold (each takes at least 8 bytes). The count is not
// compared with [MaxSignBatch]: see [SignRequestReader.Len].
func NewSignRequestReader(b []byte) (SignRequestReader, error) {
	n, rest, err := listHeader(b, 8)
	if err != nil {
		return SignRequestReader{}, err
	}
	return SignRequestReader{b: rest, left: n}, nil
}

// Len returns how many requests are left to read.
func (r *SignRequestReader) Len() int { return int(r.left) }

// Next returns the next request as views into the input, or false at the
// end or at the first malformed request ([SignRequestReader.Err]).
func (r *SignRequestReader) Next() (keyID, data []byte, ok bool) {
	if r.left == 0 || r.err != nil {
		return nil, nil, false
	}
	rest := r.b
	if keyID, rest, ok = cut(rest); ok {
		data, rest, ok = cut(rest)
	}
	if !ok {
		r.err, r.left = ErrMalformed, 0
		return nil, nil, false
	}
	r.b = rest
	r.left--
	if r.left == 0 && len(r.b) != 0 {
		r.err = ErrMalformed
	}
	return keyID, data, true
}

// Err returns [ErrMalformed] if the input was malformed, else nil.
func (r *SignRequestReader) Err() error { return r.err }

// AppendSignResult appends one result of a SignManyOutput, after a u32
// count written with [AppendU32].
func AppendSignResult(b []byte, st Status, signature []byte) []byte {
	b = AppendU32(b, uint32(st))
	return AppendBytes(b, signature)
}

// SignResultReader walks a SignManyOutput. The zero value is an empty
// batch.
type SignResultReader struct {
	b    []byte
	left uint32
	err  error
}

// NewSignResultReader reads the header of a SignManyOutput; it fails with
// [ErrMalformed] like [NewSignRequestReader].
func NewSignResultReader(b []byte) (SignResultReader, error) {
	n, rest, err := listHeader(b, 8)
	if err != nil {
		return SignResultReader{}, err
	}
	return SignResultReader{b: rest, left: n}, nil
}

// Len returns how many results are left to read.
func (r *SignResultReader) Len() int { return int(r.left) }

// Next returns the next result (the signature a view into the output), or
// false at the end or at the first malformed result
// ([SignResultReader.Err]).
func (r *SignResultReader) Next() (st Status, signature []byte, ok bool) {
	if r.left == 0 || r.err != nil {
		return 0, nil, false
	}
	var rest []byte
	if len(r.b) >= 4 {
		st = Status(int32(binary.LittleEndian.Uint32(r.b)))
		signature, rest, ok = cut(r.b[4:])
	}
	if !ok {
		r.err, r.left = ErrMalformed, 0
		return 0, nil, false
	}
	r.b = rest
	r.left--
	if r.left == 0 && len(r.b) != 0 {
		r.err = ErrMalformed
	}
	return st, signature, true
}

// Err returns [ErrMalformed] if the output was malformed, else nil.
func (r *SignResultReader) Err() error { return r.err }

// listHeader reads a u32 count of items of at least min bytes each.
func listHeader(b []byte, minItem uint64) (uint32, []byte, error) {
	if len(b) < 4 {
		return 0, nil, ErrMalformed
	}
	n := binary.LittleEndian.Uint32(b)
	b = b[4:]
	if uint64(n)*minItem > uint64(len(b)) || n == 0 && len(b) != 0 {
		return 0, nil, ErrMalformed
	}
	return n, b, nil
}
