package interrupt_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/osohost/osohost/host/plugin/interrupt"
)

// funcModule builds a module with one function of type () -> () whose body
// (locals and instructions) is body.
func funcModule(body ...byte) []byte {
	return module(
		section(1, 1, 0x60, 0, 0),
		section(3, 1, 0),
		section(10, slices.Concat([]byte{1, byte(len(body))}, body)...),
	)
}

func TestInstrument_Errors(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want string // in the message, after "interrupt: malformed module: "
	}{
		{"empty", nil, "not a WebAssembly binary"},
		{"not wasm", []byte("\x7fELF\x02\x01\x01\x00"), "not a WebAssembly binary"},
		{"truncated header", []byte("\x00asm\x01"), "truncated header"},
		{"version 2", []byte("\x00asm\x02\x00\x00\x00"), "unsupported binary version 02 00 00 00"},
		{"section past the end", module([]byte{1, 5, 1}), "5 bytes needed, 1 left"},
		{"section size overflows", module([]byte{1, 0xff, 0xff, 0xff, 0xff, 0x7f}), "integer overflows 32 bits"},
		{"unknown section", module(section(14)), "unknown section id 14"},
		{"out of order", module(section(3, 0), section(1, 0)), "type section out of order"},
		{"duplicate section", module(section(1, 0), section(1, 0)), "type section out of order"},
		{"count beyond the section", module(section(1, 0xe8, 0x07, 0x60)), "count 1000 exceeds"},
		{"trailing bytes", module(section(1, 0, 0)), "type section at offset 0xb: 1 bytes left over"},
		{"custom name past the end", module(section(0, 9, 'a')), "9 bytes needed, 1 left"},
		{"malformed name section", module(section(0, 4, 'n', 'a', 'm', 'e', 1, 5, 1, 0, 9, 'f', 'n')), "9 bytes needed, 2 left"},
		{"name subsection longer than its content", module(section(0, 4, 'n', 'a', 'm', 'e', 0, 3, 1, 'm', 'x')),
			"name section at offset 0x13: 1 bytes left over"},
		{"unknown opcode", funcModule(0, 0xfb, 0x00, 0x0b), "code section: body 0 at offset 0x17: unknown opcode 0xfb"},
		{"legacy try", funcModule(0, 0x06, 0x40, 0x0b, 0x0b), "unknown opcode 0x6"},
		{"unknown 0xfc", funcModule(0, 0xfc, 18, 0x0b), "unknown opcode 0xfc 18"},
		{"unknown 0xfd", funcModule(0, 0xfd, 0x9a, 0x01, 0x0b), "unknown opcode 0xfd 0x9a"},
		{"unknown 0xfe", funcModule(0, 0xfe, 0x04, 0x0b), "unknown opcode 0xfe 0x4"},
		{"truncated immediate", funcModule(0, 0x41, 0x80), "unexpected end"},
		{"overlong integer", funcModule(0, 0x20, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x0b), "integer overflows 32 bits"},
		{"invalid block type", funcModule(0, 0x02, 0x7a, 0x0b, 0x0b), "invalid block type -6"},
		{"invalid local type", funcModule(1, 1, 0x01, 0x0b), "invalid value type 0x1"},
		{"unclosed block", funcModule(0, 0x02, 0x40, 0x0b), "ends inside 1 open blocks"},
		{"code after the end", funcModule(0, 0x0b, 0x01), "instruction after the function's final end"},
		{"bodies without functions", module(section(1, 1, 0x60, 0, 0), section(10, 1, 2, 0, 0x0b)),
			"0 functions declared but 1 bodies given"},
		// A module reaching past its own globals would reach the flag.
		{"global.set past the globals", funcModule(0, 0x41, 0, 0x24, 0, 0x0b), "refers to global 0, but the module has 0 globals"},
		{"global.get past the globals", funcModule(0, 0x23, 3, 0x1a, 0x0b), "refers to global 3"},
		{"exported global past the globals", module(section(7, 1, 1, 'g', 3, 0)), "refers to global 0"},
		{"table initialiser past the globals", module(section(4, 1, 0x40, 0, 0x70, 0, 1, 0x23, 0, 0x0b)), "refers to global 0"},
		{"call past the functions", funcModule(0, 0x10, 1, 0x0b), "refers to function 1, but the module has 1 functions"},
		{"call_indirect past the types", funcModule(0, 0x41, 0, 0x11, 1, 0, 0x0b), "refers to type 1, but the module has 1 types"},
		{"memory access without memory", funcModule(0, 0x41, 0, 0x28, 2, 0, 0x1a, 0x0b), "uses a memory, but the module has none"},
		{"exported memory without memory", module(section(7, 1, 1, 'm', 2, 0)), "uses a memory, but the module has none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := interrupt.Instrument(tt.in)
			if out != nil || !errors.Is(err, interrupt.ErrMalformed) {
				t.Fatalf("got %d bytes, %v; want ErrMalformed", len(out), err)
			}
			if !strings.HasPrefix(err.Error(), "interrupt: malformed module: ") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestInstrument_Errors_alreadyInstrumented(t *testing.T) {
	// One export named like the flag, whatever it exports.
	in := module(section(7, slices.Concat([]byte{1, byte(len(interrupt.GlobalExport))}, []byte(interrupt.GlobalExport), []byte{0, 0})...))
	if _, err := interrupt.Instrument(in); err != interrupt.ErrAlreadyInstrumented {
		t.Fatalf("got %v, want ErrAlreadyInstrumented", err)
	}
}
