package config

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

var update = flag.Bool("update", false, "rewrite the want sections of testdata/env/*.txtar")

// TestLoad_Golden runs every case in testdata/env. A case is a txtar
// archive (a comment, then "-- name --" sections):
//
//	-- environ --               NAME=VALUE lines (blank lines and # comments skipped)
//	-- env NAME --              one variable whose value is the section (final newline dropped)
//	-- env NAME < path --       one variable whose value is the file testdata/<path>
//	-- env NAME < base64 path --  the same, base64-encoded
//	-- config.yaml --           the configuration file
//	-- flags --                 the flags, as a JSON object
//	-- want --                  the expected result: problems, warnings, effective config
//
// Regenerate the want sections with -update.
func TestLoad_Golden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "env", "*.txtar"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txtar"), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			ar := parseTxtar(string(data))
			dir := t.TempDir()
			env, file, flags := goldenInputs(t, ar, dir)
			cfg, warns, err := Load(env, file, flags)
			got := strings.ReplaceAll(renderResult(t, cfg, warns, err), dir, "$TMP")
			if *update {
				ar.set("want", got)
				if err := os.WriteFile(path, []byte(ar.format()), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, ok := ar.get("want")
			if !ok {
				t.Fatal("no want section; run with -update")
			}
			if got != want {
				t.Errorf("Load result differs from the want section (run with -update to accept):\n--- got\n%s\n--- want\n%s", got, want)
			}
		})
	}
}

func goldenInputs(t *testing.T, ar *txtar, dir string) (env []string, file string, flags map[string]any) {
	t.Helper()
	for _, s := range ar.sections {
		switch {
		case s.name == "want":
		case s.name == "environ":
			for line := range strings.SplitSeq(s.data, "\n") {
				if line == "" || strings.HasPrefix(line, "#") {
					continue
				}
				env = append(env, line)
			}
		case strings.HasPrefix(s.name, "env "):
			spec := strings.TrimPrefix(s.name, "env ")
			name, src, fromFile := strings.Cut(spec, " < ")
			value := strings.TrimSuffix(s.data, "\n")
			if fromFile {
				encode := false
				if p, ok := strings.CutPrefix(src, "base64 "); ok {
					src, encode = p, true
				}
				b, err := os.ReadFile(filepath.Join("testdata", src))
				if err != nil {
					t.Fatal(err)
				}
				value = string(b)
				if encode {
					value = base64.StdEncoding.EncodeToString(b)
				}
			}
			env = append(env, name+"="+value)
		case s.name == "config.yaml":
			file = filepath.Join(dir, "osohost.yaml")
			if err := os.WriteFile(file, []byte(s.data), 0o600); err != nil {
				t.Fatal(err)
			}
		case s.name == "flags":
			if err := json.Unmarshal([]byte(s.data), &flags); err != nil {
				t.Fatalf("flags section: %v", err)
			}
		default:
			t.Fatalf("unknown section %q", s.name)
		}
	}
	return env, file, flags
}

// renderResult writes what Load returned as YAML.
func renderResult(t *testing.T, cfg *Config, warns []string, err error) string {
	t.Helper()
	var out struct {
		Problems []string       `yaml:"problems,omitempty"`
		Warnings []string       `yaml:"warnings,omitempty"`
		Config   map[string]any `yaml:"config,omitempty"`
	}
	if err != nil {
		var ce *Error
		if !errors.As(err, &ce) {
			t.Fatalf("Load returned %T, want *Error: %v", err, err)
		}
		for _, p := range ce.Problems {
			out.Problems = append(out.Problems, p.String())
		}
	}
	if (cfg == nil) == (err == nil) {
		t.Fatalf("Load returned config %v and error %v", cfg != nil, err)
	}
	out.Warnings = warns
	if cfg != nil {
		out.Config = cfg.Redacted()
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(out); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// txtar is a minimal reader and writer of the txtar format.
type txtar struct {
	comment  string
	sections []txtarSection
}

type txtarSection struct{ name, data string }

func parseTxtar(s string) *txtar {
	ar := &txtar{}
	cur := &ar.comment
	for line := range strings.SplitAfterSeq(s, "\n") {
		trimmed := strings.TrimSuffix(line, "\n")
		if name, ok := strings.CutPrefix(trimmed, "-- "); ok && strings.HasSuffix(name, " --") {
			ar.sections = append(ar.sections, txtarSection{name: strings.TrimSuffix(name, " --")})
			cur = &ar.sections[len(ar.sections)-1].data
			continue
		}
		*cur += line
	}
	return ar
}

func (ar *txtar) get(name string) (string, bool) {
	for _, s := range ar.sections {
		if s.name == name {
			return s.data, true
		}
	}
	return "", false
}

func (ar *txtar) set(name, data string) {
	for i := range ar.sections {
		if ar.sections[i].name == name {
			ar.sections[i].data = data
			return
		}
	}
	ar.sections = append(ar.sections, txtarSection{name, data})
}

func (ar *txtar) format() string {
	var b strings.Builder
	b.WriteString(ar.comment)
	for _, s := range ar.sections {
		b.WriteString("-- " + s.name + " --\n")
		b.WriteString(s.data)
		if s.data != "" && !strings.HasSuffix(s.data, "\n") {
			b.WriteString("\n")
		}
	}
	return b.String()
}
