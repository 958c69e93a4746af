package interrupt

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// GlobalExport is the name under which an instrumented module exports its
// interrupt flag: a mutable i32 global, initially 0. Setting it to any other
// value makes the guest trap at its next function entry or loop iteration.
const GlobalExport = "__oso_interrupt"

var (
	// ErrMalformed is wrapped by every error about the input itself: not a
	// WebAssembly 1.0 binary, truncated, inconsistent, or using an instruction
	// or encoding that wazero v1.12 does not accept. The message names the
	// structure and the byte offset.
	ErrMalformed = errors.New("interrupt: malformed module")

	// ErrAlreadyInstrumented is returned for a module that already exports a
	// name equal to [GlobalExport], which is what [Instrument] produces:
	// instrumenting twice is rejected, never silently repeated.
	ErrAlreadyInstrumented = errors.New("interrupt: module already exports " + GlobalExport)
)

// Section ids of the binary format.
const (
	secCustom    = 0
	secType      = 1
	secImport    = 2
	secFunction  = 3
	secTable     = 4
	secMemory    = 5
	secGlobal    = 6
	secExport    = 7
	secStart     = 8
	secElement   = 9
	secCode      = 10
	secData      = 11
	secDataCount = 12
	secTag       = 13
)

// sectionRank gives each known section id its place in the order the binary
// format requires (the tag section sits between memory and global, data
// count between element and code); 0 means unknown.
var sectionRank = [...]int{1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 13: 6, 6: 7, 7: 8, 8: 9, 9: 10, 12: 11, 10: 12, 11: 13}

var sectionNames = [...]string{"custom", "type", "import", "function", "table", "memory",
	"global", "export", "start", "element", "code", "data", "data count", "tag"}

// dropCustom reports whether a custom section describes code by byte offset
// (DWARF, source maps) and so would be wrong once the code moves.
func dropCustom(name string) bool {
	return strings.HasPrefix(name, ".debug_") || name == "sourceMappingURL" || name == "external_debug_info"
}

// Instrument returns a copy of the WebAssembly binary wasm in which every
// function body starts, right after its locals, with
//
//	global.get $flag ; if (blocktype empty) ; unreachable ; end
//
// and every loop header (right after `loop blocktype`) does the same, so a
// guest notices a non-zero flag within one loop iteration or function call.
// The flag is a new mutable i32 global, initially 0, appended after every
// other global (its index is the number of imported plus defined globals, so
// no existing index moves) and exported as [GlobalExport].
//
// Every other section is kept byte for byte, except that the global and
// export sections gain one entry each (and are created, in their place in
// the section order, when absent), and that custom sections locating code by
// byte offset (".debug_*", "sourceMappingURL", "external_debug_info") are
// dropped because the offsets no longer hold. The "name" section is kept:
// no function, local or global index changes.
//
// wasm is untrusted. Instrument never panics on it, bounds every count by
// the bytes left, and reports a problem with an error wrapping
// [ErrMalformed]. A module whose code already reads or writes a global index
// that does not exist (which a guest could use to reach the new flag) is
// malformed. A module that already exports [GlobalExport] gets
// [ErrAlreadyInstrumented]. Instrument does not fully validate the module:
// the wazero compiler still does that, and whenever it accepts the input it
// accepts the output. Instrument neither retains nor modifies wasm; the
// caller owns the result.
func Instrument(wasm []byte) ([]byte, error) {
	r := &reader{buf: wasm, what: "header"}
	if magic := r.bytes(4); r.err != nil || string(magic) != "\x00asm" {
		return nil, fmt.Errorf("%w: not a WebAssembly binary", ErrMalformed)
	}
	if v := r.bytes(4); r.err != nil {
		return nil, fmt.Errorf("%w: truncated header", ErrMalformed)
	} else if string(v) != "\x01\x00\x00\x00" {
		return nil, fmt.Errorf("%w: unsupported binary version % x", ErrMalformed, v)
	}
	in := instrumenter{out: make([]byte, 0, len(wasm)+len(wasm)/8+64)}
	in.out = append(in.out, wasm[:8]...)
	if err := in.sections(r); err != nil {
		return nil, err
	}
	return in.out, nil
}

// instrumenter holds the state of one [Instrument] call.
type instrumenter struct {
	out []byte

	importedGlobals uint64
	globals         uint64 // imported and defined: the flag's index
	globalDone      bool   // the global section was written, so globals is final
	exportDone      bool
	functions       uint64 // entries of the function section
	bodies          uint64 // entries of the code section
	earlyGlobalRefs uint64 // globals read by table initialisers, checked once globals is known
	err             error  // a failure that is not a decoding error of the section reader
}

func (in *instrumenter) sections(r *reader) error {
	lastRank := 0
	for r.len() > 0 {
		start := r.off
		r.what = "section header"
		id := r.byte()
		size := r.u32()
		if !r.ok() {
			return r.err
		}
		if int(id) >= len(sectionRank) {
			r.off = start
			r.failf("unknown section id %d", id)
			return r.err
		}
		s := r.sub(int(size), sectionNames[id]+" section")
		if !r.ok() {
			return r.err
		}
		if id != secCustom {
			rank := sectionRank[id]
			if rank <= lastRank {
				r.off = start
				r.failf("%s section out of order", sectionNames[id])
				return r.err
			}
			lastRank = rank
			if rank > sectionRank[secGlobal] && !in.globalDone {
				if err := in.writeGlobalSection(nil, 0); err != nil {
					return err
				}
			}
			if rank > sectionRank[secExport] && !in.exportDone {
				in.writeExportSection(nil, 0)
			}
		}
		raw := r.buf[start:r.off]
		switch id {
		case secCustom:
			if in.custom(s, raw); in.err != nil {
				return in.err
			}
			continue
		case secImport:
			in.imports(s)
		case secFunction:
			in.function(s)
		case secTable:
			in.earlyGlobalRefs = max(in.earlyGlobalRefs, tableSection(s))
		case secMemory:
			memorySection(s)
		case secTag:
			tagSection(s)
		case secGlobal:
			in.global(s)
		case secExport:
			in.export(s)
		case secStart, secDataCount:
			indexSection(s)
		case secElement:
			elementSection(s, in.globals)
		case secCode:
			in.code(s)
		case secType:
			typeSection(s)
		case secData:
			dataSection(s, in.globals)
		}
		if in.err != nil {
			return in.err
		}
		if err := end(s); err != nil {
			return err
		}
		switch id {
		case secGlobal, secExport, secCode: // written by their handlers
		default:
			in.out = append(in.out, raw...)
		}
	}
	if !in.globalDone {
		if err := in.writeGlobalSection(nil, 0); err != nil {
			return err
		}
	}
	if !in.exportDone {
		in.writeExportSection(nil, 0)
	}
	if in.functions != in.bodies {
		return fmt.Errorf("%w: %d functions declared but %d bodies given", ErrMalformed, in.functions, in.bodies)
	}
	return nil
}

// end checks that a section reader was consumed exactly.
func end(s *reader) error {
	if s.ok() && s.len() != 0 {
		s.failf("%d bytes left over", s.len())
	}
	return s.err
}

// custom keeps a custom section unless it locates code by offset.
func (in *instrumenter) custom(s *reader, raw []byte) {
	name := s.bytes(int(s.u32()))
	if s.ok() && !dropCustom(string(name)) {
		in.out = append(in.out, raw...)
	}
	in.err = s.err
}

// imports counts the imported globals.
func (in *instrumenter) imports(s *reader) {
	n := s.count(4) // two names, a kind and an index: 4 bytes at least
	for i := 0; i < n && s.ok(); i++ {
		s.bytes(int(s.u32())) // module
		s.bytes(int(s.u32())) // name
		switch kind := s.byte(); kind {
		case 0x00: // function: type index
			s.u32()
		case 0x01: // table
			in.earlyGlobalRefs = max(in.earlyGlobalRefs, tableType(s))
		case 0x02: // memory
			limits(s)
		case 0x03: // global
			valType(s)
			mutability(s)
			in.importedGlobals++
		case 0x04: // tag: attribute, type index
			s.byte()
			s.u32()
		default:
			if s.ok() {
				s.off--
				s.failf("unknown import kind %#x", kind)
			}
		}
	}
}

func mutability(s *reader) {
	if m := s.byte(); m > 1 && s.ok() {
		s.off--
		s.failf("invalid mutability %#x", m)
	}
}

// function reads the number of functions.
func (in *instrumenter) function(s *reader) {
	n := s.count(1)
	for i := 0; i < n && s.ok(); i++ {
		s.u32()
	}
	in.functions = uint64(n)
}

// global writes the module's global section with the flag appended.
func (in *instrumenter) global(s *reader) {
	n := s.count(3) // type, mutability, end: 3 bytes at least
	total := in.importedGlobals + uint64(n)
	entries := s.off
	for i := 0; i < n && s.ok(); i++ {
		valType(s)
		mutability(s)
		constExprIn(s, total)
	}
	if end(s) == nil {
		in.err = in.writeGlobalSection(s.buf[entries:], uint64(n))
	}
}

// writeGlobalSection writes a global section holding n existing entries and
// then the flag: a mutable i32 initialised by i32.const 0.
func (in *instrumenter) writeGlobalSection(entries []byte, n uint64) error {
	in.globals = in.importedGlobals + n
	in.globalDone = true
	if in.earlyGlobalRefs > in.globals {
		return fmt.Errorf("%w: a table initialiser reads global %d out of range (%d globals)",
			ErrMalformed, in.earlyGlobalRefs-1, in.globals)
	}
	if in.globals >= math.MaxUint32 {
		return fmt.Errorf("%w: too many globals (%d) to add one", ErrMalformed, in.globals)
	}
	flag := []byte{typeI32, 0x01, 0x41, 0x00, opEnd}
	in.writeSection(secGlobal, n+1, entries, flag)
	return nil
}

// export writes the module's export section with the flag's export appended.
func (in *instrumenter) export(s *reader) {
	n := s.count(3) // name length, kind, index: 3 bytes at least
	entries := s.off
	for i := 0; i < n && s.ok(); i++ {
		name := s.bytes(int(s.u32()))
		kind := s.byte()
		idx := s.u32()
		switch {
		case !s.ok():
		case string(name) == GlobalExport:
			in.err = ErrAlreadyInstrumented
			return
		case kind > 0x04:
			s.failf("unknown export kind %#x", kind)
		case kind == 0x03 && uint64(idx) >= in.globals:
			s.failf("export %q: global index %d out of range (%d globals)", name, idx, in.globals)
		}
	}
	if end(s) == nil {
		in.writeExportSection(s.buf[entries:], uint64(n))
	}
}

// writeExportSection writes an export section holding n existing entries and
// then the flag's export.
func (in *instrumenter) writeExportSection(entries []byte, n uint64) {
	in.exportDone = true
	e := appendU32(nil, uint32(len(GlobalExport)))
	e = append(e, GlobalExport...)
	e = append(e, 0x03)
	e = appendU32(e, uint32(in.globals))
	in.writeSection(secExport, n+1, entries, e)
}

// writeSection writes a section made of a count, then entries, then extra.
// Counts and sizes fit in 32 bits: n-1 and len(entries) came from a section
// whose size fit, and extra is a few bytes.
func (in *instrumenter) writeSection(id byte, n uint64, entries, extra []byte) {
	cnt := appendU32(nil, uint32(n))
	in.out = append(in.out, id)
	in.out = appendU32(in.out, uint32(len(cnt)+len(entries)+len(extra)))
	in.out = append(in.out, cnt...)
	in.out = append(in.out, entries...)
	in.out = append(in.out, extra...)
}

// code writes the code section with every function body rewritten.
func (in *instrumenter) code(s *reader) {
	c := codeRewriter{globals: uint32(in.globals), check: checkCode(uint32(in.globals))}
	n := s.count(2) // body size and an end: 2 bytes at least
	in.bodies = uint64(n)
	// A hint only: bodies grow by one check each, plus one per loop.
	content := make([]byte, 0, s.len()+s.len()/8+n*len(c.check)+5)
	content = appendU32(content, uint32(n))
	var body []byte
	for i := 0; i < n && s.ok(); i++ {
		b := s.sub(int(s.u32()), fmt.Sprintf("code section: body %d", i))
		if !s.ok() {
			return
		}
		body = c.body(body[:0], b)
		if !b.ok() {
			in.err = b.err
			return
		}
		content = appendU32(content, uint32(len(body)))
		content = append(content, body...)
		if uint64(len(content)) > math.MaxUint32 {
			in.err = errors.New("interrupt: code section exceeds 4 GiB once instrumented")
			return
		}
	}
	if end(s) == nil {
		in.out = append(in.out, secCode)
		in.out = appendU32(in.out, uint32(len(content)))
		in.out = append(in.out, content...)
	}
}
