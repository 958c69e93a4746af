package interrupt

// This file decodes the sections Instrument keeps as they are, so that a
// malformed module is reported here rather than half rewritten, and so that
// no constant expression can read the new flag. Each function consumes the
// whole section; the caller checks what is left.

// typeSection decodes function types, alone or in recursion groups (0x4e).
func typeSection(s *reader) {
	n := s.count(3) // 0x60 and two counts: 3 bytes at least
	for i := 0; i < n && s.ok(); i++ {
		if s.len() > 0 && s.buf[s.off] == 0x4e {
			s.byte()
			m := s.count(3)
			for j := 0; j < m && s.ok(); j++ {
				funcType(s)
			}
			continue
		}
		funcType(s)
	}
}

func funcType(s *reader) {
	if b := s.byte(); b != 0x60 && s.ok() {
		s.off--
		s.failf("expected function type 0x60, got %#x", b)
	}
	for k := 0; k < 2 && s.ok(); k++ { // parameters, then results
		n := s.count(1)
		for i := 0; i < n && s.ok(); i++ {
			valType(s)
		}
	}
}

// tableSection decodes table types and returns one more than the highest
// global index their initialisers read.
func tableSection(s *reader) (globalsUsed uint64) {
	n := s.count(2)
	for i := 0; i < n && s.ok(); i++ {
		globalsUsed = max(globalsUsed, tableType(s))
	}
	return globalsUsed
}

// tableType decodes a table type as wazero reads it: an optional 0x40 0x00
// prefix announcing an initialiser, a reference type, limits, and the
// initialiser. It returns what [constExpr] returns for the initialiser.
func tableType(s *reader) (globalsUsed uint64) {
	b := s.byte()
	init := b == 0x40
	if init {
		if s.byte() != 0 && s.ok() {
			s.off--
			s.failf("table type: expected 0x00 after 0x40")
		}
		b = s.byte()
	}
	if b == refNullable || b == refNonNullable {
		heapType(s)
	}
	limits(s)
	if init {
		return constExpr(s)
	}
	return 0
}

// limits decodes the limits of a table or memory (flags 0x02 and 0x03 mark
// shared memory).
func limits(s *reader) {
	switch flag := s.byte(); flag {
	case 0x00, 0x02:
		s.u32()
	case 0x01, 0x03:
		s.u32()
		s.u32()
	default:
		if s.ok() {
			s.off--
			s.failf("invalid limits flag %#x", flag)
		}
	}
}

func memorySection(s *reader) {
	n := s.count(2)
	for i := 0; i < n && s.ok(); i++ {
		limits(s)
	}
}

// tagSection decodes exception tags: an attribute byte and a type index.
func tagSection(s *reader) {
	n := s.count(2)
	for i := 0; i < n && s.ok(); i++ {
		s.byte()
		s.u32()
	}
}

// indexSection decodes a section made of one index (start, data count). An
// empty data count section is accepted, as wazero does.
func indexSection(s *reader) {
	if s.len() > 0 {
		s.u32()
	}
}

// elementSection decodes element segments in their eight encodings; every
// constant expression may read only the first globals globals.
func elementSection(s *reader, globals uint64) {
	n := s.count(2)
	for i := 0; i < n && s.ok(); i++ {
		flags := s.u32()
		if !s.ok() {
			return
		}
		if flags > 7 {
			s.failf("invalid element segment flags %d", flags)
			return
		}
		active, explicitTable, exprs := flags&1 == 0, flags&2 != 0, flags&4 != 0
		if active && explicitTable {
			s.u32() // table index
		}
		if active {
			constExprIn(s, globals) // offset
		}
		if flags != 0 && flags != 4 { // element kind or reference type
			if b := s.byte(); exprs && (b == refNullable || b == refNonNullable) {
				heapType(s)
			}
		}
		m := s.count(1)
		for j := 0; j < m && s.ok(); j++ {
			if exprs {
				constExprIn(s, globals)
			} else {
				s.u32() // function index
			}
		}
	}
}

// dataSection decodes data segments: active (0), passive (1) or active with
// a memory index (2).
func dataSection(s *reader, globals uint64) {
	n := s.count(2)
	for i := 0; i < n && s.ok(); i++ {
		switch flags := s.u32(); {
		case !s.ok():
		case flags == 0:
			constExprIn(s, globals)
		case flags == 1:
		case flags == 2:
			s.u32()
			constExprIn(s, globals)
		default:
			s.failf("invalid data segment flags %d", flags)
		}
		s.bytes(int(s.u32()))
	}
}
