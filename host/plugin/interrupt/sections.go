package interrupt

// This file decodes sections. Each function consumes a whole section's
// content (the caller checks that nothing is left) and records in the
// reader's usage every index the section refers to.

// typeSection decodes function types, alone or in recursion groups (0x4e),
// and returns how many type indices they define.
func typeSection(s *reader) (types uint64) {
	n := s.count(3) // 0x60 and two counts: 3 bytes at least
	for i := 0; i < n && s.ok(); i++ {
		if s.len() > 0 && s.buf[s.off] == 0x4e {
			s.byte()
			m := s.count(3)
			for j := 0; j < m && s.ok(); j++ {
				funcType(s)
			}
			types += uint64(m)
			continue
		}
		funcType(s)
		types++
	}
	return types
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

// importSection decodes imports and counts them by kind.
func importSection(s *reader) (funcs, globals, memories uint64) {
	n := s.count(4) // two names, a kind and an index: 4 bytes at least
	for i := 0; i < n && s.ok(); i++ {
		s.bytes(int(s.u32())) // module
		s.bytes(int(s.u32())) // name
		switch kind := s.byte(); kind {
		case 0x00: // function: type index
			s.useType(s.u32())
			funcs++
		case 0x01: // table
			tableType(s)
		case 0x02: // memory
			limits(s)
			memories++
		case 0x03: // global
			globalType(s)
			globals++
		case 0x04: // tag: attribute, type index
			s.byte()
			s.useType(s.u32())
		default:
			if s.ok() {
				s.off--
				s.failf("unknown import kind %#x", kind)
			}
		}
	}
	return funcs, globals, memories
}

// functionSection decodes the type index of each function.
func functionSection(s *reader) (funcs uint64) {
	n := s.count(1)
	for i := 0; i < n && s.ok(); i++ {
		s.useType(s.u32())
	}
	return uint64(n)
}

// tableSection decodes table types.
func tableSection(s *reader) {
	n := s.count(2)
	for i := 0; i < n && s.ok(); i++ {
		tableType(s)
	}
}

// tableType decodes a table type as wazero reads it: an optional 0x40 0x00
// prefix announcing an initialiser, a reference type, limits, and the
// initialiser.
func tableType(s *reader) {
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
		constExpr(s)
	}
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

// memorySection decodes memory types.
func memorySection(s *reader) (memories uint64) {
	n := s.count(2)
	for i := 0; i < n && s.ok(); i++ {
		limits(s)
	}
	return uint64(n)
}

// tagSection decodes exception tags: an attribute byte and a type index.
func tagSection(s *reader) {
	n := s.count(2)
	for i := 0; i < n && s.ok(); i++ {
		s.byte()
		s.useType(s.u32())
	}
}

// globalSection decodes global definitions.
func globalSection(s *reader) (globals uint64) {
	n := s.count(3) // type, mutability, end: 3 bytes at least
	for i := 0; i < n && s.ok(); i++ {
		globalType(s)
		constExpr(s)
	}
	return uint64(n)
}

func globalType(s *reader) {
	valType(s)
	if m := s.byte(); m > 1 && s.ok() {
		s.off--
		s.failf("invalid mutability %#x", m)
	}
}

// exportSection decodes exports; it reports whether one is named
// [GlobalExport] and returns one more than the highest memory index
// exported.
func exportSection(s *reader) (instrumented bool, memories uint64) {
	n := s.count(3) // name length, kind, index: 3 bytes at least
	for i := 0; i < n && s.ok(); i++ {
		name := s.bytes(int(s.u32()))
		kind := s.byte()
		idx := s.u32()
		switch {
		case !s.ok():
		case string(name) == GlobalExport:
			instrumented = true
		case kind == 0x00:
			s.useFunc(idx)
		case kind == 0x02:
			memories = max(memories, uint64(idx)+1)
		case kind == 0x03:
			s.useGlobal(idx)
		case kind > 0x04:
			s.failf("unknown export kind %#x", kind)
		}
	}
	return instrumented, memories
}

// startSection decodes the start function's index.
func startSection(s *reader) {
	s.useFunc(s.u32())
}

// dataCountSection decodes the number of data segments; an empty section
// is accepted, as wazero does.
func dataCountSection(s *reader) {
	if s.len() > 0 {
		s.u32()
	}
}

// elementSection decodes element segments in their eight encodings.
func elementSection(s *reader) {
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
			constExpr(s) // offset
		}
		if flags != 0 && flags != 4 { // element kind or reference type
			if b := s.byte(); exprs && (b == refNullable || b == refNonNullable) {
				heapType(s)
			}
		}
		m := s.count(1)
		for j := 0; j < m && s.ok(); j++ {
			if exprs {
				constExpr(s)
			} else {
				s.useFunc(s.u32())
			}
		}
	}
}

// dataSection decodes data segments: active (0), passive (1) or active with
// a memory index (2).
func dataSection(s *reader) {
	n := s.count(2)
	for i := 0; i < n && s.ok(); i++ {
		switch flags := s.u32(); {
		case !s.ok():
		case flags == 0:
			constExpr(s)
			s.useMemory()
		case flags == 1:
		case flags == 2:
			s.u32()
			constExpr(s)
			s.useMemory()
		default:
			s.failf("invalid data segment flags %d", flags)
		}
		s.bytes(int(s.u32()))
	}
}

// customSection decodes a custom section's name and, for the "name"
// section, its content; other custom sections are opaque.
func customSection(s *reader) string {
	name := string(s.bytes(int(s.u32())))
	if name == "name" && s.ok() {
		nameSection(s)
	}
	s.off = len(s.buf)
	return name
}

// nameSection decodes the subsections of the "name" section. wazero reads
// the module name (0), function names (1) and local names (2) without
// regard to their declared sizes, so past a malformed one it would read
// the sections that follow, which Instrument changes: a subsection whose
// content does not fill its size exactly is an error.
func nameSection(s *reader) {
	for s.len() > 0 && s.ok() {
		id := s.byte()
		sub := s.sub(int(s.u32()), "name section")
		switch id {
		case 0:
			sub.bytes(int(sub.u32()))
		case 1:
			nameMap(sub)
		case 2:
			n := sub.count(2)
			for i := 0; i < n && sub.ok(); i++ {
				sub.u32()
				nameMap(sub)
			}
		default:
			sub.off = len(sub.buf)
		}
		if err := end(sub); err != nil {
			s.err = err
		}
	}
}

// nameMap decodes a vector of (index, name) pairs.
func nameMap(s *reader) {
	n := s.count(2)
	for i := 0; i < n && s.ok(); i++ {
		s.u32()
		s.bytes(int(s.u32()))
	}
}
