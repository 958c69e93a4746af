package contracts_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/osohost/osohost/contracts/internal/render"
)

// The confidential-VM (HPVS) workloads: frontend/, backend/, grep11/

var components = []string{"frontend", "backend", "grep11"}

// sampleVars are test values for every required variable of a component.
func sampleVars(t *testing.T, component string) map[string]string {
	v := map[string]string{"WORKLOAD_VOL_SEED": "test-seed"}
	switch component {
	case "frontend", "backend":
		v["CERTS_CA"] = readPKI(t, "ca.crt")
		v["CERTS_APP_CRT"] = readPKI(t, "server.crt")
		v["CERTS_APP_KEY"] = readPKI(t, "server.key")
		v["ALLOWLIST"] = fmt.Sprintf(`{"component": [%q]}`, fingerprint)
		v["PLUGIN_APPLICATION"] = "/plugins/" + component + ".wasm"
		v[strings.ToUpper(component)+"_PLUGIN_IMAGE"] = "registry.example.com/oso/" + component + "@sha256:0123"
		if component == "backend" {
			v["GREP11_ENDPOINT"] = "grep11.example.test:9876"
			v["GREP11_CA"] = b64(readPKI(t, "ca.crt"))
			v["GREP11_CLIENT_CERT"] = b64(readPKI(t, "client.crt"))
			v["GREP11_CLIENT_KEY"] = b64(readPKI(t, "client.key"))
		}
	case "grep11":
		v["IMAGE"] = "registry.example.com/oso/osohost-grep11dev@sha256:0123"
		v["GREP11_SERVER_CERT"] = readPKI(t, "server.crt")
		v["GREP11_SERVER_KEY"] = readPKI(t, "server.key")
		v["GREP11_CLIENT_CA"] = readPKI(t, "ca.crt")
	}
	return v
}

// writeTFVars writes vars as a terraform.tfvars the way operators do:
// multi-line values as indented heredocs, the rest quoted.
func writeTFVars(t *testing.T, vars map[string]string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("# test values\n")
	names := make([]string, 0, len(vars))
	for n := range vars {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		v := vars[n]
		if strings.Contains(v, "\n") && strings.HasSuffix(v, "\n") {
			fmt.Fprintf(&b, "%s = <<-EOT\n", n)
			for line := range strings.Lines(v) {
				b.WriteString("  " + line)
			}
			b.WriteString("  EOT\n")
			continue
		}
		fmt.Fprintf(&b, "%s = %s\n", n, hclQuote(v))
	}
	path := filepath.Join(t.TempDir(), "terraform.tfvars")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// hclQuote writes s as an HCL quoted string.
func hclQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", `\r`, "\t", `\t`, "${", "$${", "%{", "%%{")
	return `"` + r.Replace(s) + `"`
}

func buildComponent(t *testing.T, component string, vars map[string]string) *render.Result {
	t.Helper()
	res, err := render.Build(render.Options{
		Dir:     filepath.Join(root, "contracts", component),
		Name:    component,
		VarFile: writeTFVars(t, vars),
	})
	if err != nil {
		t.Fatalf("render %s: %v", component, err)
	}
	return res
}

func TestHPVS_Render(t *testing.T) {
	for _, c := range components {
		t.Run(c, func(t *testing.T) {
			vars := sampleVars(t, c)
			res := buildComponent(t, c, vars)
			objs := decodeAll(t, c+" pod spec", res.Play)
			pod := find(t, objs, "Pod", c+"-pod")

			for _, ct := range pod.Spec.Containers {
				sc := ct.SecurityContext
				if !sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
					!slices.Equal(sc.Capabilities.Drop, []string{"ALL"}) {
					t.Errorf("container %s: want a read-only root filesystem, no privilege escalation and every capability dropped", ct.Name)
				}
			}

			switch c {
			case "frontend", "backend":
				ct := containerNamed(t, pod, c+"-plugin")
				if ct.Image != vars[strings.ToUpper(c)+"_PLUGIN_IMAGE"] {
					t.Errorf("image %q", ct.Image)
				}
				if len(ct.Ports) != 1 || ct.Ports[0].ContainerPort != 4000 || ct.Ports[0].HostPort != 4000 {
					t.Errorf("ports %+v, want 4000 published on 4000", ct.Ports)
				}
				env := envOf(ct)
				checkRequiredEnv(t, c, c, env)
				// Values arrive byte for byte, PEM newlines included.
				if env["CERTS__APP_KEY"] != vars["CERTS_APP_KEY"] || env["CERTS__CA"] != vars["CERTS_CA"] {
					t.Error("certificates changed on their way through the template")
				}
				cfg := osohostConfig(t, c, env)
				if cfg.Plugin.Mode != c || cfg.Plugin.Application != vars["PLUGIN_APPLICATION"] {
					t.Errorf("osohost config: mode %q, application %q", cfg.Plugin.Mode, cfg.Plugin.Application)
				}
				if c == "backend" {
					if len(cfg.Plugin.Addons) != 1 || cfg.Plugin.Addons[0].GREP11Endpoint != vars["GREP11_ENDPOINT"] ||
						cfg.Plugin.Addons[0].KeystorePath != "/app-root/keystore" {
						t.Errorf("osohost config: addons %+v", cfg.Plugin.Addons)
					}
				}
				mountsAt(t, pod, ct, "/app-root", "/data")
			case "grep11":
				secret := find(t, objs, "Secret", "grep11-tls")
				want := map[string]string{
					"ca.crt":     vars["GREP11_CLIENT_CA"],
					"server.crt": vars["GREP11_SERVER_CERT"],
					"server.key": vars["GREP11_SERVER_KEY"],
				}
				for k, v := range want {
					got, err := base64.StdEncoding.DecodeString(secret.Data[k])
					if err != nil || string(got) != v {
						t.Errorf("Secret grep11-tls %s: does not hold the variable's PEM (%v)", k, err)
					}
				}
				ct := containerNamed(t, pod, "grep11")
				args := strings.Join(ct.Args, " ")
				for _, a := range []string{"--ca /etc/grep11/ca.crt", "--cert /etc/grep11/server.crt", "--key /etc/grep11/server.key", "--master-key-file /data/", "--listen 0.0.0.0:9876"} {
					if !strings.Contains(args, a) {
						t.Errorf("grep11 args %q lack %q", args, a)
					}
				}
				mountsAt(t, pod, ct, "/data", "/data")
			}

			// The workload section: the pod spec in play.archive and the
			// encrypted volume.
			var w struct {
				Type string `yaml:"type"`
				Play struct {
					Archive string `yaml:"archive"`
				} `yaml:"play"`
				Volumes map[string]struct {
					Filesystem, Mount, Seed string
				} `yaml:"volumes"`
			}
			if err := yaml.Unmarshal(res.Workload, &w); err != nil {
				t.Fatal(err)
			}
			files, err := render.Unarchive(w.Play.Archive)
			if err != nil {
				t.Fatalf("play.archive: %v", err)
			}
			if len(files) != 1 || !bytes.Equal(files[render.PlayFile], res.Play) {
				t.Errorf("play.archive holds %d files, want exactly %s with the pod spec", len(files), render.PlayFile)
			}
			if len(w.Volumes) != 1 {
				t.Fatalf("volumes %+v, want one", w.Volumes)
			}
			for name, v := range w.Volumes {
				if v.Mount != "/data" || v.Seed != "test-seed" || v.Filesystem != "ext4" {
					t.Errorf("volume %s: %+v", name, v)
				}
			}
		})
	}
}

// mountsAt checks that ct mounts the pod's hostPath hostPath at path.
func mountsAt(t *testing.T, pod object, ct container, path, hostPath string) {
	t.Helper()
	for _, m := range ct.VolumeMounts {
		if m.MountPath != path {
			continue
		}
		for _, v := range pod.Spec.Volumes {
			if v.Name == m.Name && v.HostPath != nil && v.HostPath.Path == hostPath {
				return
			}
		}
	}
	t.Errorf("container %s does not mount host path %s at %s", ct.Name, hostPath, path)
}

func TestHPVS_MissingVariables(t *testing.T) {
	for _, c := range components {
		t.Run(c, func(t *testing.T) {
			vars := sampleVars(t, c)
			delete(vars, "WORKLOAD_VOL_SEED")
			var dropped string
			for _, n := range []string{"CERTS_APP_KEY", "GREP11_SERVER_KEY"} {
				if _, ok := vars[n]; ok {
					dropped = n
					vars[n] = "  " // empty counts as missing
				}
			}
			wantNames := []string{dropped, "WORKLOAD_VOL_SEED"}
			slices.Sort(wantNames)
			varFile := writeTFVars(t, vars)

			_, err := render.Build(render.Options{Dir: filepath.Join(root, "contracts", c), Name: c, VarFile: varFile})
			me, ok := err.(*render.MissingError)
			if !ok || !slices.Equal(me.Names, wantNames) {
				t.Fatalf("error %v, want a MissingError naming %v", err, wantNames)
			}

			// The same through the operator's script: exit 1, the names on
			// stderr, no value, nothing written.
			out := filepath.Join(t.TempDir(), "out")
			code, _, stderr := runScript(t, "create-"+c+".sh", map[string]string{"VAR_FILE": varFile, "OUTPUT_DIR": out})
			if code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			for _, n := range wantNames {
				if !strings.Contains(stderr, n) {
					t.Errorf("stderr does not name %s:\n%s", n, stderr)
				}
			}
			if strings.Contains(stderr, "BEGIN") {
				t.Errorf("stderr shows a value:\n%s", stderr)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("output directory created on failure: %v", err)
			}
		})
	}
}

func TestHPVS_TemplateErrors(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"variables.tf", "workload.yml.tftpl"} {
		b, err := os.ReadFile(filepath.Join(root, "contracts", "frontend", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	pod := "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\nspec:\n  containers:\n    - name: c\n      image: ${tpl.frontend_plugin_image}\n      args: [${tpl.no_such_variable}]\n"
	if err := os.WriteFile(filepath.Join(dir, "frontend.yml.tftpl"), []byte(pod), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := render.Build(render.Options{Dir: dir, Name: "frontend", VarFile: writeTFVars(t, sampleVars(t, "frontend"))})
	if err == nil || !strings.Contains(err.Error(), "tpl.no_such_variable") {
		t.Fatalf("error %v, want it to name tpl.no_such_variable", err)
	}
}

// runScript runs contracts/<name> with the prebuilt renderer and extra
// environment, and returns its exit code, stdout and stderr.
func runScript(t *testing.T, name string, env map[string]string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(root, "contracts", name))
	cmd.Dir = t.TempDir()
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "OSOHOST_RENDER=" + renderBin}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s: %v", name, ctx.Err())
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return code, stdout.String(), stderr.String()
}

// fakeContractCLI writes a stand-in for the platform's encryption tool: it
// checks its arguments, keeps its input in dir/input (and the certificate
// in dir/cert) and prints an encrypted-looking text.
func fakeContractCLI(t *testing.T, dir string) string {
	t.Helper()
	script := `#!/bin/sh
set -eu
[ "$1 $2 $3" = "encrypt-string --in -" ] || { echo "unexpected arguments: $*" >&2; exit 9; }
if [ $# -ge 5 ] && [ "$4" = --cert ]; then cp "$5" "` + dir + `/cert"; fi
cat > "` + dir + `/input"
printf 'hyper-protect-basic.%s.%s\n' "$(printf pw | base64)" "$(base64 < "` + dir + `/input" | tr -d '\n' | cut -c1-32)"
`
	path := filepath.Join(dir, "contract-cli")
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestHPVS_Scripts(t *testing.T) {
	vars := sampleVars(t, "backend")
	varFile := writeTFVars(t, vars)
	want := buildComponent(t, "backend", vars)
	fake := t.TempDir()
	cli := fakeContractCLI(t, fake)

	t.Run("encrypted", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "out")
		code, stdout, stderr := runScript(t, "create-backend.sh", map[string]string{
			"VAR_FILE": varFile, "OUTPUT_DIR": out, "CONTRACT_CLI": cli,
			"TF_VAR_HPCR_CERT": readPKI(t, "ca.crt"),
		})
		if code != 0 {
			t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
		}
		ud, err := os.ReadFile(filepath.Join(out, render.UserDataFile))
		if err != nil || !bytes.HasPrefix(ud, []byte("hyper-protect-basic.")) {
			t.Fatalf("user-data: %v %q", err, ud)
		}
		input, _ := os.ReadFile(filepath.Join(fake, "input"))
		if !bytes.Equal(input, want.Workload) {
			t.Error("the encryption tool was not given the rendered workload")
		}
		if cert, _ := os.ReadFile(filepath.Join(fake, "cert")); string(cert) != readPKI(t, "ca.crt") {
			t.Error("HPCR_CERT was not passed to the encryption tool with --cert")
		}
		entries, _ := os.ReadDir(out)
		if len(entries) != 1 {
			t.Errorf("output holds %d files, want only %s (plaintext removed without DEBUG)", len(entries), render.UserDataFile)
		}
	})

	t.Run("debug keeps the plaintext", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "out")
		code, stdout, stderr := runScript(t, "create-backend.sh", map[string]string{
			"VAR_FILE": varFile, "OUTPUT_DIR": out, "CONTRACT_CLI": cli, "TF_VAR_DEBUG": "true",
		})
		if code != 0 {
			t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
		}
		for _, f := range []string{render.UserDataFile, render.PlainWorkloadFile, render.PlainPlayFile} {
			fi, err := os.Stat(filepath.Join(out, f))
			if err != nil {
				t.Errorf("%s: %v", f, err)
			} else if f != render.UserDataFile && fi.Mode().Perm() != 0o600 {
				t.Errorf("%s has mode %v, want 0600", f, fi.Mode().Perm())
			}
		}
	})

	t.Run("no encryption tool", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "out")
		code, _, stderr := runScript(t, "create-backend.sh", map[string]string{
			"VAR_FILE": varFile, "OUTPUT_DIR": out, "CONTRACT_CLI": filepath.Join(t.TempDir(), "contract-cli"),
		})
		if code != 3 || !strings.Contains(stderr, "not encrypted") {
			t.Fatalf("exit %d, want 3 with a message saying the workload is not encrypted:\n%s", code, stderr)
		}
		plain, err := os.ReadFile(filepath.Join(out, render.PlainWorkloadFile))
		if err != nil || !bytes.Equal(plain, want.Workload) {
			t.Errorf("plaintext workload: %v", err)
		}
		if _, err := os.Stat(filepath.Join(out, render.UserDataFile)); !os.IsNotExist(err) {
			t.Errorf("user-data written without encryption: %v", err)
		}
	})
}

// The templates are Terraform templates: `terraform apply` with the
// user_data_*.tf files must read the same variables and render the same
// text.
func TestHPVS_TerraformFiles(t *testing.T) {
	tplLine := regexp.MustCompile(`(?m)^\s*([a-z0-9_]+)\s*=\s*var\.([A-Z0-9_]+)\s*$`)
	varRef := regexp.MustCompile(`var\.([A-Za-z0-9_]+)`)
	for _, c := range components {
		t.Run(c, func(t *testing.T) {
			dir := filepath.Join(root, "contracts", c)
			src, err := os.ReadFile(filepath.Join(dir, render.VariablesFile))
			if err != nil {
				t.Fatal(err)
			}
			decls, err := render.ParseVariables(c+"/variables.tf", src)
			if err != nil {
				t.Fatal(err)
			}
			declared := map[string]bool{}
			for _, d := range decls {
				declared[d.Name] = true
			}
			tf, err := os.ReadFile(filepath.Join(dir, "user_data_"+c+".tf"))
			if err != nil {
				t.Fatal(err)
			}
			mapped := map[string]string{}
			for _, m := range tplLine.FindAllStringSubmatch(string(tf), -1) {
				mapped[m[1]] = m[2]
			}
			for _, m := range varRef.FindAllStringSubmatch(string(tf), -1) {
				if !declared[m[1]] {
					t.Errorf("user_data_%s.tf uses var.%s, not declared in variables.tf", c, m[1])
				}
			}
			used := map[string]bool{}
			for _, f := range []string{c + ".yml.tftpl", render.WorkloadTemplate} {
				b, err := os.ReadFile(filepath.Join(dir, f))
				if err != nil {
					t.Fatal(err)
				}
				for _, ref := range render.References(b) {
					name := strings.TrimPrefix(ref, "tpl.")
					used[name] = true
					if name == render.ArchiveValue {
						continue
					}
					if mapped[name] != strings.ToUpper(name) {
						t.Errorf("%s reads %s, which user_data_%s.tf does not map to var.%s", f, ref, c, strings.ToUpper(name))
					}
				}
			}
			for _, d := range decls {
				if d.Name == render.VarDebug || d.Name == render.VarHPCRCert {
					continue
				}
				if !used[strings.ToLower(d.Name)] {
					t.Errorf("variable %s is declared but no template uses it", d.Name)
				}
			}
		})
	}
}

func TestHPVS_Terraform(t *testing.T) {
	tf, err := exec.LookPath("terraform")
	if err != nil {
		if tf, err = exec.LookPath("tofu"); err != nil {
			t.Skip("terraform (or tofu) is not installed: the templates are not compared with Terraform's own templatefile()")
		}
	}
	for _, c := range components {
		t.Run(c, func(t *testing.T) {
			res := buildComponent(t, c, sampleVars(t, c))
			tpl := map[string]string{}
			for k, v := range res.Values {
				tpl[strings.ToLower(k)] = v
			}
			for _, f := range []string{c + ".yml.tftpl", render.WorkloadTemplate} {
				path := filepath.Join(root, "contracts", c, f)
				if f == render.WorkloadTemplate {
					tpl[render.ArchiveValue] = "QVJDSElWRQ=="
				}
				var m strings.Builder
				for k, v := range tpl {
					fmt.Fprintf(&m, "%s = %s, ", k, hclQuote(v))
				}
				expr := fmt.Sprintf("base64encode(templatefile(%s, { tpl = { %s } }))\n", hclQuote(path), m.String())
				ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
				cmd := exec.CommandContext(ctx, tf, "console")
				cmd.Dir = t.TempDir()
				cmd.Env = append(os.Environ(), "CHECKPOINT_DISABLE=1", "TF_IN_AUTOMATION=1")
				cmd.Stdin = strings.NewReader(expr)
				out, err := cmd.Output()
				cancel()
				if err != nil {
					t.Fatalf("terraform console: %v", err)
				}
				got, err := base64.StdEncoding.DecodeString(strings.Trim(strings.TrimSpace(string(out)), `"`))
				if err != nil {
					t.Fatalf("terraform console printed %q", out)
				}
				src, _ := os.ReadFile(path)
				want, err := render.Render(f, src, tpl)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s: Terraform renders it differently:\n--- terraform\n%s\n--- render\n%s", f, got, want)
				}
			}
		})
	}
}
