package config

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func writeFile(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "osohost.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestLoad_Precedence sets one setting in every combination of the three
// sources: the file loses to the environment, which loses to flags.
func TestLoad_Precedence(t *testing.T) {
	t.Parallel()
	type srcs struct{ file, env, flag bool }
	tests := []struct {
		in   srcs
		want string
	}{
		{srcs{}, DefaultAppName},
		{srcs{file: true}, "file"},
		{srcs{env: true}, "env"},
		{srcs{flag: true}, "flag"},
		{srcs{file: true, env: true}, "env"},
		{srcs{file: true, flag: true}, "flag"},
		{srcs{env: true, flag: true}, "flag"},
		{srcs{file: true, env: true, flag: true}, "flag"},
	}
	for _, tt := range tests {
		env := certsEnv(t, "PLUGIN__MODE=frontend")
		file, flags := "", map[string]any{}
		if tt.in.file {
			file = writeFile(t, "app:\n  name: file\n")
		}
		if tt.in.env {
			env = append(env, "app__name=env")
		}
		if tt.in.flag {
			flags["app.name"] = "flag"
		}
		cfg, _, err := Load(env, file, flags)
		if err != nil {
			t.Fatalf("%+v: %v", tt.in, err)
		}
		if cfg.App.Name != tt.want {
			t.Errorf("%+v: App.Name = %q; want %q", tt.in, cfg.App.Name, tt.want)
		}
	}
}

// TestLoad_OverriddenNotValidated: a value a later source overrides is
// never checked, so an invalid file value does not matter under a valid
// environment value.
func TestLoad_OverriddenNotValidated(t *testing.T) {
	t.Parallel()
	file := writeFile(t, "server:\n  listen: nonsense\nplugin:\n  mode: sideways\n")
	cfg, _, err := Load(certsEnv(t, "SERVER__LISTEN=:5000"), file, map[string]any{"plugin.mode": "backend"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Server.Listen != ":5000" || cfg.Plugin.Mode != ModeBackend {
		t.Errorf("Listen %q, Mode %q", cfg.Server.Listen, cfg.Plugin.Mode)
	}
}

// TestLoad_EveryProblemNamed sets many invalid variables and expects one
// error naming each, by its environment name as written, exactly once.
func TestLoad_EveryProblemNamed(t *testing.T) {
	t.Parallel()
	bad := map[string]string{
		"app__debug":                  "2",
		"APP__NAME":                   "",
		"Logging__Level":              "loud",
		"PLUGIN__MODE":                "Backend",
		"NGINX__TIMEOUT":              "0",
		"SERVER__BODY_LIMIT_BYTES":    "0",
		"SERVER__MAX_HEADER_BYTES":    "10",
		"SERVER__READ_TIMEOUT":        "soon",
		"POOL__SIZE":                  "-1",
		"LIMITS__OUTPUT_BYTES":        "big",
		"LIMITS__CALL_TIMEOUT":        "-1s",
		"MOCK__BACKEND_ENDPOINT":      "ftp://x",
		"AUTH__PARSERS__0__TYPE":      "MTLS",
		"PLUGIN__ADDONS__0__TYPE":     "signing_server",
		"CERTS__CA":                   "x",
		"AUTH__PARSERS__1__ALLOWLIST": "{}",
	}
	env := certsEnv(t)[1:] // CERTS__APP_CRT and CERTS__APP_KEY
	for k, v := range bad {
		env = append(env, k+"="+v)
	}
	_, _, err := Load(env, "", nil)
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("Load error = %v; want *Error", err)
	}
	count := map[string]int{}
	for _, p := range ce.Problems {
		count[p.Name]++
	}
	want := map[string]int{
		"PLUGIN__ADDONS__0__KEYSTORE_PATH": 1, // required field of a valid entry
		"AUTH__PARSERS__1__TYPE":           1, // an entry without a type
	}
	for k := range bad {
		if k != "AUTH__PARSERS__1__ALLOWLIST" && k != "PLUGIN__ADDONS__0__TYPE" {
			want[k] = 1
		}
	}
	if !reflect.DeepEqual(count, want) {
		t.Errorf("problems by name:\n got  %v\n want %v\n%v", count, want, err)
	}
	if !strings.HasPrefix(err.Error(), "config: 16 problems:\n\t") {
		t.Errorf("Error() = %q", err.Error())
	}
}

func TestError_Format(t *testing.T) {
	t.Parallel()
	one := &Error{Problems: []Problem{{"PLUGIN__MODE", "required"}}}
	if got := one.Error(); got != "config: PLUGIN__MODE: required" {
		t.Errorf("one problem: %q", got)
	}
	two := &Error{Problems: []Problem{{"A", "x"}, {"b.c", "y"}}}
	if got := two.Error(); got != "config: 2 problems:\n\tA: x\n\tb.c: y" {
		t.Errorf("two problems: %q", got)
	}
}

func TestLoad_EnvNames(t *testing.T) {
	t.Parallel()
	cfg, warns, err := Load(certsEnv(t,
		"pLuGiN__mOdE=backend",   // names are case-insensitive
		"app_name=other-program", // single underscore: not ours
		"APP_DEBUG=1",
		"APPNAME=x",
		"NOEQUALS",
		"=value",
		"App__Name=mine",
	), "", nil)
	if err != nil || len(warns) != 0 {
		t.Fatalf("Load: %v, warnings %q", err, warns)
	}
	if cfg.Plugin.Mode != ModeBackend || cfg.App.Name != "mine" || cfg.App.Debug {
		t.Errorf("Mode %q, Name %q, Debug %v", cfg.Plugin.Mode, cfg.App.Name, cfg.App.Debug)
	}
}

func TestLoad_FlagTypes(t *testing.T) {
	t.Parallel()
	cfg, _, err := Load(nil, "", map[string]any{
		"dev":                    true,
		"server.request_timeout": 5 * time.Second,
		"logging.level":          slog.LevelWarn,
		"pool.size":              3,
		"limits.memory_mib":      int64(64),
		"app.debug":              "yes",
		"auth.parsers.0.type":    "mtls",
		"auth.parsers.0.allowlist": map[string]any{
			"component": []any{"SHA256:yo6+LcGmR/o+YYhX9PqbaWG+IoNCMXSLGeYLnvzkqMM"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Dev = true
	want.App.Root, want.App.Debug = DefaultDevRoot, true
	want.Plugin.Mode = ModeFrontend
	want.Server.RequestTimeout, want.Limits.CallTimeout = 5*time.Second, 5*time.Second
	want.Logging.Level = slog.LevelWarn
	want.Pool.Size, want.Limits.MemoryMiB = 3, 64
	got := *cfg
	got.Certs.parsed = nil
	got.Auth = Auth{}
	want.Plugin.Addons = nil
	if !reflect.DeepEqual(&got, want) {
		t.Errorf("got  %+v\nwant %+v", got, *want)
	}
	if p, ok := cfg.Auth.MTLS(); !ok || p.Allowlists["component"].Len() != 1 {
		t.Errorf("mtls parser from flags: %+v", cfg.Auth)
	}
}

func TestLoad_File(t *testing.T) {
	t.Parallel()
	_, _, err := Load(nil, filepath.Join(t.TempDir(), "missing.yaml"), map[string]any{"dev": true})
	if err == nil || !strings.Contains(err.Error(), "missing.yaml: cannot read the configuration file: no such file or directory") {
		t.Errorf("missing file: %v", err)
	}
	cfg, _, err := Load(nil, writeFile(t, ""), map[string]any{"dev": true})
	if err != nil || cfg.Plugin.Mode != ModeFrontend {
		t.Errorf("empty file: %v", err)
	}
	_, _, err = Load(nil, writeFile(t, "- a\n- b\n"), map[string]any{"dev": true})
	if err == nil || !strings.Contains(err.Error(), "invalid YAML") {
		t.Errorf("list file: %v", err)
	}
	// Dotted keys and nested keys mean the same; aliases work in the file.
	cfg, _, err = Load(certsEnv(t), writeFile(t, "plugin.mode: backend\ngunicorn:\n  workers: 2\n"), nil)
	if err != nil || cfg.Plugin.Mode != ModeBackend || cfg.Pool.Size != 2 {
		t.Errorf("dotted keys: %v, %+v", err, cfg)
	}
}

// TestLoad_PluginApplication: a Python import string is refused unless a
// file of that name exists.
func TestLoad_PluginApplication(t *testing.T) {
	const importString = "fb.fb_plugin:FBPlugin"
	certs := certsEnv(t)
	certsEnv := func(t *testing.T, extra ...string) []string { return append(certs[:3:3], extra...) }
	t.Chdir(t.TempDir())
	_, _, err := Load(certsEnv(t, "PLUGIN__MODE=frontend", "PLUGIN__APPLICATION="+importString), "", nil)
	if err == nil || !strings.Contains(err.Error(), `PLUGIN__APPLICATION: "fb.fb_plugin:FBPlugin" looks like a Python import string; osohost needs a .wasm path`) {
		t.Errorf("import string: %v", err)
	}
	if err := os.WriteFile(importString, []byte("\x00asm"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := Load(certsEnv(t, "PLUGIN__MODE=frontend", "PLUGIN__APPLICATION="+importString), "", nil)
	if err != nil || cfg.Plugin.Application != importString {
		t.Errorf("existing file named like an import string: %v", err)
	}
	for _, ok := range []string{"plugin.wasm", "./fb.fb_plugin:FBPlugin", "/opt/plugins/signer.wasm", "fb_plugin"} {
		cfg, _, err := Load(certsEnv(t, "PLUGIN__MODE=frontend", "PLUGIN__APPLICATION="+ok), "", nil)
		if err != nil || cfg.Plugin.Application != ok {
			t.Errorf("PLUGIN__APPLICATION=%s: %v", ok, err)
		}
	}
}

// TestLoad_Concurrent runs Load on shared inputs from several goroutines,
// for the race detector.
func TestLoad_Concurrent(t *testing.T) {
	t.Parallel()
	env := certsEnv(t, "PLUGIN__MODE=backend", "APP={\"name\":\"x\"}", "AUTH__PARSERS__0__TYPE=mtls", "AUTH__PARSERS__0__ALLOWLIST={}")
	flags := map[string]any{"server.listen": ":0"}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, _, err := Load(env, "", flags); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}

func TestDefault(t *testing.T) {
	t.Parallel()
	cfg, warns, err := Load(certsEnv(t, "PLUGIN__MODE=frontend"), "", nil)
	if err != nil || len(warns) != 0 {
		t.Fatal(err, warns)
	}
	want := Default()
	want.Plugin.Mode = ModeFrontend
	cfg.Certs = Certs{}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("Load of nothing = %+v\nDefault() = %+v", *cfg, *want)
	}
}
