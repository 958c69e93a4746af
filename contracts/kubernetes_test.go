package contracts_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// kubernetes/: kustomize

func kustomize(t *testing.T) []string {
	t.Helper()
	if k, err := exec.LookPath("kubectl"); err == nil {
		return []string{k, "kustomize"}
	}
	if k, err := exec.LookPath("kustomize"); err == nil {
		return []string{k, "build"}
	}
	t.Skip("neither kubectl nor kustomize is installed: the kustomize overlays are not built")
	return nil
}

func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		// Operator inputs present in a working copy are not the test's.
		if d.Name() == "certs" || d.Name() == "secrets.env" {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestKubernetes_Kustomize(t *testing.T) {
	kz := kustomize(t)
	tree := filepath.Join(t.TempDir(), "kubernetes")
	copyTree(t, filepath.Join(root, "contracts", "kubernetes"), tree)
	build := func(t *testing.T, dir string) ([]object, string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, kz[0], append(kz[1:], dir)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", strings.Join(kz, " "), dir, err, stderr.String())
		}
		return decodeAll(t, dir, out), string(out)
	}

	t.Run("base", func(t *testing.T) {
		objs, _ := build(t, filepath.Join(tree, "base"))
		for _, k := range []string{"StatefulSet", "Service", "ConfigMap", "Secret", "NetworkPolicy", "PodDisruptionBudget"} {
			find(t, objs, k, "")
		}
	})

	selectors := map[string]string{}
	for _, mode := range []string{"frontend", "backend"} {
		t.Run(mode, func(t *testing.T) {
			dir := filepath.Join(tree, mode)
			if err := os.MkdirAll(filepath.Join(dir, "certs"), 0o700); err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{"ca.crt", "server.crt", "server.key"} {
				if err := os.WriteFile(filepath.Join(dir, "certs", f), []byte(readPKI(t, f)), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			secretsEnv := "ADMIN__RELOAD_TOKEN=0123456789abcdef0123456789abcdef\n"
			if mode == "backend" {
				secretsEnv += "PLUGIN__ADDONS__0__CA_CERT=" + b64(readPKI(t, "ca.crt")) + "\n" +
					"PLUGIN__ADDONS__0__CLIENT_CERT=" + b64(readPKI(t, "client.crt")) + "\n" +
					"PLUGIN__ADDONS__0__CLIENT_KEY=" + b64(readPKI(t, "client.key")) + "\n"
			}
			if err := os.WriteFile(filepath.Join(dir, "secrets.env"), []byte(secretsEnv), 0o600); err != nil {
				t.Fatal(err)
			}
			objs, text := build(t, dir)
			if strings.Contains(text, "PRIVATE KEY") {
				t.Error("a private key appears unencoded in the output (it belongs base64-encoded in the Secret)")
			}

			sts := find(t, objs, "StatefulSet", mode+"-osohost")
			if sts.Spec.Replicas == nil || *sts.Spec.Replicas != 1 {
				t.Errorf("replicas %v, want 1", sts.Spec.Replicas)
			}
			tpl := sts.Spec.Template
			if tpl == nil {
				t.Fatal("StatefulSet without a pod template")
			}
			if tpl.Metadata.Labels["app.kubernetes.io/component"] != mode {
				t.Errorf("pod labels %v lack the component", tpl.Metadata.Labels)
			}
			psc := tpl.Spec.SecurityContext
			if psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.SeccompProfile["type"] != "RuntimeDefault" || psc.FSGroup == nil {
				t.Errorf("pod securityContext %+v: want runAsNonRoot, fsGroup and seccomp RuntimeDefault", psc)
			}
			ct := containerNamed(t, object{Metadata: tpl.Metadata, Spec: tpl.Spec}, "osohost")
			sc := ct.SecurityContext
			if !sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
				!slices.Equal(sc.Capabilities.Drop, []string{"ALL"}) || sc.SeccompProfile["type"] != "RuntimeDefault" {
				t.Errorf("container securityContext: want a read-only root filesystem, no escalation, no capabilities, seccomp RuntimeDefault")
			}
			adminPort := 0
			for _, p := range ct.Ports {
				if p.Name == "admin" {
					adminPort = p.ContainerPort
				}
			}
			for name, p := range map[string]*probe{"/healthz": ct.LivenessProbe, "/readyz": ct.ReadinessProbe} {
				if p == nil || p.HTTPGet.Path != name || p.HTTPGet.Port != "admin" {
					t.Errorf("probe on %s: %+v, want an httpGet on the admin port", name, p)
				}
			}
			for _, k := range []string{"requests", "limits"} {
				r, _ := ct.Resources[k].(map[string]any)
				if r["cpu"] == nil || r["memory"] == nil {
					t.Errorf("resources.%s %v: want cpu and memory", k, r)
				}
			}
			if len(sts.Spec.VolumeClaims) != 1 || len(ct.VolumeMounts) != 1 || ct.VolumeMounts[0].MountPath != "/app-root" ||
				ct.VolumeMounts[0].Name != sts.Spec.VolumeClaims[0].Metadata.Name {
				t.Errorf("want the volume claim template mounted at /app-root")
			}

			// The environment the pod gets: its ConfigMap and Secret.
			env := map[string]string{}
			for _, ef := range ct.EnvFrom {
				switch {
				case ef.ConfigMapRef != nil:
					cm := find(t, objs, "ConfigMap", ef.ConfigMapRef.Name)
					checkNoSecrets(t, "kubernetes "+mode+" ConfigMap", cm.Data)
					for k, v := range cm.Data {
						env[k] = v
					}
				case ef.SecretRef != nil:
					s := find(t, objs, "Secret", ef.SecretRef.Name)
					for k, v := range s.Data {
						raw, err := base64.StdEncoding.DecodeString(v)
						if err != nil {
							t.Fatalf("Secret %s: %v", k, err)
						}
						env[k] = string(raw)
					}
				}
			}
			if env["CERTS__APP_KEY"] != readPKI(t, "server.key") {
				t.Error("the Secret does not hold the server key")
			}
			checkRequiredEnv(t, "kubernetes "+mode, mode, env)
			cfg := osohostConfig(t, "kubernetes "+mode, env)
			if cfg.Plugin.Mode != mode || cfg.Admin.Listen != ":9090" {
				t.Errorf("osohost config: mode %q, admin %q", cfg.Plugin.Mode, cfg.Admin.Listen)
			}
			if adminPort == 0 || !strings.HasSuffix(cfg.Admin.Listen, fmt.Sprint(":", adminPort)) {
				t.Errorf("admin listener %q, container port %d", cfg.Admin.Listen, adminPort)
			}

			svc := find(t, objs, "Service", mode+"-osohost")
			if len(svc.Spec.Ports) != 2 || svc.Spec.Ports[0].Port != 4000 || svc.Spec.Ports[1].Port != 4000 {
				t.Errorf("Service ports %+v, want 4000 (TCP, and UDP for HTTP/3)", svc.Spec.Ports)
			}
			if sts.Spec.ServiceName != mode+"-osohost-headless" {
				t.Errorf("serviceName %q", sts.Spec.ServiceName)
			}
			find(t, objs, "Service", mode+"-osohost-headless")
			np := find(t, objs, "NetworkPolicy", mode+"-osohost")
			if !slices.Contains(np.Spec.PolicyTypes, "Egress") || !slices.Contains(np.Spec.PolicyTypes, "Ingress") {
				t.Errorf("NetworkPolicy policyTypes %v", np.Spec.PolicyTypes)
			}
			sel, _ := np.Spec.PodSelector["matchLabels"].(map[string]any)
			if sel["app.kubernetes.io/component"] != mode {
				t.Errorf("NetworkPolicy selects %v", sel)
			}
			egress := fmt.Sprint(np.Spec.Egress)
			if mode == "backend" && !strings.Contains(egress, "9876") {
				t.Errorf("backend egress %s does not reach GREP11", egress)
			}
			pdb := find(t, objs, "PodDisruptionBudget", mode+"-osohost")
			var pdbSel struct {
				MatchLabels map[string]string `yaml:"matchLabels"`
			}
			if err := pdb.Spec.Selector.Decode(&pdbSel); err != nil || pdbSel.MatchLabels["app.kubernetes.io/component"] != mode {
				t.Errorf("PodDisruptionBudget selector %v (%v)", pdbSel.MatchLabels, err)
			}
			selectors[mode] = fmt.Sprint(pdbSel.MatchLabels)
		})
	}
	if selectors["frontend"] != "" && selectors["frontend"] == selectors["backend"] {
		t.Error("frontend and backend select the same pods")
	}
}
