package oso

import (
	"encoding/json"
	"testing"
)

func TestAppendJSONString(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", `""`},
		{"plain", "hello", `"hello"`},
		{"quote and backslash", `a"b\c`, `"a\"b\\c"`},
		{"controls", "\n\r\t\x00\x1f", `"\n\r\t\u0000\u001f"`},
		{"non-ASCII kept", "é€😀", `"é€😀"`},
		{"invalid UTF-8", "a\xffb\xc3", `"a\ufffdb\ufffd"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(AppendJSONString([]byte("x"), tt.in))
			if got != "x"+tt.want {
				t.Errorf("AppendJSONString(%q) = %s, want x%s", tt.in, got, tt.want)
			}
		})
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "a\"\\", "\x00\xff", "é😀\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := AppendJSONString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("AppendJSONString(%q) = %s: not JSON: %v", s, b, err)
		}
		want, _ := json.Marshal(s) // encoding/json replaces invalid UTF-8 as well
		var w string
		_ = json.Unmarshal(want, &w)
		if got != w {
			t.Fatalf("AppendJSONString(%q) decodes to %q, want %q", s, got, w)
		}
	})
}

func TestJSONObject(t *testing.T) {
	o := NewJSONObject([]byte("prefix:"))
	if got := string(o.End()); got != "prefix:{}" {
		t.Errorf("empty object = %s", got)
	}
	o = NewJSONObject(nil)
	o.Int("accepted", 3)
	o.String("q\"", "a\nb")
	o.Bool("ok", true)
	o.Raw("list", []byte(`[1,2]`))
	got := o.End()
	const want = `{"accepted":3,"q\"":"a\nb","ok":true,"list":[1,2]}`
	if string(got) != want {
		t.Errorf("End() = %s, want %s", got, want)
	}
	if !json.Valid(got) {
		t.Errorf("End() is not valid JSON")
	}
}
