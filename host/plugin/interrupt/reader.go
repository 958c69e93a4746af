package interrupt

import "fmt"

// reader decodes the WebAssembly binary encoding from a byte slice. Every
// read is bounds-checked; the first failure is kept in err and every later
// read returns a zero value without moving, so callers may read a whole
// structure and check err once, as long as every loop also stops on err.
type reader struct {
	buf  []byte
	off  int    // next byte to read, relative to buf
	base int    // offset of buf[0] in the module, for error messages
	what string // the structure being read, for error messages
	err  error
	use  *usage // indices read so far, shared by every reader of one module
}

// usage records, for each index space that Instrument extends, one more
// than the highest index the module refers to, and whether it uses a
// memory. A valid module stays within its own spaces; one that reaches past
// them would, once instrumented, reach what Instrument added (a guest
// resetting the flag, say), so Instrument rejects it.
type usage struct {
	types, funcs, globals uint64
	memory                bool
}

func (r *reader) useType(i uint32) {
	if r.use != nil {
		r.use.types = max(r.use.types, uint64(i)+1)
	}
}

func (r *reader) useFunc(i uint32) {
	if r.use != nil {
		r.use.funcs = max(r.use.funcs, uint64(i)+1)
	}
}

func (r *reader) useGlobal(i uint32) {
	if r.use != nil {
		r.use.globals = max(r.use.globals, uint64(i)+1)
	}
}

func (r *reader) useMemory() {
	if r.use != nil {
		r.use.memory = true
	}
}

// failf records the first decoding error, naming the structure and the
// module offset of the byte being read.
func (r *reader) failf(format string, args ...any) {
	if r.err != nil {
		return
	}
	r.err = fmt.Errorf("%w: %s at offset %#x: %s", ErrMalformed, r.what, r.base+r.off, fmt.Sprintf(format, args...))
}

// ok reports whether no error has been recorded.
func (r *reader) ok() bool { return r.err == nil }

// len returns the number of unread bytes.
func (r *reader) len() int { return len(r.buf) - r.off }

// sub returns a reader over the next n bytes and skips them in r.
func (r *reader) sub(n int, what string) *reader {
	b := r.bytes(n)
	return &reader{buf: b, base: r.base + r.off - len(b), what: what, err: r.err, use: r.use}
}

func (r *reader) byte() byte {
	if r.err != nil {
		return 0
	}
	if r.off >= len(r.buf) {
		r.failf("unexpected end")
		return 0
	}
	b := r.buf[r.off]
	r.off++
	return b
}

func (r *reader) bytes(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > r.len() {
		r.failf("%d bytes needed, %d left", n, r.len())
		return nil
	}
	b := r.buf[r.off : r.off+n]
	r.off += n
	return b
}

// u32 reads an unsigned LEB128 number of at most 32 bits, rejecting the
// encodings wazero's decoder rejects (more than 5 bytes, or unused bits set
// in the fifth).
func (r *reader) u32() uint32 {
	var v uint32
	for i := 0; i < 5; i++ {
		b := r.byte()
		if r.err != nil {
			return 0
		}
		if b < 0x80 {
			if i == 4 && b&0xf0 != 0 {
				r.failf("integer overflows 32 bits")
				return 0
			}
			return v | uint32(b)<<(7*i)
		}
		v |= uint32(b&0x7f) << (7 * i)
	}
	r.failf("integer overflows 32 bits")
	return 0
}

// count reads a vector length and checks that at least min bytes per element
// remain, so that no loop or allocation is ever sized by an unchecked number.
func (r *reader) count(min int) int {
	n := r.u32()
	if r.err == nil && uint64(n)*uint64(min) > uint64(r.len()) {
		r.failf("count %d exceeds the %d bytes left", n, r.len())
		return 0
	}
	return int(n)
}

// s33 reads a signed LEB128 number of at most 33 bits (block types and
// heap types) exactly as wazero's DecodeInt33AsInt64 does, including its
// acceptance of at most five bytes, so both agree on where the next
// instruction starts.
func (r *reader) s33() int64 {
	var v int64
	var b byte
	shift := 0
	for shift < 35 {
		b = r.byte()
		if r.err != nil {
			return 0
		}
		v |= int64(b&0x7f) << shift
		shift += 7
		if b&0x80 == 0 {
			break
		}
	}
	if shift < 33 && b&0x40 != 0 {
		v |= (1<<33 - 1) << shift
	}
	v &= 1<<33 - 1
	if v&(1<<32) != 0 {
		v -= 1 << 33
	}
	if shift == 35 && (v < 0) != (b&0x20 != 0) {
		r.failf("integer overflows 33 bits")
		return 0
	}
	return v
}

// skipLEB skips a LEB128 number whose value this package does not need (a
// constant, an alignment, an offset), accepting at most max bytes. The length
// of a LEB128 number depends only on its continuation bits, so the next
// instruction starts where a full decoder would put it; whether the value
// itself is in range is left to the compiler.
func (r *reader) skipLEB(max int) {
	for i := 0; i < max; i++ {
		if r.byte() < 0x80 || r.err != nil {
			return
		}
	}
	r.failf("integer longer than %d bytes", max)
}

// appendS32 appends v as signed LEB128.
func appendS32(b []byte, v int32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 && c&0x40 == 0 || v == -1 && c&0x40 != 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// appendU32 appends v as unsigned LEB128.
func appendU32(b []byte, v uint32) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}
