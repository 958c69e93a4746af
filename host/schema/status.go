package schema

import (
	"encoding/json"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/osohost/osohost/abi"
)

// Status is a V1_3 ComponentStatus, what a plugin's status export returns.
type Status struct {
	// Code is the status_code member, which the HTTP layer uses as the
	// response status; see [Status.HTTPStatus].
	Code int
	// Status is a human-readable description.
	Status string
	// Errors is nil when there are none; it is written as [].
	Errors []StatusError
	// Extra holds the members beyond status_code, status and errors, in
	// the order first seen, each name once. ComponentStatus allows and
	// keeps them; [AppendStatusJSON] writes them after the standard ones.
	Extra []ExtraField
}

// StatusError is one V1_3 Error item of a ComponentStatus.
type StatusError struct {
	Code, Message string
}

// ExtraField is one additional member of a ComponentStatus.
type ExtraField struct {
	// Key is the member name, decoded.
	Key string
	// Value is the member's JSON value, without insignificant whitespace.
	Value json.RawMessage
}

// HTTPStatus returns s.Code and whether it can be sent as an HTTP status
// (100 to 599). The framework passed any value through; a caller answers
// 500 when ok is false.
func (s Status) HTTPStatus() (code int, ok bool) {
	return s.Code, 100 <= s.Code && s.Code <= 599
}

// standard reports whether name is one of the members ComponentStatus
// defines.
func standard(name string) bool {
	return name == "status_code" || name == "status" || name == "errors"
}

// DecodeStatusJSON parses and validates a ComponentStatus a guest handed
// back as JSON text. "status_code" is required and must be a JSON number
// with an integer value that fits in 32 bits (200, 200.0); "status" is a
// required string; "errors" is an array (absent: empty; null: an error) of
// objects with required string members "code" and "message" (other members
// dropped), at most abi.MaxStatusErrors of them. Every other member is
// kept in [Status.Extra]. A repeated member name keeps the last value.
//
// The input must be strict JSON as for [DecodeDocumentList]. lim bounds
// the input length (MaxBodyBytes), the strings (MaxContentBytes) and the
// nesting (MaxDepth). Errors are a [*ValidationError] or a [*LimitError].
// The result owns its memory.
func DecodeStatusJSON(b []byte, lim Limits) (Status, error) {
	lim = lim.withDefaults()
	if len(b) > lim.MaxBodyBytes {
		return Status{}, &LimitError{Limit: lim.MaxBodyBytes, Unit: "bytes"}
	}
	d := statusDecoder{s: scanner{b: b, maxDepth: lim.MaxDepth, at: root}, lim: lim}
	return d.decode()
}

type statusDecoder struct {
	s          scanner
	lim        Limits
	st         Status
	code       int
	codeReason string
	status     int
	errsErr    error
	extra      extras
}

func (d *statusDecoder) decode() (Status, error) {
	s := &d.s
	if err := s.start(); err != nil {
		return Status{}, err
	}
	if s.peek() != '{' {
		if err := s.skip(); err != nil {
			return Status{}, err
		}
		if err := s.end(); err != nil {
			return Status{}, err
		}
		return Status{}, invalid(root, "must be a JSON object")
	}
	if err := s.enter(); err != nil {
		return Status{}, err
	}
	if !s.empty('}') {
		for {
			s.at = root
			key, err := s.key()
			if err != nil {
				return Status{}, err
			}
			if err := s.colon(); err != nil {
				return Status{}, err
			}
			switch string(key) {
			case "status_code":
				err = d.statusCode()
			case "status":
				s.at = path{top: "status", idx: -1}
				var v string
				v, d.status, err = d.str(d.lim.MaxContentBytes)
				if d.status == present {
					d.st.Status = v
				}
			case "errors":
				err = d.errors()
			default:
				err = d.extra.add(s, string(key))
			}
			if err != nil {
				return Status{}, err
			}
			s.at = root
			more, err := s.next('}')
			if err != nil {
				return Status{}, err
			}
			if !more {
				break
			}
		}
	}
	if err := s.end(); err != nil {
		return Status{}, err
	}
	switch {
	case d.code == absent:
		return Status{}, invalid(path{top: "status_code", idx: -1}, "is required")
	case d.code == wrongType:
		return Status{}, invalid(path{top: "status_code", idx: -1}, d.codeReason)
	case d.status == absent:
		return Status{}, invalid(path{top: "status", idx: -1}, "is required")
	case d.status == wrongType:
		return Status{}, invalid(path{top: "status", idx: -1}, "must be a string")
	case d.errsErr != nil:
		return Status{}, d.errsErr
	}
	d.st.Extra = d.extra.fields()
	return d.st, nil
}

func (d *statusDecoder) statusCode() error {
	s := &d.s
	s.at = path{top: "status_code", idx: -1}
	d.code, d.codeReason = wrongType, "must be an integer"
	if c := s.peek(); c != '-' && !isDigit(c) {
		return s.skip()
	}
	lit, isFloat, err := s.number()
	if err != nil {
		return err
	}
	var v float64
	if isFloat {
		v, _ = strconv.ParseFloat(string(lit), 64)
		if v != math.Trunc(v) {
			return nil
		}
	} else if n, err := strconv.ParseInt(string(lit), 10, 64); err == nil {
		v = float64(n)
	} else {
		v = math.Inf(1)
	}
	if v < math.MinInt32 || v > math.MaxInt32 {
		d.codeReason = "is out of range"
		return nil
	}
	d.code, d.st.Code = present, int(v)
	return nil
}

// str decodes a string value; state is present or wrongType.
func (d *statusDecoder) str(max int) (string, int, error) {
	s := &d.s
	if s.peek() != '"' {
		return "", wrongType, s.skip()
	}
	var err error
	if s.keybuf, err = s.str(s.keybuf[:0], strRaw); err != nil {
		return "", 0, err
	}
	if len(s.keybuf) > max {
		return "", 0, &LimitError{Field: s.at.String(), Limit: max, Unit: "bytes"}
	}
	return string(s.keybuf), present, nil
}

func (d *statusDecoder) errors() error {
	s := &d.s
	s.at = path{top: "errors", idx: -1}
	d.st.Errors, d.errsErr = nil, nil
	switch s.peek() {
	case '[':
	case 'n':
		if err := s.literal("null"); err != nil {
			return err
		}
		d.errsErr = invalid(s.at, "must be an array, not null")
		return nil
	default:
		if err := s.skip(); err != nil {
			return err
		}
		d.errsErr = invalid(s.at, "must be an array")
		return nil
	}
	if err := s.enter(); err != nil {
		return err
	}
	if s.empty(']') {
		d.st.Errors = nil
		return nil
	}
	fail := func(sub, reason string) {
		if d.errsErr == nil {
			p := s.at
			p.sub = sub
			d.errsErr = invalid(p, reason)
		}
	}
	for i := 0; ; i++ {
		if i >= abi.MaxStatusErrors {
			return &LimitError{Field: "errors", Limit: abi.MaxStatusErrors, Unit: "errors"}
		}
		s.at = path{top: "errors", idx: i}
		if err := d.errorItem(fail); err != nil {
			return err
		}
		more, err := s.next(']')
		if err != nil {
			return err
		}
		if !more {
			return nil
		}
	}
}

func (d *statusDecoder) errorItem(fail func(sub, reason string)) error {
	s := &d.s
	if s.peek() != '{' {
		if err := s.skip(); err != nil {
			return err
		}
		fail("", "must be an object")
		return nil
	}
	if err := s.enter(); err != nil {
		return err
	}
	var e StatusError
	var code, msg int
	if !s.empty('}') {
		for {
			key, err := s.key()
			if err != nil {
				return err
			}
			if err := s.colon(); err != nil {
				return err
			}
			switch string(key) {
			case "code":
				s.at.sub = "code"
				e.Code, code, err = d.str(d.lim.MaxContentBytes)
			case "message":
				s.at.sub = "message"
				e.Message, msg, err = d.str(d.lim.MaxContentBytes)
			default:
				err = s.skip()
			}
			if err != nil {
				return err
			}
			s.at.sub = ""
			more, err := s.next('}')
			if err != nil {
				return err
			}
			if !more {
				break
			}
		}
	}
	switch {
	case code == absent:
		fail("code", "is required")
	case code == wrongType:
		fail("code", "must be a string")
	case msg == absent:
		fail("message", "is required")
	case msg == wrongType:
		fail("message", "must be a string")
	}
	d.st.Errors = append(d.st.Errors, e)
	return nil
}

// extras collects additional members; a repeated name keeps its first
// position and its last value.
type extras struct {
	list  []ExtraField
	index map[string]int // built once the list is long
	buf   []byte
}

// add validates the value at s.i and records it under name.
func (x *extras) add(s *scanner, name string) error {
	start := s.i
	if err := s.skip(); err != nil {
		return err
	}
	a := len(x.buf)
	x.buf = appendCompactJSON(x.buf, s.b[start:s.i])
	v := json.RawMessage(x.buf[a:len(x.buf):len(x.buf)])
	if x.index == nil && len(x.list) >= indexFrom {
		x.index = make(map[string]int, 2*len(x.list))
		for i, f := range x.list {
			x.index[f.Key] = i
		}
	}
	if x.index != nil {
		if i, ok := x.index[name]; ok {
			x.list[i].Value = v
			return nil
		}
		x.index[name] = len(x.list)
	} else {
		for i := range x.list {
			if x.list[i].Key == name {
				x.list[i].Value = v
				return nil
			}
		}
	}
	x.list = append(x.list, ExtraField{Key: name, Value: v})
	return nil
}

// fields returns the members collected, or nil.
func (x *extras) fields() []ExtraField {
	if len(x.list) == 0 {
		return nil
	}
	return x.list
}

// appendCompactJSON appends valid JSON text v without the whitespace
// outside its strings.
func appendCompactJSON(dst, v []byte) []byte {
	inStr := false
	start := 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		if inStr {
			switch c {
			case '\\':
				i++
			case '"':
				inStr = false
			}
			continue
		}
		switch c {
		case '"':
			inStr = true
		case ' ', '\t', '\n', '\r':
			dst = append(dst, v[start:i]...)
			start = i + 1
		}
	}
	return append(dst, v[start:]...)
}

// StatusFromCompact validates a ComponentStatus a guest handed back in the
// compact encoding (read with abi.DecodeStatus) and returns a copy that
// owns its memory. The strings must be valid UTF-8; extra must be empty or
// the text of a JSON object (strict JSON, nesting bounded by
// [DefaultMaxDepth]) without the members status_code, status and errors.
// Errors are a [*ValidationError] (Field "status", "errors[i].code",
// "errors[i].message" or "extra") or a [*LimitError].
func StatusFromCompact(v abi.StatusView) (Status, error) {
	st := Status{Code: int(v.Code)}
	if !utf8.Valid(v.Status) {
		return Status{}, invalid(path{top: "status", idx: -1}, "invalid UTF-8")
	}
	st.Status = string(v.Status)
	if len(v.Errors) > abi.MaxStatusErrors {
		return Status{}, &LimitError{Field: "errors", Limit: abi.MaxStatusErrors, Unit: "errors"}
	}
	if len(v.Errors) > 0 {
		st.Errors = make([]StatusError, len(v.Errors))
		for i, e := range v.Errors {
			if !utf8.Valid(e.Code) {
				return Status{}, invalid(path{"errors", i, "code"}, "invalid UTF-8")
			}
			if !utf8.Valid(e.Message) {
				return Status{}, invalid(path{"errors", i, "message"}, "invalid UTF-8")
			}
			st.Errors[i] = StatusError{Code: string(e.Code), Message: string(e.Message)}
		}
	}
	if len(v.Extra) == 0 {
		return st, nil
	}
	at := path{top: "extra", idx: -1}
	s := scanner{b: v.Extra, maxDepth: DefaultMaxDepth, at: at}
	if err := s.start(); err != nil {
		return Status{}, err
	}
	if s.peek() != '{' {
		if err := s.skip(); err != nil {
			return Status{}, err
		}
		if err := s.end(); err != nil {
			return Status{}, err
		}
		return Status{}, invalid(at, "must be a JSON object")
	}
	if err := s.enter(); err != nil {
		return Status{}, err
	}
	var x extras
	if !s.empty('}') {
		for {
			key, err := s.key()
			if err != nil {
				return Status{}, err
			}
			name := string(key)
			if standard(name) {
				return Status{}, invalid(at, "must not contain the member "+strconv.Quote(name))
			}
			if err := s.colon(); err != nil {
				return Status{}, err
			}
			if err := x.add(&s, name); err != nil {
				return Status{}, err
			}
			more, err := s.next('}')
			if err != nil {
				return Status{}, err
			}
			if !more {
				break
			}
		}
	}
	if err := s.end(); err != nil {
		return Status{}, err
	}
	st.Extra = x.fields()
	return st, nil
}

// AppendStatusJSON appends s as a compact ComponentStatus JSON object,
// {"status_code":…,"status":…,"errors":[{"code":…,"message":…},…],…},
// with the extra members after errors in their order, and returns the
// extended buffer. Extra values are written as they are and must be valid
// JSON, and extra keys must be distinct and differ from the standard names
// (as [DecodeStatusJSON] and [StatusFromCompact] guarantee); an empty value
// is written as null.
func AppendStatusJSON(dst []byte, s Status) []byte {
	dst = append(dst, `{"status_code":`...)
	dst = strconv.AppendInt(dst, int64(s.Code), 10)
	dst = append(dst, `,"status":`...)
	dst = appendJSONString(dst, s.Status)
	dst = append(dst, `,"errors":[`...)
	for i, e := range s.Errors {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"code":`...)
		dst = appendJSONString(dst, e.Code)
		dst = append(dst, `,"message":`...)
		dst = appendJSONString(dst, e.Message)
		dst = append(dst, '}')
	}
	dst = append(dst, ']')
	for _, f := range s.Extra {
		dst = append(dst, ',')
		dst = appendJSONString(dst, f.Key)
		dst = append(dst, ':')
		if len(f.Value) == 0 {
			dst = append(dst, "null"...)
		} else {
			dst = append(dst, f.Value...)
		}
	}
	return append(dst, '}')
}
