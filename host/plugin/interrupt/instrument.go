package interrupt

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// GlobalExport is the name under which an instrumented module exports its
// interrupt flag: a mutable i32 global, initially 0. Once the host sets it
// to any other value, the guest traps with "unreachable" the next time it
// yields (see [Instrument]), and keeps trapping on every later call.
const GlobalExport = "__oso_interrupt"

// Version names the output of [Instrument]: it changes whenever the same
// input would be instrumented differently, so that a cache of
// instrumented modules keyed by it (host/plugin keeps one beside wazero's
// compiled code) never serves a stale one. TestVersionPinsOutput fails
// when the output changes and Version does not.
const Version = "1"

// Tick accounting. Every check subtracts a weight from a tick counter: one,
// plus one per weightBytes bytes of code the check guards (the function body
// for an entry check, the loop body for a loop check). When the counter
// falls below zero, the guest yields and reloads it with tickBudget. With
// these values a guest yields after at most about 2 MiB of executed code
// (every few microseconds in a tight loop), and the yields add at most a
// few percent to the run time of the tightest loop.
const (
	tickBudget  = 1 << 13
	weightBytes = 256
)

// maxLocals bounds the locals of one function (parameters excluded), as
// browsers do. The binary format allows 2^32-1 in a few bytes, and wazero
// allocates one byte per local before validating anything, so without a
// bound a tiny module could make the host allocate gigabytes.
const maxLocals = 50000

var (
	// ErrMalformed is wrapped by every error about the input itself: not a
	// WebAssembly 1.0 binary, truncated, inconsistent, using an instruction
	// or encoding wazero v1.12 does not accept, or referring to a type,
	// function, global or memory the module does not have. The message
	// names the structure and, when it can, the byte offset.
	ErrMalformed = errors.New("interrupt: malformed module")

	// ErrAlreadyInstrumented is returned for a module that already exports a
	// name equal to [GlobalExport], as every module [Instrument] returns
	// does: instrumenting twice is rejected, never silently repeated.
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

// sectionRank gives each section id its place in the order the binary
// format requires (the tag section sits between memory and global, data
// count between element and code).
var sectionRank = [...]int{1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 13: 6, 6: 7, 7: 8, 8: 9, 9: 10, 12: 11, 10: 12, 11: 13}

var sectionNames = [...]string{"custom", "type", "import", "function", "table", "memory",
	"global", "export", "start", "element", "code", "data", "data count", "tag"}

// extended lists, in section order, the sections Instrument adds to.
var extended = [...]byte{secType, secFunction, secMemory, secGlobal, secExport, secCode}

// dropCustom reports whether a custom section locates code by byte offset
// (DWARF, source maps) and so would be wrong once the code moves.
func dropCustom(name string) bool {
	return strings.HasPrefix(name, ".debug_") || name == "sourceMappingURL" || name == "external_debug_info"
}

// Instrument returns a copy of the WebAssembly binary wasm that a host can
// interrupt, with no help from the runtime, through the exported global
// [GlobalExport].
//
// Every function body, right after its locals, and every loop, right after
// `loop blocktype`, starts with a check that counts ticks in a global of its
// own and, every few thousand ticks (bounded by the amount of code run in
// between, see the tick constants), calls a function Instrument appends:
//
//	i32.const 0 ; memory.grow ; drop      ;; leaves the compiled code for Go
//	global.get $flag ; if ; unreachable ; end
//	i32.const budget ; global.set $ticks
//
// The call into Go is what makes the flag usable: wazero's compiled code
// cannot be preempted, so a guest that never leaves it would stall the Go
// runtime's stop-the-world phases (garbage collection) and with them the
// goroutine meant to set the flag. Checking the flag only on this slow path
// keeps the per-iteration cost to a counter update; a guest notices the flag
// within one budget of ticks: typically microseconds, at most about a
// millisecond.
//
// What Instrument adds never moves an existing index: a function type at
// the end of the type section, the slow-path function after every other
// function, the flag and the tick counter after every other global (the
// flag's index is the number of imported plus defined globals), the export
// of the flag, and, for a module without any memory, a memory of zero pages
// for the slow path to "grow". Those sections are created in their place in
// the section order when absent. Every other section is kept byte for byte,
// except custom sections locating code by byte offset (".debug_*",
// "sourceMappingURL", "external_debug_info"), which are dropped because the
// offsets no longer hold; the "name" section is kept.
//
// wasm is untrusted. Instrument never panics on it, bounds every count by
// the bytes left (and the locals of a function by 50,000), and reports a
// problem with an error wrapping [ErrMalformed]. Those bounds also protect
// the compiler, which allocates by declared counts before checking them:
// run Instrument before wazero ever sees an untrusted module. A module
// referring to a type, function, global or memory it does not have is
// malformed: once instrumented it would reach what Instrument added (a
// guest resetting the flag, say). A module that already exports
// [GlobalExport] gets [ErrAlreadyInstrumented]. Instrument does not fully
// validate the module: the wazero compiler still does that, and whenever it
// accepts the input it accepts the output. Instrument neither retains nor
// modifies wasm; the caller owns the result.
func Instrument(wasm []byte) ([]byte, error) {
	in := instrumenter{out: make([]byte, 0, len(wasm)+len(wasm)/8+256)}
	r := &reader{buf: wasm, what: "header", use: &in.use}
	if magic := r.bytes(4); r.err != nil || string(magic) != "\x00asm" {
		return nil, fmt.Errorf("%w: not a WebAssembly binary", ErrMalformed)
	}
	if v := r.bytes(4); r.err != nil {
		return nil, fmt.Errorf("%w: truncated header", ErrMalformed)
	} else if string(v) != "\x01\x00\x00\x00" {
		return nil, fmt.Errorf("%w: unsupported binary version % x", ErrMalformed, v)
	}
	in.out = append(in.out, wasm[:8]...)
	if err := in.sections(r); err != nil {
		return nil, err
	}
	return in.out, nil
}

// instrumenter holds the state of one [Instrument] call. The counts are
// those of the input module, final once their section has been passed.
type instrumenter struct {
	out  []byte
	use  usage
	done [secTag + 1]bool // extended sections already written

	types                                          uint64 // type indices
	importedFuncs, importedGlobals, importedMemory uint64
	definedFuncs, definedGlobals, definedMemory    uint64
	exportedMemory                                 uint64 // one more than the highest exported memory index
	bodies                                         uint64
}

func (in *instrumenter) funcs() uint64    { return in.importedFuncs + in.definedFuncs }
func (in *instrumenter) globals() uint64  { return in.importedGlobals + in.definedGlobals }
func (in *instrumenter) memories() uint64 { return in.importedMemory + in.definedMemory }

// Indices of what Instrument adds.
func (in *instrumenter) newType() uint64  { return in.types }
func (in *instrumenter) slowFunc() uint64 { return in.funcs() }
func (in *instrumenter) flag() uint64     { return in.globals() }
func (in *instrumenter) ticks() uint64    { return in.globals() + 1 }

// sections decodes and writes every section after the header, then the
// extended sections the module lacks, and validates the whole.
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
		raw := r.buf[start:r.off]
		if id == secCustom {
			if name := customSection(s); s.ok() && !dropCustom(name) {
				in.out = append(in.out, raw...)
			}
			if s.err != nil {
				return s.err
			}
			continue
		}
		rank := sectionRank[id]
		if rank <= lastRank {
			r.off = start
			r.failf("%s section out of order", sectionNames[id])
			return r.err
		}
		lastRank = rank
		if err := in.writeMissing(rank); err != nil {
			return err
		}
		if err := in.section(id, s, raw); err != nil {
			return err
		}
	}
	if err := in.writeMissing(math.MaxInt); err != nil {
		return err
	}
	return in.validate()
}

// writeMissing writes the extended sections that come before rank in the
// section order and are not written yet: the module does not have them.
func (in *instrumenter) writeMissing(rank int) error {
	for _, id := range extended {
		if in.done[id] || sectionRank[id] >= rank {
			continue
		}
		var err error
		switch id {
		case secType:
			in.writeTypes(nil, 0)
		case secFunction:
			in.writeFunctions(nil, 0)
		case secMemory:
			in.writeMemory()
		case secGlobal:
			err = in.writeGlobals(nil, 0)
		case secExport:
			in.writeExports(nil, 0)
		case secCode:
			in.writeSlowBody(nil, 0)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// section decodes one non-custom section and writes it, extended or as it is.
func (in *instrumenter) section(id byte, s *reader, raw []byte) error {
	switch id {
	case secType:
		in.types = typeSection(s)
	case secImport:
		in.importedFuncs, in.importedGlobals, in.importedMemory = importSection(s)
	case secFunction:
		in.definedFuncs = functionSection(s)
	case secTable:
		tableSection(s)
	case secMemory:
		in.definedMemory = memorySection(s)
	case secTag:
		tagSection(s)
	case secGlobal:
		in.definedGlobals = globalSection(s)
	case secExport:
		instrumented, memories := exportSection(s)
		if instrumented {
			return ErrAlreadyInstrumented
		}
		in.exportedMemory = memories
	case secStart:
		startSection(s)
	case secElement:
		elementSection(s)
	case secDataCount:
		dataCountSection(s)
	case secCode:
		return in.code(s)
	case secData:
		dataSection(s)
	}
	if err := end(s); err != nil {
		return err
	}
	n, entries := vector(s.buf)
	switch {
	case id == secType:
		in.writeTypes(entries, n)
	case id == secFunction:
		in.writeFunctions(entries, n)
	case id == secGlobal:
		return in.writeGlobals(entries, n)
	case id == secExport:
		in.writeExports(entries, n)
	case id == secMemory && in.memories() == 0:
		in.writeMemory() // an empty memory section: replace it
	case id == secDataCount && len(s.buf) == 0:
		// wazero reads an empty data count section as 0, but only at the
		// end of the module, where it is no longer once sections follow.
		in.out = append(in.out, secDataCount, 1, 0)
	default:
		in.done[id] = true
		in.out = append(in.out, raw...)
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

// vector splits the content of a decoded section into its leading count and
// the entries after it.
func vector(content []byte) (n uint64, entries []byte) {
	r := reader{buf: content}
	n = uint64(r.u32())
	return n, content[r.off:]
}

// writeSection writes section id made of a count, then entries, then extra.
// Counts and sizes fit in 32 bits: n-1 and len(entries) came from a section
// whose size fit, and extra is a few bytes.
func (in *instrumenter) writeSection(id byte, n uint64, entries, extra []byte) {
	in.done[id] = true
	cnt := appendU32(nil, uint32(n))
	in.out = append(in.out, id)
	in.out = appendU32(in.out, uint32(len(cnt)+len(entries)+len(extra)))
	in.out = append(in.out, cnt...)
	in.out = append(in.out, entries...)
	in.out = append(in.out, extra...)
}

// writeTypes writes the type section with the slow path's type, () -> (),
// appended.
func (in *instrumenter) writeTypes(entries []byte, n uint64) {
	in.writeSection(secType, n+1, entries, []byte{0x60, 0, 0})
}

// writeFunctions writes the function section with the slow path appended.
func (in *instrumenter) writeFunctions(entries []byte, n uint64) {
	in.writeSection(secFunction, n+1, entries, appendU32(nil, uint32(in.newType())))
}

// writeMemory writes a memory section holding one memory of zero pages, for
// a module that has none.
func (in *instrumenter) writeMemory() {
	if in.memories() > 0 {
		in.done[secMemory] = true
		return
	}
	in.writeSection(secMemory, 1, nil, []byte{0x01, 0, 0})
}

// writeGlobals writes the global section with the flag (a mutable i32,
// initially 0) and the tick counter (a mutable i32, initially the budget)
// appended.
func (in *instrumenter) writeGlobals(entries []byte, n uint64) error {
	if in.globals()+2 > math.MaxUint32 {
		return fmt.Errorf("%w: too many globals (%d) to add two", ErrMalformed, in.globals())
	}
	extra := []byte{typeI32, 0x01, opI32Const, 0x00, opEnd, typeI32, 0x01, opI32Const}
	extra = appendS32(extra, tickBudget)
	extra = append(extra, opEnd)
	in.writeSection(secGlobal, n+2, entries, extra)
	return nil
}

// writeExports writes the export section with the flag's export appended.
func (in *instrumenter) writeExports(entries []byte, n uint64) {
	e := appendU32(nil, uint32(len(GlobalExport)))
	e = append(e, GlobalExport...)
	e = append(e, 0x03)
	e = appendU32(e, uint32(in.flag()))
	in.writeSection(secExport, n+1, entries, e)
}

// slowBody returns the body of the slow-path function, size included.
func (in *instrumenter) slowBody() []byte {
	b := []byte{0} // no locals
	b = append(b, opI32Const, 0, opMemoryGrow, 0, opDrop)
	b = appendU32(append(b, opGlobalGet), uint32(in.flag()))
	b = append(b, opIf, blockEmpty, opUnreachable, opEnd)
	b = appendS32(append(b, opI32Const), tickBudget)
	b = appendU32(append(b, opGlobalSet), uint32(in.ticks()))
	b = append(b, opEnd)
	return append(appendU32(nil, uint32(len(b))), b...)
}

// writeSlowBody writes a code section made of content (n rewritten bodies)
// and the slow path's body.
func (in *instrumenter) writeSlowBody(content []byte, n uint64) {
	in.writeSection(secCode, n+1, content, in.slowBody())
}

// checkCode returns the check for a site of weight w:
//
//	global.get $ticks ; i32.const w ; i32.sub ; global.set $ticks
//	global.get $ticks ; i32.const 0 ; i32.lt_s ; if ; call $slow ; end
func (in *instrumenter) checkCode(w int32) []byte {
	t := uint32(in.ticks())
	b := appendU32([]byte{opGlobalGet}, t)
	b = appendS32(append(b, opI32Const), w)
	b = appendU32(append(b, opI32Sub, opGlobalSet), t)
	b = appendU32(append(b, opGlobalGet), t)
	b = append(b, opI32Const, 0, opI32LtS, opIf, blockEmpty, opCall)
	b = appendU32(b, uint32(in.slowFunc()))
	return append(b, opEnd)
}

// code writes the code section with every body rewritten and the slow
// path's body appended.
func (in *instrumenter) code(s *reader) error {
	n := s.count(2) // body size and an end: 2 bytes at least
	in.bodies = uint64(n)
	// A hint only: bodies grow by one check each, plus one per loop.
	content := make([]byte, 0, s.len()+s.len()/4+n*24)
	var scan codeScanner
	checks := map[int32][]byte{}
	for i := 0; i < n && s.ok(); i++ {
		s.what = "code section"
		b := s.sub(int(s.u32()), fmt.Sprintf("code section: body %d", i))
		if !s.ok() {
			break
		}
		sites := scan.scan(b)
		if !b.ok() {
			return b.err
		}
		size := len(b.buf)
		for _, site := range sites {
			if checks[site.weight] == nil {
				checks[site.weight] = in.checkCode(site.weight)
			}
			size += len(checks[site.weight])
		}
		if size > math.MaxUint32 || len(content)+size+5 > math.MaxUint32 {
			return errors.New("interrupt: code section exceeds 4 GiB once instrumented")
		}
		content = appendU32(content, uint32(size))
		last := 0
		for _, site := range sites {
			content = append(content, b.buf[last:site.at]...)
			content = append(content, checks[site.weight]...)
			last = site.at
		}
		content = append(content, b.buf[last:]...)
	}
	if err := end(s); err != nil {
		return err
	}
	in.writeSlowBody(content, uint64(n))
	return nil
}

// validate checks, once every section is read, that the module stays within
// its own index spaces (see [usage]) and that its function and code
// sections agree.
func (in *instrumenter) validate() error {
	u := &in.use
	switch {
	case in.definedFuncs != in.bodies:
		return fmt.Errorf("%w: %d functions declared but %d bodies given", ErrMalformed, in.definedFuncs, in.bodies)
	case u.types > in.types:
		return fmt.Errorf("%w: refers to type %d, but the module has %d types", ErrMalformed, u.types-1, in.types)
	case u.funcs > in.funcs():
		return fmt.Errorf("%w: refers to function %d, but the module has %d functions", ErrMalformed, u.funcs-1, in.funcs())
	case u.globals > in.globals():
		return fmt.Errorf("%w: refers to global %d, but the module has %d globals", ErrMalformed, u.globals-1, in.globals())
	case u.memory && in.memories() == 0, in.exportedMemory > in.memories():
		return fmt.Errorf("%w: uses a memory, but the module has none", ErrMalformed)
	case in.types >= math.MaxUint32, in.funcs() >= math.MaxUint32:
		return fmt.Errorf("%w: too many types or functions to add one", ErrMalformed)
	}
	return nil
}
