package interrupt

// This file decodes function bodies and constant expressions. It follows the
// way wazero v1.12 reads them (internal/wasm/func_validation.go,
// internal/wasm/binary/const_expr.go, internal/engine/wazevo/frontend): for
// every instruction wazero accepts, the decoder here consumes exactly the
// bytes wazero consumes, so an inserted check can never land inside an
// immediate. An opcode wazero does not accept is an error here too.

// Opcodes this package emits or treats specially.
const (
	opUnreachable = 0x00
	opBlock       = 0x02
	opLoop        = 0x03
	opIf          = 0x04
	opEnd         = 0x0b
	opCall        = 0x10
	opDrop        = 0x1a
	opTryTable    = 0x1f
	opGlobalGet   = 0x23
	opGlobalSet   = 0x24
	opMemoryGrow  = 0x40
	opI32Const    = 0x41
	opI32LtS      = 0x48
	opI32Sub      = 0x6b
	opRefNull     = 0xd0
	opRefFunc     = 0xd2
	opMiscPrefix  = 0xfc
	opVecPrefix   = 0xfd
	opAtomPrefix  = 0xfe
	blockEmpty    = 0x40
)

// Value type encodings (a single byte, or a ref prefix and a heap type).
const (
	typeI32        = 0x7f
	typeI64        = 0x7e
	typeF32        = 0x7d
	typeF64        = 0x7c
	typeV128       = 0x7b
	typeFuncref    = 0x70
	typeExternref  = 0x6f
	typeExnref     = 0x69
	refNullable    = 0x63
	refNonNullable = 0x64
	heapFunc       = -16
	heapExtern     = -17
	heapExn        = -23
	blockTypeEmpty = -64
	blockTypeRefN  = -29 // 0x63 read as a signed number
	blockTypeRef   = -28 // 0x64 read as a signed number
)

// checkSite is where a check goes in a body: at is the offset (in the body
// reader) right after a function's locals or a loop's block type, and weight
// is what the check subtracts from the tick budget.
type checkSite struct {
	at     int
	weight int32
}

// codeScanner decodes function bodies and finds their check sites.
type codeScanner struct {
	sites []checkSite
	open  []int // control stack: -1 for block, if and try_table; a sites index for loop
}

// weight is the tick cost of a check guarding size bytes of code: one, plus
// one per weightBytes, capped at the budget.
func weight(size int) int32 {
	return int32(min(1+size/weightBytes, tickBudget))
}

// scan decodes the function body held by r (the bytes after the body size)
// and returns its check sites: one after the locals, one after each loop's
// block type. The caller checks r.err.
func (c *codeScanner) scan(r *reader) []checkSite {
	c.sites, c.open = c.sites[:0], c.open[:0]
	n := r.count(2) // a local declaration is a count and a type: 2 bytes at least
	var locals uint64
	for i := 0; i < n && r.ok(); i++ {
		if locals += uint64(r.u32()); locals > maxLocals {
			r.failf("more than %d locals", maxLocals)
		}
		valType(r)
	}
	c.sites = append(c.sites, checkSite{at: r.off, weight: weight(r.len())})
	c.open = append(c.open, -1) // the function's own block
	for r.len() > 0 && r.ok() {
		if len(c.open) == 0 {
			r.failf("instruction after the function's final end")
			break
		}
		at := r.off
		switch op := instr(r); op {
		case opBlock, opIf, opTryTable:
			c.open = append(c.open, -1)
		case opLoop:
			c.open = append(c.open, len(c.sites))
			c.sites = append(c.sites, checkSite{at: r.off})
		case opEnd:
			if i := c.open[len(c.open)-1]; i >= 0 {
				c.sites[i].weight = weight(at - c.sites[i].at)
			}
			c.open = c.open[:len(c.open)-1]
		}
	}
	if r.ok() && len(c.open) != 0 {
		r.failf("function body ends inside %d open blocks", len(c.open))
	}
	return c.sites
}

// instr decodes one instruction and returns its opcode (the prefix for
// prefixed instructions).
func instr(r *reader) byte {
	at := r.off
	op := r.byte()
	switch {
	case !r.ok():
	// No immediate: unreachable, nop, else, throw_ref, end, return, drop,
	// select, the numeric instructions (with sign extension), ref.is_null
	// and ref.as_non_null.
	case op <= 0x01, op == 0x05, op == 0x0a, op == opEnd, op == 0x0f, op == opDrop, op == 0x1b,
		op >= 0x45 && op <= 0xc4, op == 0xd1, op == 0xd4:
	// Block type.
	case op == opBlock, op == opLoop, op == opIf:
		blockType(r)
	// One index: throw (tag), br and br_if (label), local.get, local.set,
	// local.tee, table.get, table.set, br_on_null and br_on_non_null (label).
	case op == 0x08, op == 0x0c, op == 0x0d, op >= 0x20 && op <= 0x22, op == 0x25, op == 0x26,
		op == 0xd5, op == 0xd6:
		r.u32()
	case op == opCall, op == 0x12, op == opRefFunc: // call, return_call, ref.func
		r.useFunc(r.u32())
	case op == 0x14, op == 0x15: // call_ref, return_call_ref: type
		r.useType(r.u32())
	case op == opGlobalGet, op == opGlobalSet:
		r.useGlobal(r.u32())
	case op == 0x3f, op == opMemoryGrow: // memory.size, memory.grow: memory
		r.u32()
		r.useMemory()
	// Several immediates.
	case op == 0x11, op == 0x13: // call_indirect, return_call_indirect: type, table
		r.useType(r.u32())
		r.u32()
	case op == 0x0e: // br_table: labels, then the default
		n := r.count(1)
		for i := 0; i <= n && r.ok(); i++ {
			r.u32()
		}
	case op == 0x1c: // select t*
		n := r.count(1)
		for i := 0; i < n && r.ok(); i++ {
			valType(r)
		}
	case op == opTryTable:
		blockType(r)
		n := r.count(2)
		for i := 0; i < n && r.ok(); i++ {
			switch kind := r.byte(); kind {
			case 0x00, 0x01: // catch, catch_ref: tag, label
				r.u32()
				r.u32()
			case 0x02, 0x03: // catch_all, catch_all_ref: label
				r.u32()
			default:
				if r.ok() {
					r.off--
					r.failf("unknown catch clause kind %#x", kind)
				}
			}
		}
	case op >= 0x28 && op <= 0x3e: // loads and stores
		memarg(r)
	case op == opI32Const:
		r.skipLEB(5)
	case op == 0x42: // i64.const
		r.skipLEB(10)
	case op == 0x43: // f32.const
		r.bytes(4)
	case op == 0x44: // f64.const
		r.bytes(8)
	case op == opRefNull:
		refNull(r)
	case op == opMiscPrefix:
		misc(r, at)
	case op == opVecPrefix:
		vec(r, at)
	case op == opAtomPrefix:
		atomic(r, at)
	default:
		// Includes the legacy exception handling opcodes (0x06, 0x07, 0x09,
		// 0x18, 0x19), which wazero rejects, and the GC prefix 0xfb.
		r.off = at
		r.failf("unknown opcode %#x", op)
	}
	return op
}

// misc decodes the instruction after the 0xfc prefix; wazero reads its
// sub-opcode as an unsigned LEB128 number.
func misc(r *reader, at int) {
	switch sub := r.u32(); {
	case !r.ok():
	case sub <= 0x07: // non-trapping float-to-int conversions
	case sub == 0x08: // memory.init: data, memory
		r.u32()
		r.u32()
		r.useMemory()
	case sub == 0x09, sub == 0x0d: // data.drop, elem.drop
		r.u32()
	case sub == 0x0a: // memory.copy: two memories
		r.u32()
		r.u32()
		r.useMemory()
	case sub == 0x0b: // memory.fill: memory
		r.u32()
		r.useMemory()
	case sub == 0x0c, sub == 0x0e: // table.init: element, table; table.copy: two tables
		r.u32()
		r.u32()
	case sub >= 0x0f && sub <= 0x11: // table.grow, table.size, table.fill
		r.u32()
	default:
		r.off = at
		r.failf("unknown opcode 0xfc %d", sub)
	}
}

// vec decodes the instruction after the 0xfd prefix. wazero reads the
// sub-opcode as one byte: the second byte of a two-byte LEB128 encoding
// (0x01 for the opcodes from 0x80 on) is then read as a nop, by wazero and
// by this decoder alike.
func vec(r *reader, at int) {
	switch sub := r.byte(); {
	case !r.ok():
	case sub <= 0x0b, sub == 0x5c, sub == 0x5d: // loads, splats, store, load zero
		memarg(r)
	case sub == 0x0c, sub == 0x0d: // v128.const, i8x16.shuffle
		r.bytes(16)
	case sub >= 0x15 && sub <= 0x22: // extract_lane, replace_lane
		r.byte()
	case sub >= 0x54 && sub <= 0x5b: // load_lane, store_lane
		memarg(r)
		r.byte()
	case vecReserved(sub):
		r.off = at
		r.failf("unknown opcode 0xfd %#x", sub)
	}
}

// vecReserved reports whether sub is a 0xfd sub-opcode wazero does not define.
func vecReserved(sub byte) bool {
	switch sub {
	case 0x9a, 0xa2, 0xa5, 0xa6, 0xaf, 0xb0, 0xb2, 0xb3, 0xb4, 0xbb,
		0xc2, 0xc5, 0xc6, 0xcf, 0xd0, 0xd2, 0xd3, 0xd4, 0xe2, 0xee:
		return true
	}
	return false
}

// atomic decodes the instruction after the 0xfe prefix; wazero reads its
// sub-opcode as one byte.
func atomic(r *reader, at int) {
	switch sub := r.byte(); {
	case !r.ok():
	case sub == 0x03: // atomic.fence and its reserved byte
		r.byte()
	case sub <= 0x02, sub >= 0x10 && sub <= 0x4e: // notify, wait, loads, stores, read-modify-write
		memarg(r)
	default:
		r.off = at
		r.failf("unknown opcode 0xfe %#x", sub)
	}
}

// memarg skips an alignment and an offset.
func memarg(r *reader) {
	r.skipLEB(5)
	r.skipLEB(5)
	r.useMemory()
}

// refNull decodes the heap type of ref.null: one byte for the abstract
// types, else an unsigned LEB128 type index (as wazero reads it).
func refNull(r *reader) {
	if r.len() > 0 {
		switch r.buf[r.off] {
		case typeFuncref, typeExternref, typeExnref:
			r.byte()
			return
		}
	}
	r.useType(r.u32())
}

// blockType decodes the block type of block, loop, if and try_table.
func blockType(r *reader) {
	switch t := r.s33(); {
	case !r.ok():
	case t == blockTypeEmpty, t >= -5 && t <= -1, t == heapFunc, t == heapExtern, t == heapExn:
	case t == blockTypeRefN, t == blockTypeRef:
		heapType(r)
	case t < 0:
		r.failf("invalid block type %d", t)
	default:
		r.useType(uint32(t))
	}
}

// valType decodes a value type.
func valType(r *reader) {
	switch b := r.byte(); b {
	case typeI32, typeI64, typeF32, typeF64, typeV128, typeFuncref, typeExternref, typeExnref:
	case refNullable, refNonNullable:
		heapType(r)
	default:
		if r.ok() {
			r.off--
			r.failf("invalid value type %#x", b)
		}
	}
}

// heapType decodes the heap type after a ref prefix: an abstract type or a
// type index.
func heapType(r *reader) {
	switch t := r.s33(); {
	case !r.ok(), t == heapFunc, t == heapExtern, t == heapExn:
	case t < 0:
		r.failf("invalid heap type %d", t)
	default:
		r.useType(uint32(t))
	}
}

// constExpr decodes a constant expression up to and including its end, with
// the instructions wazero accepts there.
func constExpr(r *reader) {
	for r.ok() {
		at := r.off
		switch op := r.byte(); op {
		case opEnd:
			return
		case opI32Const:
			r.skipLEB(5)
		case 0x42: // i64.const
			r.skipLEB(10)
		case 0x43:
			r.bytes(4)
		case 0x44:
			r.bytes(8)
		case 0x6a, 0x6b, 0x6c, 0x7c, 0x7d, 0x7e: // extended constants: add, sub, mul
		case opGlobalGet:
			r.useGlobal(r.u32())
		case opRefNull:
			refNull(r)
		case opRefFunc:
			r.useFunc(r.u32())
		case opVecPrefix:
			if sub := r.byte(); r.ok() && sub != 0x0c {
				r.off = at
				r.failf("opcode 0xfd %#x not allowed in a constant expression", sub)
			}
			r.bytes(16)
		default:
			if r.ok() {
				r.off = at
				r.failf("opcode %#x not allowed in a constant expression", op)
			}
		}
	}
}
