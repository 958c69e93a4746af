package render_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/osohost/osohost/contracts/internal/render"
)

func TestParseTFVars(t *testing.T) {
	src := `# a comment
NAME = "plain"   # trailing comment
ESCAPED = "a\"b\\c\nd\u00e9 $${x} %%{y}"
// another comment
PEM = <<-EOT
    -----BEGIN CERTIFICATE-----
      indented
    -----END CERTIFICATE-----
    EOT
RAW = <<EOT
  kept
EOT
EMPTY = <<-EOT
EOT
FLAG = true
NUM = 4000
UNSET = null
/* a
block comment */
LAST="x"`
	got, err := render.ParseTFVars("t.tfvars", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"NAME":    "plain",
		"ESCAPED": "a\"b\\c\ndé ${x} %{y}",
		"PEM":     "-----BEGIN CERTIFICATE-----\n  indented\n-----END CERTIFICATE-----\n",
		"RAW":     "  kept\n",
		"EMPTY":   "",
		"FLAG":    "true",
		"NUM":     "4000",
		"LAST":    "x",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func TestParseTFVars_Errors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"interpolation", `A = "${var.x}"`, `t.tfvars:1: template sequences`},
		{"expression", `A = var.x`, `t.tfvars:1: A: only literal`},
		{"list", "A = \"x\"\nB = [1]", `t.tfvars:2: B: only literal`},
		{"twice", "A = \"x\"\n\nA = \"y\"", `t.tfvars:3: A is already set on line 1`},
		{"unterminated heredoc", "A = <<EOT\nx\n", `heredoc EOT is not terminated`},
		{"unterminated string", `A = "x`, `t.tfvars:1: unterminated string`},
		{"no equals", `A "x"`, `t.tfvars:1: A: expected =`},
		{"trailing", `A = "x" "y"`, `unexpected a string after the value`},
		{"line after heredoc", "A = <<EOT\nx\nEOT\nB = [", `t.tfvars:4: B: only literal`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := render.ParseTFVars("t.tfvars", []byte(tt.src))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestParseVariables(t *testing.T) {
	src := `
variable "REQUIRED" {
  type        = string
  description = "needed"
}

variable "WITH_DEFAULT" {
  type    = string
  default = "d"
}

variable "NULL_DEFAULT" {
  default = null
}

variable "NOT_NULLABLE" {
  default  = null
  nullable = false
}

variable "SECRET" {
  sensitive = true
  default   = <<-EOT
    multi
  EOT
}
variable "DEBUG" { type = bool
  default = false }
`
	vars, err := render.ParseVariables("v.tf", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	type v struct {
		name, def  string
		hasDefault bool
		sensitive  bool
	}
	var got []v
	for _, x := range vars {
		got = append(got, v{x.Name, x.Default, x.HasDefault, x.Sensitive})
	}
	want := []v{
		{"REQUIRED", "", false, false},
		{"WITH_DEFAULT", "d", true, false},
		{"NULL_DEFAULT", "", true, false},
		{"NOT_NULLABLE", "", false, false},
		{"SECRET", "multi\n", true, true},
		{"DEBUG", "false", true, false},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestParseVariables_Errors(t *testing.T) {
	tests := []struct{ name, src, want string }{
		{"other block", `resource "x" "y" {}`, `only variable blocks`},
		{"nested block", "variable \"A\" {\n  validation {\n  }\n}", `v.tf:2: variable A: nested blocks`},
		{"twice", "variable \"A\" {}\nvariable \"A\" {}", `v.tf:2: variable A is declared twice`},
		{"bad type", `variable "A" { type = list(string) }`, `only the types string, bool and number`},
		{"unknown attribute", "variable \"A\" {\n  ephemeral = true\n}", `v.tf:2: variable A: unsupported attribute ephemeral`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := render.ParseVariables("v.tf", []byte(tt.src))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestRender(t *testing.T) {
	values := map[string]string{"name": "a \"b\"\n<c>", "port": "4000"}
	src := "x: ${tpl.port}\ny: ${ jsonencode(tpl.name) }\nz: ${base64encode(tpl.port)}\nw: ${jsonencode(base64encode(tpl.port))}\nlit: $${tpl.name} %%{ if }\n"
	got, err := render.Render("t.tftpl", []byte(src), values)
	if err != nil {
		t.Fatal(err)
	}
	want := "x: 4000\ny: \"a \\\"b\\\"\\n\\u003cc\\u003e\"\nz: NDAwMA==\nw: \"NDAwMA==\"\nlit: ${tpl.name} %{ if }\n"
	if string(got) != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if refs := render.References([]byte(src)); !reflect.DeepEqual(refs, []string{"tpl.name", "tpl.port"}) {
		t.Errorf("References = %q", refs)
	}
}

func TestRender_Errors(t *testing.T) {
	tests := []struct{ name, src, want string }{
		{"unknown names, all of them", "${tpl.b}\n${jsonencode(tpl.a)}\n${tpl.b}", "no value for tpl.a, tpl.b"},
		{"directive", "a\n%{ if true }x%{ endif }", "line 2: template directives"},
		{"other expression", "${var.x}", "only tpl.NAME"},
		{"function", "${upper(tpl.x)}", "only tpl.NAME"},
		{"strip marker", "${~tpl.x}", "strip markers"},
		{"unterminated", "${tpl.x", "unterminated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := render.Render("t.tftpl", []byte(tt.src), map[string]string{"x": "1"})
			var te *render.TemplateError
			if !errors.As(err, &te) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want a TemplateError containing %q", err, tt.want)
			}
			if out != nil {
				t.Errorf("output %q returned with an error", out)
			}
		})
	}
}

func TestResolve(t *testing.T) {
	decls := []render.Variable{
		{Name: "A"},
		{Name: "B", Default: "b", HasDefault: true},
		{Name: "C", Default: "c", HasDefault: true},
		{Name: "D"},
	}
	got, err := render.Resolve("f", decls,
		map[string]string{"A": "from-file", "B": ""},
		[]string{"TF_VAR_A=from-env", "TF_VAR_C=env-c", "TF_VAR_D=env-d", "TF_VAR_X=ignored", "OTHER=1"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"A": "from-file", "B": "", "C": "env-c", "D": "env-d"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}

	_, err = render.Resolve("f", decls, map[string]string{"A": "  \n"}, nil)
	var me *render.MissingError
	if !errors.As(err, &me) || !reflect.DeepEqual(me.Names, []string{"A", "D"}) {
		t.Fatalf("error %v, want A and D missing", err)
	}
	if _, err := render.Resolve("f", decls, map[string]string{"A": "x", "D": "y", "TYPO": "z"}, nil); err == nil || !strings.Contains(err.Error(), "not declared in variables.tf: TYPO") {
		t.Fatalf("error %v, want TYPO named as undeclared", err)
	}
}

func TestArchive(t *testing.T) {
	files := map[string][]byte{"podman-play.yml": []byte("kind: Pod\n"), "b.yml": []byte("x")}
	a1, err := render.Archive(files)
	if err != nil {
		t.Fatal(err)
	}
	a2, _ := render.Archive(files)
	if a1 != a2 {
		t.Error("archive is not deterministic")
	}
	back, err := render.Unarchive(a1)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, files) {
		t.Errorf("round trip: got %q", back)
	}
}

func TestWrite_NotEncrypted(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	if err := os.MkdirAll(out, 0o700); err != nil {
		t.Fatal(err)
	}
	// A stale encrypted workload of an earlier run must not survive.
	if err := os.WriteFile(filepath.Join(out, render.UserDataFile), []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := &render.Result{Values: map[string]string{}, Play: []byte("kind: Pod\n"), Workload: []byte("type: workload\n")}
	written, err := render.Write(context.Background(), r, out, filepath.Join(t.TempDir(), "no-such-tool"))
	if !errors.Is(err, render.ErrNotEncrypted) {
		t.Fatalf("error %v, want ErrNotEncrypted", err)
	}
	if len(written) != 1 || filepath.Base(written[0]) != render.PlainWorkloadFile {
		t.Fatalf("wrote %q", written)
	}
	fi, err := os.Stat(written[0])
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("plaintext workload: %v, mode %v; want 0600", err, fi.Mode())
	}
	if _, err := os.Stat(filepath.Join(out, render.UserDataFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale %s kept: %v", render.UserDataFile, err)
	}
	entries, _ := os.ReadDir(out)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}
