package contracts_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// Built once by TestMain.
var (
	root        string // the repository
	osohostBin  string // go build ./cmd/osohost
	renderBin   string // go build ./contracts/internal/cmd/render
	pkiDir      string // osohost certs dev --out
	fingerprint string // of the development client
)

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

func testMain(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "osohost-contracts-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	if root, err = filepath.Abs(".."); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	osohostBin = filepath.Join(tmp, "osohost")
	renderBin = filepath.Join(tmp, "render")
	pkiDir = filepath.Join(tmp, "pki")
	steps := [][]string{
		{"go", "build", "-o", osohostBin, "./cmd/osohost"},
		{"go", "build", "-o", renderBin, "./contracts/internal/cmd/render"},
		{osohostBin, "certs", "dev", "--out", pkiDir},
	}
	for _, s := range steps {
		cmd := exec.Command(s[0], s[1:]...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n%s", strings.Join(s, " "), err, out)
			return 1
		}
	}
	out, err := exec.Command(osohostBin, "fingerprint", filepath.Join(pkiDir, "client.crt")).Output()
	if err != nil {
		fmt.Fprintln(os.Stderr, "osohost fingerprint:", err)
		return 1
	}
	fingerprint = strings.TrimSpace(string(out))
	return m.Run()
}

// Helpers shared by the checks of every folder.

func readPKI(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(pkiDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// object is the part of a Kubernetes object the checks read.
type object struct {
	APIVersion string            `yaml:"apiVersion"`
	Kind       string            `yaml:"kind"`
	Metadata   metadata          `yaml:"metadata"`
	Data       map[string]string `yaml:"data"`
	Spec       spec              `yaml:"spec"`
}

type metadata struct {
	Name   string            `yaml:"name"`
	Labels map[string]string `yaml:"labels"`
}

type spec struct {
	// Pod
	Containers      []container      `yaml:"containers"`
	Volumes         []volume         `yaml:"volumes"`
	SecurityContext podSecurity      `yaml:"securityContext"`
	Selector        yaml.Node        `yaml:"selector"`
	Replicas        *int             `yaml:"replicas"`
	ServiceName     string           `yaml:"serviceName"`
	Template        *podTemplate     `yaml:"template"`
	VolumeClaims    []object         `yaml:"volumeClaimTemplates"`
	Ports           []servicePort    `yaml:"ports"`
	PodSelector     map[string]any   `yaml:"podSelector"`
	Egress          []map[string]any `yaml:"egress"`
	Ingress         []map[string]any `yaml:"ingress"`
	MaxUnavailable  any              `yaml:"maxUnavailable"`
	Resources       map[string]any   `yaml:"resources"`
	AccessModes     []string         `yaml:"accessModes"`
	ClusterIP       string           `yaml:"clusterIP"`
	Type            string           `yaml:"type"`
	PolicyTypes     []string         `yaml:"policyTypes"`
	Other           map[string]any   `yaml:",inline"`
}

type podTemplate struct {
	Metadata metadata `yaml:"metadata"`
	Spec     spec     `yaml:"spec"`
}

type podSecurity struct {
	RunAsNonRoot   *bool          `yaml:"runAsNonRoot"`
	RunAsUser      *int           `yaml:"runAsUser"`
	FSGroup        *int           `yaml:"fsGroup"`
	SeccompProfile map[string]any `yaml:"seccompProfile"`
}

type servicePort struct {
	Name       string `yaml:"name"`
	Port       int    `yaml:"port"`
	TargetPort any    `yaml:"targetPort"`
}

type container struct {
	Name    string   `yaml:"name"`
	Image   string   `yaml:"image"`
	Args    []string `yaml:"args"`
	EnvFrom []struct {
		ConfigMapRef *struct {
			Name string `yaml:"name"`
		} `yaml:"configMapRef"`
		SecretRef *struct {
			Name string `yaml:"name"`
		} `yaml:"secretRef"`
	} `yaml:"envFrom"`
	Env []struct {
		Name  string `yaml:"name"`
		Value string `yaml:"value"`
	} `yaml:"env"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
		HostPort      int    `yaml:"hostPort"`
	} `yaml:"ports"`
	SecurityContext struct {
		RunAsNonRoot             *bool          `yaml:"runAsNonRoot"`
		ReadOnlyRootFilesystem   bool           `yaml:"readOnlyRootFilesystem"`
		AllowPrivilegeEscalation *bool          `yaml:"allowPrivilegeEscalation"`
		SeccompProfile           map[string]any `yaml:"seccompProfile"`
		Capabilities             struct {
			Drop []string `yaml:"drop"`
		} `yaml:"capabilities"`
	} `yaml:"securityContext"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
	LivenessProbe  *probe         `yaml:"livenessProbe"`
	ReadinessProbe *probe         `yaml:"readinessProbe"`
	StartupProbe   *probe         `yaml:"startupProbe"`
	Resources      map[string]any `yaml:"resources"`
	Other          map[string]any `yaml:",inline"`
}

type probe struct {
	HTTPGet struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"`
	} `yaml:"httpGet"`
}

type volume struct {
	Name     string `yaml:"name"`
	HostPath *struct {
		Path string `yaml:"path"`
	} `yaml:"hostPath"`
	Secret *struct {
		SecretName string `yaml:"secretName"`
	} `yaml:"secret"`
	PersistentVolumeClaim *struct {
		ClaimName string `yaml:"claimName"`
	} `yaml:"persistentVolumeClaim"`
}

// decodeAll parses every YAML document of data.
func decodeAll(t *testing.T, what string, data []byte) []object {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var objs []object
	for {
		var o object
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			return objs
		}
		if err != nil {
			t.Fatalf("%s: not YAML: %v", what, err)
		}
		objs = append(objs, o)
	}
}

func find(t *testing.T, objs []object, kind, name string) object {
	t.Helper()
	for _, o := range objs {
		if o.Kind == kind && (name == "" || o.Metadata.Name == name) {
			return o
		}
	}
	t.Fatalf("no %s %q among %d objects", kind, name, len(objs))
	return object{}
}

func containerNamed(t *testing.T, pod object, name string) container {
	t.Helper()
	for _, c := range pod.Spec.Containers {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("pod %s has no container %s", pod.Metadata.Name, name)
	return container{}
}

func envOf(c container) map[string]string {
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	return env
}

// requiredEnv are the variables of the environment contract a component of
// the mode must be given.
func requiredEnv(mode string) []string {
	names := []string{"PLUGIN__MODE", "PLUGIN__APPLICATION", "CERTS__CA", "CERTS__APP_CRT", "CERTS__APP_KEY",
		"AUTH__PARSERS__0__TYPE", "AUTH__PARSERS__0__ALLOWLIST"}
	if mode == "backend" {
		names = append(names, "PLUGIN__ADDONS__0__TYPE", "PLUGIN__ADDONS__0__GREP11_ENDPOINT",
			"PLUGIN__ADDONS__0__CA_CERT", "PLUGIN__ADDONS__0__CLIENT_CERT", "PLUGIN__ADDONS__0__CLIENT_KEY",
			"PLUGIN__ADDONS__0__KEYSTORE_PATH")
	}
	return names
}

func checkRequiredEnv(t *testing.T, where, mode string, env map[string]string) {
	t.Helper()
	for _, n := range requiredEnv(mode) {
		if strings.TrimSpace(env[n]) == "" {
			t.Errorf("%s: %s is missing or empty", where, n)
		}
	}
	if env["PLUGIN__MODE"] != mode {
		t.Errorf("%s: PLUGIN__MODE = %q, want %q", where, env["PLUGIN__MODE"], mode)
	}
}

// effectiveConfig is what `osohost config` prints, in part.
type effectiveConfig struct {
	Plugin struct {
		Mode        string `yaml:"mode"`
		Application string `yaml:"application"`
		Addons      []struct {
			Type           string `yaml:"type"`
			GREP11Endpoint string `yaml:"grep11_endpoint"`
			KeystorePath   string `yaml:"keystore_path"`
		} `yaml:"addons"`
	} `yaml:"plugin"`
	Auth struct {
		Parsers []struct {
			Type string `yaml:"type"`
		} `yaml:"parsers"`
	} `yaml:"auth"`
	Admin struct {
		Listen string `yaml:"listen"`
	} `yaml:"admin"`
}

// osohostConfig runs the real `osohost config` with exactly env (no
// inherited variables) and fails the test unless it exits 0.
func osohostConfig(t *testing.T, where string, env map[string]string) effectiveConfig {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, osohostBin, "config")
	cmd.Dir = t.TempDir()
	cmd.Env = []string{}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: osohost config refused the rendered environment: %v\n%s", where, err, stderr.String())
	}
	var c effectiveConfig
	if err := yaml.Unmarshal(stdout.Bytes(), &c); err != nil {
		t.Fatalf("%s: osohost config output: %v", where, err)
	}
	for _, secret := range []string{readPKI(t, "server.key"), readPKI(t, "client.key")} {
		if strings.Contains(stdout.String()+stderr.String(), strings.TrimSpace(secret)) {
			t.Errorf("%s: osohost config printed a private key", where)
		}
	}
	return c
}

var secretName = regexp.MustCompile(`(?i)(^|_)(KEY|TOKEN|SECRET|PASSWORD|PASSPHRASE|SEED|KEK|CREDENTIALS?)($|_)`)

// checkNoSecrets fails when a ConfigMap entry looks like a secret: a name
// such as *_KEY or *_TOKEN (paths and file names excepted), or a value that
// holds a private key, as such or in base64.
func checkNoSecrets(t *testing.T, where string, data map[string]string) {
	t.Helper()
	for k, v := range data {
		if secretName.MatchString(k) && !strings.HasSuffix(k, "_PATH") && !strings.HasSuffix(k, "_FILE") {
			t.Errorf("%s: ConfigMap entry %s is named like a secret", where, k)
		}
		if strings.Contains(v, "PRIVATE KEY") {
			t.Errorf("%s: ConfigMap entry %s holds a private key", where, k)
		}
		if raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v)); err == nil && bytes.Contains(raw, []byte("PRIVATE KEY")) {
			t.Errorf("%s: ConfigMap entry %s holds a base64-encoded private key", where, k)
		}
	}
}
