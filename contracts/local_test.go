package contracts_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// local/: podman kube play

func TestLocal_Play(t *testing.T) {
	out := filepath.Join(t.TempDir(), "local")
	code, stdout, stderr := runScript(t, "local/play.sh", map[string]string{"OSOHOST": osohostBin, "OUT": out})
	if code != 2 {
		t.Errorf("play.sh without a command: exit %d, want 2", code)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(root, "contracts", "local", "play.sh"), "gen")
	cmd.Env = append(os.Environ(), "OSOHOST="+osohostBin, "OUT="+out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("play.sh gen: %v\n%s%s%s", err, b, stdout, stderr)
	}

	configMaps := map[string]map[string]string{}
	for _, mode := range []string{"frontend", "backend"} {
		b, err := os.ReadFile(filepath.Join(out, "configmap-"+mode+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		cm := find(t, decodeAll(t, "configmap", b), "ConfigMap", "osohost-"+mode)
		checkNoSecrets(t, "local ConfigMap "+cm.Metadata.Name, cm.Data)
		configMaps[cm.Metadata.Name] = cm.Data
	}
	secrets := map[string]map[string]string{}
	for _, mode := range []string{"frontend", "backend"} {
		b, err := os.ReadFile(filepath.Join(out, "secret-"+mode+".json"))
		if err != nil {
			t.Fatal(err)
		}
		var raw map[string][]byte // the format podman reads: base64 values
		if err := json.Unmarshal(b, &raw); err != nil {
			t.Fatalf("secret-%s.json: %v", mode, err)
		}
		m := map[string]string{}
		for k, v := range raw {
			m[k] = string(v)
		}
		secrets["osohost-"+mode] = m
	}
	tlsSecret := func() object {
		b, err := os.ReadFile(filepath.Join(out, "secret-grep11-tls.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		return find(t, decodeAll(t, "grep11 secret", b), "Secret", "osohost-grep11-tls")
	}()

	play, err := os.ReadFile(filepath.Join(root, "contracts", "local", "play.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	script, _ := os.ReadFile(filepath.Join(root, "contracts", "local", "play.sh"))
	objs := decodeAll(t, "play.yaml", play)
	for _, mode := range []string{"frontend", "backend"} {
		pod := find(t, objs, "Pod", "osohost-"+mode)
		ct := containerNamed(t, pod, "osohost")
		if ct.Image != "localhost/osohost:latest" {
			t.Errorf("%s image %q, want what make image tags", mode, ct.Image)
		}
		if sc := ct.SecurityContext; sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || !sc.ReadOnlyRootFilesystem || !slices.Equal(sc.Capabilities.Drop, []string{"ALL"}) {
			t.Errorf("%s: want non-root, a read-only root filesystem and no capabilities", mode)
		}
		env := envOf(ct)
		for _, ef := range ct.EnvFrom {
			switch {
			case ef.ConfigMapRef != nil:
				data, ok := configMaps[ef.ConfigMapRef.Name]
				if !ok {
					t.Fatalf("%s: ConfigMap %s is not generated", mode, ef.ConfigMapRef.Name)
				}
				for k, v := range data {
					env[k] = v
				}
			case ef.SecretRef != nil:
				data, ok := secrets[ef.SecretRef.Name]
				if !ok {
					t.Fatalf("%s: secret %s is not generated", mode, ef.SecretRef.Name)
				}
				for k, v := range data {
					env[k] = v
				}
			}
		}
		checkRequiredEnv(t, "local "+mode, mode, env)
		cfg := osohostConfig(t, "local "+mode, env)
		if cfg.Plugin.Mode != mode {
			t.Errorf("local %s: osohost config mode %q", mode, cfg.Plugin.Mode)
		}
		for _, v := range pod.Spec.Volumes {
			if v.PersistentVolumeClaim != nil && !strings.Contains(string(script), v.PersistentVolumeClaim.ClaimName) {
				t.Errorf("%s: play.sh does not create volume %s", mode, v.PersistentVolumeClaim.ClaimName)
			}
		}
		if mode == "backend" {
			g := containerNamed(t, pod, "grep11")
			args := strings.Join(g.Args, " ")
			if !strings.Contains(args, "--listen 127.0.0.1:9876") || env["PLUGIN__ADDONS__0__GREP11_ENDPOINT"] != "localhost:9876" {
				t.Errorf("the backend dials %s but grep11 runs with %q", env["PLUGIN__ADDONS__0__GREP11_ENDPOINT"], args)
			}
			for _, f := range []string{"ca.crt", "server.crt", "server.key"} {
				if !strings.Contains(args, "/etc/grep11/"+f) || tlsSecret.Data[f] == "" {
					t.Errorf("grep11 needs %s: in its args and in the secret", f)
				}
			}
		}
	}
}
