package schema_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/osohost/osohost/host/schema"
)

func TestValidateJSON(t *testing.T) {
	t.Parallel()
	valid := []string{
		`null`, `true`, `false`, `0`, `-0`, `-0.0e-0`, `1E+2`, `123.456e78`, `""`, `"\u0000"`, `"\ud83c\udf89"`,
		`[]`, `{}`, ` [ 1 , "a" , { "b" : [ ] } ] `, `{"a":1,"a":2}`, "\"\x7f\u00e9\U0001f389\"",
		`["` + strings.Repeat("x", 1000) + `"]`, `1` + strings.Repeat("0", 5000),
		strings.Repeat("[", 64) + strings.Repeat("]", 64),
	}
	for _, in := range valid {
		if err := schema.ValidateJSON([]byte(in), 0); err != nil {
			t.Errorf("ValidateJSON(%.40q) = %v", in, err)
		}
		if !json.Valid([]byte(in)) {
			t.Errorf("test bug: %.40q is not valid JSON", in)
		}
	}
}

func TestValidateJSON_Errors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		in       string
		depth    int
		tooLarge bool
	}{
		{"empty", ``, 0, false},
		{"space", ` `, 0, false},
		{"two values", `1 2`, 0, false},
		{"trailing garbage", `{}x`, 0, false},
		{"byte order mark", "\xef\xbb\xbf1", 0, false},
		{"NaN", `NaN`, 0, false},
		{"Infinity", `[Infinity]`, 0, false},
		{"leading zero", `01`, 0, false},
		{"plus", `+1`, 0, false},
		{"hex", `0x1`, 0, false},
		{"single quotes", `'a'`, 0, false},
		{"unquoted key", `{a:1}`, 0, false},
		{"trailing comma", `[1,]`, 0, false},
		{"comment", `[1]//`, 0, false},
		{"control character", "\"\t\"", 0, false},
		{"invalid UTF-8", "\"\xff\"", 0, false},
		{"lone surrogate", `"\ud800"`, 0, false},
		{"unterminated", `{"a":`, 0, false},
		{"depth", `[[[]]]`, 2, true},
		{"default depth", strings.Repeat("[", 65) + strings.Repeat("]", 65), 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := schema.ValidateJSON([]byte(tt.in), tt.depth)
			if err == nil {
				t.Fatal("no error")
			}
			if tt.tooLarge != errors.Is(err, schema.ErrTooLarge) || tt.tooLarge == errors.Is(err, schema.ErrInvalid) {
				t.Errorf("wrong kind: %v", err)
			}
		})
	}
}
