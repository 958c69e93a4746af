package contracts_test

import (
	"context"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The container image

func podman(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("podman")
	if err != nil {
		t.Skip("podman is not installed (Debian: apt-get install podman): the image is not built")
	}
	return p
}

// imageConfig is what `podman image inspect` reports, in part.
type imageConfig struct {
	Config struct {
		User         string              `json:"User"`
		Entrypoint   []string            `json:"Entrypoint"`
		Cmd          []string            `json:"Cmd"`
		Volumes      map[string]struct{} `json:"Volumes"`
		ExposedPorts map[string]struct{} `json:"ExposedPorts"`
		Labels       map[string]string   `json:"Labels"`
	} `json:"Config"`
}

// buildImage runs contracts/image/build.sh for target with env and returns
// the image reference; the image is removed when the test ends.
func buildImage(t *testing.T, p, target string, env map[string]string) string {
	t.Helper()
	name := fmt.Sprintf("localhost/osohost-contracts-test-%s", target)
	tag := fmt.Sprintf("t%d", time.Now().UnixNano())
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(root, "contracts", "image", "build.sh"), target)
	cmd.Env = append(os.Environ(), "TOOL="+p, "IMAGE="+name, "TAG="+tag, "CONTEXT="+filepath.Join(t.TempDir(), "ctx"))
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	dangling := func() []string {
		out, _ := exec.Command(p, "images", "--quiet", "--no-trunc", "--filter", "dangling=true").Output()
		return strings.Fields(string(out))
	}
	before := dangling()
	out, err := cmd.CombinedOutput()
	t.Cleanup(func() {
		exec.Command(p, "rmi", "--force", name+":"+tag, name+":latest").Run()
		// The layer cache this build left behind.
		for _, id := range dangling() {
			if !slices.Contains(before, id) {
				exec.Command(p, "rmi", id).Run()
			}
		}
	})
	if err != nil {
		t.Fatalf("build.sh %s: %v\n%s", target, err, out)
	}
	return name + ":" + tag
}

func inspectImage(t *testing.T, p, ref string) imageConfig {
	t.Helper()
	out, err := exec.Command(p, "image", "inspect", ref).Output()
	if err != nil {
		t.Fatalf("podman image inspect %s: %v", ref, err)
	}
	var cfgs []imageConfig
	if err := json.Unmarshal(out, &cfgs); err != nil || len(cfgs) != 1 {
		t.Fatalf("podman image inspect: %v", err)
	}
	return cfgs[0]
}

func checkImage(t *testing.T, cfg imageConfig, title string, entrypoint []string, volume, version, revision string) {
	t.Helper()
	c := cfg.Config
	if !slices.Equal(c.Entrypoint, entrypoint) {
		t.Errorf("entrypoint %q, want %q", c.Entrypoint, entrypoint)
	}
	if c.User != "65532:65532" {
		t.Errorf("user %q, want the numeric non-root 65532:65532", c.User)
	}
	if _, ok := c.Volumes[volume]; !ok {
		t.Errorf("volumes %v, want %s", c.Volumes, volume)
	}
	want := map[string]string{
		"org.opencontainers.image.title":    title,
		"org.opencontainers.image.version":  version,
		"org.opencontainers.image.revision": revision,
		"org.opencontainers.image.source":   "https://github.com/osohost/osohost",
	}
	for k, v := range want {
		if c.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, c.Labels[k], v)
		}
	}
	for _, k := range []string{"org.opencontainers.image.description", "org.opencontainers.image.licenses"} {
		if c.Labels[k] == "" {
			t.Errorf("label %s is missing", k)
		}
	}
}

// TestImage_Layout builds both images from stand-in files (no Go build of
// a static binary, so it takes seconds) and checks their configuration.
// TestImage_Build builds the real ones.
func TestImage_Layout(t *testing.T) {
	p := podman(t)
	guests := t.TempDir()
	for _, g := range []string{"queue.wasm", "signer.wasm"} {
		if err := os.WriteFile(filepath.Join(guests, g), []byte("\x00asm\x01\x00\x00\x00"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{"BIN": osohostBin, "GUESTS": guests, "VERSION": "1.2.3-test", "REVISION": "0123abcd"}
	ref := buildImage(t, p, "osohost", env)
	cfg := inspectImage(t, p, ref)
	checkImage(t, cfg, "osohost", []string{"/osohost", "run"}, "/app-root", "1.2.3-test", "0123abcd")
	if _, ok := cfg.Config.ExposedPorts["4000/tcp"]; !ok {
		t.Errorf("exposed ports %v lack 4000/tcp", cfg.Config.ExposedPorts)
	}
	checkImageFiles(t, p, ref)

	ref = buildImage(t, p, "grep11dev", env)
	checkImage(t, inspectImage(t, p, ref), "osohost-grep11dev", []string{"/grep11dev"}, "/data", "1.2.3-test", "0123abcd")
}

// checkImageFiles looks inside the image where podman can mount it (as
// root): no shell, the state directory owned by the image's user.
func checkImageFiles(t *testing.T, p, ref string) {
	t.Helper()
	out, err := exec.Command(p, "image", "mount", ref).Output()
	if err != nil {
		t.Logf("podman image mount %s: %v: the image's files are not checked", ref, err)
		return
	}
	defer exec.Command(p, "image", "unmount", ref).Run()
	dir := strings.TrimSpace(string(out))
	for _, f := range []string{"bin/sh", "usr/bin/env", "bin/busybox"} {
		if _, err := os.Lstat(filepath.Join(dir, f)); err == nil {
			t.Errorf("the image holds /%s: no shell wanted", f)
		}
	}
	for _, f := range []string{"osohost", "plugins/queue.wasm", "plugins/signer.wasm", "etc/ssl/certs/ca-certificates.crt"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("the image lacks /%s", f)
		}
	}
	if owner := fileOwner(t, filepath.Join(dir, "app-root")); owner != 65532 {
		t.Errorf("/app-root is owned by uid %d, want 65532", owner)
	}
	if owner := fileOwner(t, filepath.Join(dir, "osohost")); owner != 0 {
		t.Errorf("/osohost is owned by uid %d, want root (not writable by the user)", owner)
	}
}

func TestImage_Build(t *testing.T) {
	p := podman(t)
	if os.Getenv("OSOHOST_IMAGE_TEST") != "1" {
		t.Skip("the real image build (a static Go build, 1-3 minutes on a cold cache) runs with OSOHOST_IMAGE_TEST=1: make contracts-check")
	}
	guests := os.Getenv("OSOHOST_GUESTS")
	if guests == "" {
		guests = t.TempDir()
		for _, g := range []string{"queue", "signer"} {
			cmd := exec.Command("go", "build", "-buildmode=c-shared", "-trimpath", "-o", filepath.Join(guests, g+".wasm"), "./examples/"+g)
			cmd.Dir = root
			cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("build %s: %v\n%s", g, err, out)
			}
		}
	}
	env := map[string]string{"GUESTS": guests, "VERSION": "9.9.9-test", "REVISION": "feedface"}
	ref := buildImage(t, p, "osohost", env)
	checkImage(t, inspectImage(t, p, ref), "osohost", []string{"/osohost", "run"}, "/app-root", "9.9.9-test", "feedface")
	checkImageFiles(t, p, ref)
	checkStatic(t, p, ref, "osohost")
	g11 := buildImage(t, p, "grep11dev", env)
	checkStatic(t, p, g11, "grep11dev")

	playDryRun(t, p, ref, g11)
}

// playDryRun creates (without starting) the pods of local/play.yaml from
// the given images with `podman kube play --start=false`, under names of
// its own so that a running local play is left alone, and checks the
// environment podman gives the backend.
func playDryRun(t *testing.T, p, osohostRef, grep11Ref string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "local")
	cmd := exec.Command(filepath.Join(root, "contracts", "local", "play.sh"), "gen")
	cmd.Env = append(os.Environ(), "OSOHOST="+osohostBin, "OUT="+out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("play.sh gen: %v\n%s", err, b)
	}
	suffix := fmt.Sprintf("ct%d", time.Now().UnixNano()%1e9)
	rename := strings.NewReplacer(
		"osohost-frontend", "osohost-frontend-"+suffix,
		"osohost-backend", "osohost-backend-"+suffix,
		"osohost-grep11", "osohost-grep11-"+suffix,
		"localhost/osohost:latest", osohostRef,
		"localhost/osohost-grep11dev:latest", grep11Ref,
		"hostPort: 4000", "hostPort: 0",
		"hostPort: 4001", "hostPort: 0",
	)
	files := map[string]string{}
	for _, f := range []string{"configmap-frontend.yaml", "configmap-backend.yaml", "secret-frontend.json", "secret-backend.json", "secret-grep11-tls.yaml"} {
		b, err := os.ReadFile(filepath.Join(out, f))
		if err != nil {
			t.Fatal(err)
		}
		files[f] = filepath.Join(out, "t-"+f)
		if err := os.WriteFile(files[f], []byte(rename.Replace(string(b))), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	playYAML, _ := os.ReadFile(filepath.Join(root, "contracts", "local", "play.yaml"))
	playFile := filepath.Join(out, "t-play.yaml")
	if err := os.WriteFile(playFile, []byte(rename.Replace(string(playYAML))), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) error {
		cmd := exec.Command(p, args...)
		cmd.Dir = out
		b, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("podman %s: %v\n%s", strings.Join(args, " "), err, b)
		}
		return nil
	}
	names := []string{rename.Replace("osohost-frontend"), rename.Replace("osohost-backend"), rename.Replace("osohost-grep11-tls")}
	volumes := []string{rename.Replace("osohost-frontend-state"), rename.Replace("osohost-backend-state"), rename.Replace("osohost-grep11-state")}
	t.Cleanup(func() {
		exec.Command(p, "kube", "down", playFile).Run()
		for _, pod := range names[:2] {
			exec.Command(p, "pod", "rm", "--force", pod).Run()
		}
		for _, n := range names {
			exec.Command(p, "secret", "rm", n).Run()
		}
		// A secret volume is a podman volume named after its secret.
		for _, v := range append(volumes, names[2]) {
			exec.Command(p, "volume", "rm", "--force", v).Run()
		}
	})
	steps := [][]string{
		{"secret", "create", names[0], files["secret-frontend.json"]},
		{"secret", "create", names[1], files["secret-backend.json"]},
		{"secret", "create", names[2], files["secret-grep11-tls.yaml"]},
	}
	for _, v := range volumes {
		steps = append(steps, []string{"volume", "create", "--opt", "o=uid=65532,gid=65532", v})
	}
	steps = append(steps, []string{"kube", "play", "--build=false", "--start=false",
		"--configmap", files["configmap-frontend.yaml"], "--configmap", files["configmap-backend.yaml"], playFile})
	for _, s := range steps {
		if err := run(s...); err != nil {
			t.Fatal(err)
		}
	}
	b, err := exec.Command(p, "inspect", rename.Replace("osohost-backend")+"-osohost", "--format", "{{json .Config.Env}}").Output()
	if err != nil {
		t.Fatalf("podman inspect: %v", err)
	}
	var envList []string
	if err := json.Unmarshal(b, &envList); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, kv := range envList {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	checkRequiredEnv(t, "podman backend", "backend", env)
	delete(env, "PATH")
	osohostConfig(t, "podman backend", env)
}

// checkStatic fails unless the binary at /name in the image is statically
// linked (the image has no libc to load it with).
func checkStatic(t *testing.T, p, ref, name string) {
	t.Helper()
	out, err := exec.Command(p, "image", "mount", ref).Output()
	if err != nil {
		t.Logf("podman image mount: %v: not checked that /%s is static", err, name)
		return
	}
	defer exec.Command(p, "image", "unmount", ref).Run()
	if interp := elfInterpreter(t, filepath.Join(strings.TrimSpace(string(out)), name)); interp != "" {
		t.Errorf("/%s is dynamically linked (interpreter %s): build it with CGO_ENABLED=0", name, interp)
	}
}

func fileOwner(t *testing.T, path string) int {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		t.Skip("file owners are not available on this system")
	}
	return int(st.Uid)
}

// elfInterpreter returns the program interpreter (PT_INTERP) of an ELF
// file: empty for a static binary.
func elfInterpreter(t *testing.T, path string) string {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b, _ := io.ReadAll(p.Open())
			return strings.TrimRight(string(b), "\x00")
		}
	}
	return ""
}
