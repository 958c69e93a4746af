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
	opLoop        = 0x03
	opIf          = 0x04
	opEnd         = 0x0b
	opGlobalGet   = 0x23
	opGlobalSet   = 0x24
	opRefNull     = 0xd0
	opMiscPrefix  = 0xfc
	opVecPrefix   = 0xfd
	opAtomPrefix  = 0xfe
	blockEmpty    = 0x40
)

// Value type encodings (a single byte, or a ref prefix and a heap type).
const (
	typeI32         = 0x7f
	typeI64         = 0x7e
	typeF32         = 0x7d
	typeF64         = 0x7c
	typeV128        = 0x7b
	typeFuncref     = 0x70
	typeExternref   = 0x6f
	typeExnref      = 0x69
	refNullable     = 0x63
	refNonNullable  = 0x64
	heapFunc        = -16
	heapExtern      = -17
	heapExn         = -23
	blockTypeEmpty  = -64
	blockTypeRefNul = -29 // 0x63 read as a signed number
	blockTypeRef    = -28 // 0x64 read as a signed number
)

// checkCode returns the interrupt check for the flag at global index g:
//
//	global.get g ; if (blocktype empty) ; unreachable ; end
func checkCode(g uint32) []byte {
	b := appendU32([]byte{opGlobalGet}, g)
	return append(b, opIf, blockEmpty, opUnreachable, opEnd)
}

// codeRewriter inserts the interrupt check into function bodies.
type codeRewriter struct {
	globals uint32 // globals the module had; the flag's index
	check   []byte // checkCode(globals)
}

// body appends to dst the instrumented form of the function body held by r
// (the bytes after the body size: locals, then instructions). The caller
// checks r.err.
func (c *codeRewriter) body(dst []byte, r *reader) []byte {
	n := r.count(2) // a local declaration is a count and a type: 2 bytes at least
	for i := 0; i < n && r.ok(); i++ {
		r.u32()
		valType(r)
	}
	if !r.ok() {
		return dst
	}
	dst = append(dst, r.buf[:r.off]...)
	dst = append(dst, c.check...)
	last := r.off
	for r.len() > 0 && r.ok() {
		if c.instr(r) {
			dst = append(dst, r.buf[last:r.off]...)
			dst = append(dst, c.check...)
			last = r.off
		}
	}
	return append(dst, r.buf[last:]...)
}

// instr decodes one instruction and reports whether it was a loop header
// (the check then goes right after its block type).
func (c *codeRewriter) instr(r *reader) (loop bool) {
	at := r.off
	op := r.byte()
	switch {
	case op == opLoop:
		blockType(r)
		return true
	case op == 0x02, op == opIf: // block, if
		blockType(r)
	case op == 0x00, op == 0x01, // unreachable, nop
		op == 0x05,             // else
		op == 0x0a,             // throw_ref
		op == opEnd,            // end
		op == 0x0f,             // return
		op == 0x1a, op == 0x1b, // drop, select
		op >= 0x45 && op <= 0xc4, // numeric, conversions, sign extension
		op == 0xd1, op == 0xd4:   // ref.is_null, ref.as_non_null
	case op == 0x08, // throw tag
		op == 0x0c, op == 0x0d, // br, br_if
		op == 0x10, op == 0x12, // call, return_call
		op == 0x14, op == 0x15, // call_ref, return_call_ref
		op >= 0x20 && op <= 0x22, // local.get, local.set, local.tee
		op == 0x25, op == 0x26,   // table.get, table.set
		op == 0x3f, op == 0x40, // memory.size, memory.grow
		op == 0xd2,             // ref.func
		op == 0xd5, op == 0xd6: // br_on_null, br_on_non_null
		r.u32()
	case op == 0x11, op == 0x13: // call_indirect, return_call_indirect: type, table
		r.u32()
		r.u32()
	case op == 0x0e: // br_table
		n := r.count(1)
		for i := 0; i <= n && r.ok(); i++ { // n labels and the default
			r.u32()
		}
	case op == 0x1c: // select t*
		n := r.count(1)
		for i := 0; i < n && r.ok(); i++ {
			valType(r)
		}
	case op == 0x1f: // try_table
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
				r.failf("unknown catch clause kind %#x", kind)
			}
		}
	case op == opGlobalGet, op == opGlobalSet:
		if g := r.u32(); r.ok() && g >= c.globals {
			r.off = at
			r.failf("global index %d out of range (%d globals)", g, c.globals)
		}
	case op >= 0x28 && op <= 0x3e: // loads and stores
		memarg(r)
	case op == 0x41: // i32.const
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
		c.misc(r, at)
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
	return false
}

// misc decodes the instruction after the 0xfc prefix; wazero reads its
// sub-opcode as an unsigned LEB128 number.
func (c *codeRewriter) misc(r *reader, at int) {
	switch sub := r.u32(); {
	case !r.ok():
	case sub <= 0x07: // non-trapping float-to-int conversions
	case sub == 0x09, sub == 0x0b, sub == 0x0d: // data.drop, memory.fill, elem.drop
		r.u32()
	case sub == 0x08, sub == 0x0a, sub == 0x0c, sub == 0x0e: // memory.init, memory.copy, table.init, table.copy
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
	r.u32()
}

// blockType decodes the block type of block, loop, if and try_table.
func blockType(r *reader) {
	switch t := r.s33(); {
	case !r.ok():
	case t == blockTypeEmpty, t >= -5 && t <= -1, t == heapFunc, t == heapExtern, t == heapExn:
	case t == blockTypeRefNul, t == blockTypeRef:
		heapType(r)
	case t < 0:
		r.failf("invalid block type %d", t)
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
	if t := r.s33(); r.ok() && t < 0 && t != heapFunc && t != heapExtern && t != heapExn {
		r.failf("invalid heap type %d", t)
	}
}

// constExpr decodes a constant expression up to and including its end, with
// the instructions wazero accepts there, and returns one more than the
// highest global index it reads (0 if it reads none).
func constExpr(r *reader) (globalsUsed uint64) {
	for r.ok() {
		at := r.off
		switch op := r.byte(); op {
		case opEnd:
			return globalsUsed
		case 0x41: // i32.const
			r.skipLEB(5)
		case 0x42: // i64.const
			r.skipLEB(10)
		case 0x43:
			r.bytes(4)
		case 0x44:
			r.bytes(8)
		case 0x6a, 0x6b, 0x6c, 0x7c, 0x7d, 0x7e: // extended constants: add, sub, mul
		case opGlobalGet:
			globalsUsed = max(globalsUsed, uint64(r.u32())+1)
		case opRefNull:
			refNull(r)
		case 0xd2: // ref.func
			r.u32()
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
	return 0
}

// constExprIn decodes a constant expression that may read only the first
// globals globals.
func constExprIn(r *reader, globals uint64) {
	at := r.off
	if used := constExpr(r); used > globals {
		r.off = at
		r.failf("constant expression reads global %d out of range (%d globals)", used-1, globals)
	}
}
