package render

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// File names inside a component directory (contracts/<name>/).
const (
	VariablesFile    = "variables.tf"
	TFVarsFile       = "terraform.tfvars"
	WorkloadTemplate = "workload.yml.tftpl"
	// PlayFile is the pod spec's name inside the play archive.
	PlayFile = "podman-play.yml"
	// ArchiveValue is the tpl name under which the workload template
	// gets the play archive (base64 of a tar.gz holding PlayFile).
	ArchiveValue = "play_archive"
)

// Variables every component declares for the tooling itself rather than
// for its templates.
const (
	VarDebug    = "DEBUG"     // keep the plaintext workload and pod spec
	VarHPCRCert = "HPCR_CERT" // encryption certificate (PEM); empty: the tool's own
)

// MissingError reports required variables that are unset or empty.
type MissingError struct {
	VarFile string
	Names   []string
	// NoFile is set when VarFile does not exist.
	NoFile bool
}

func (e *MissingError) Error() string {
	hint := "set them in the file or as TF_VAR_<NAME>"
	if e.NoFile {
		hint = "the file does not exist: copy terraform.tfvars.template to it and fill it in, or set them as TF_VAR_<NAME>"
	}
	return fmt.Sprintf("%s: missing or empty required variables: %s (%s)", e.VarFile, strings.Join(e.Names, ", "), hint)
}

// Options select one component.
type Options struct {
	// Dir is the component directory, holding variables.tf,
	// <Name>.yml.tftpl and workload.yml.tftpl.
	Dir string
	// Name is the component: frontend, backend or grep11.
	Name string
	// VarFile is the tfvars file; "" means <Dir>/terraform.tfvars, which
	// may then be absent when the environment sets every variable.
	VarFile string
	// Env is the environment, searched for TF_VAR_<NAME> (lower
	// precedence than VarFile, as with Terraform).
	Env []string
}

// Result is a rendered component. It holds secrets in clear: write it only
// to files of mode 0600 and never log it.
type Result struct {
	// Values are the resolved variables by name.
	Values map[string]string
	// Play is the rendered pod spec, the file the play archive holds.
	Play []byte
	// Workload is the workload section of the contract, unencrypted.
	Workload []byte
}

// Debug reports the DEBUG variable.
func (r *Result) Debug() bool { return r.Values[VarDebug] == "true" }

// Build renders a component: resolves its variables, renders and checks the
// pod spec, archives it and renders the workload section. Every problem is
// reported at once; nothing is returned unless everything succeeded.
func Build(opts Options) (*Result, error) {
	declFile := filepath.Join(opts.Dir, VariablesFile)
	src, err := os.ReadFile(declFile)
	if err != nil {
		return nil, err
	}
	decls, err := ParseVariables(declFile, src)
	if err != nil {
		return nil, err
	}
	varFile := opts.VarFile
	explicit := varFile != ""
	if !explicit {
		varFile = filepath.Join(opts.Dir, TFVarsFile)
	}
	set := map[string]string{}
	noFile := false
	if src, err := os.ReadFile(varFile); err == nil {
		if set, err = ParseTFVars(varFile, src); err != nil {
			return nil, err
		}
	} else if explicit || !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	} else {
		noFile = true
	}
	values, err := Resolve(varFile, decls, set, opts.Env)
	if me := (*MissingError)(nil); errors.As(err, &me) {
		me.NoFile = noFile
	}
	if err != nil {
		return nil, err
	}

	tpl := make(map[string]string, len(values)+1)
	for name, v := range values {
		tpl[strings.ToLower(name)] = v
	}
	if _, ok := tpl[ArchiveValue]; ok {
		return nil, fmt.Errorf("%s: %s is reserved for the play archive", declFile, strings.ToUpper(ArchiveValue))
	}
	playFile := filepath.Join(opts.Dir, opts.Name+".yml.tftpl")
	play, err := renderFile(playFile, tpl)
	if err != nil {
		return nil, err
	}
	if err := CheckManifests(playFile, play); err != nil {
		return nil, err
	}
	archive, err := Archive(map[string][]byte{PlayFile: play})
	if err != nil {
		return nil, err
	}
	tpl[ArchiveValue] = archive
	workloadFile := filepath.Join(opts.Dir, WorkloadTemplate)
	workload, err := renderFile(workloadFile, tpl)
	if err != nil {
		return nil, err
	}
	var w struct {
		Type string `yaml:"type"`
	}
	if err := yaml.Unmarshal(workload, &w); err != nil {
		return nil, fmt.Errorf("%s: rendered workload is not YAML: %v", workloadFile, err)
	}
	if w.Type != "workload" {
		return nil, fmt.Errorf("%s: rendered workload has type %q, want workload", workloadFile, w.Type)
	}
	return &Result{Values: values, Play: play, Workload: workload}, nil
}

func renderFile(file string, values map[string]string) ([]byte, error) {
	src, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return Render(file, src, values)
}

// Resolve merges defaults, TF_VAR_<NAME> variables from env and set (the
// tfvars file, which wins) into the value of every declared variable. It
// fails with a [*MissingError] naming every required variable left unset
// or empty, or with an error naming any set variable that is not declared.
func Resolve(varFile string, decls []Variable, set map[string]string, env []string) (map[string]string, error) {
	declared := make(map[string]Variable, len(decls))
	for _, d := range decls {
		declared[d.Name] = d
	}
	var undeclared []string
	for name := range set {
		if _, ok := declared[name]; !ok {
			undeclared = append(undeclared, name)
		}
	}
	if len(undeclared) > 0 {
		sort.Strings(undeclared)
		return nil, fmt.Errorf("%s: not declared in %s: %s", varFile, VariablesFile, strings.Join(undeclared, ", "))
	}
	fromEnv := map[string]string{}
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if name, isVar := strings.CutPrefix(k, "TF_VAR_"); ok && isVar {
			if _, ok := declared[name]; ok {
				fromEnv[name] = v
			}
		}
	}
	values := make(map[string]string, len(decls))
	var missing []string
	for _, d := range decls {
		v, ok := set[d.Name]
		if !ok {
			v, ok = fromEnv[d.Name]
		}
		if !ok && d.HasDefault {
			v, ok = d.Default, true
		}
		if !d.HasDefault && strings.TrimSpace(v) == "" {
			missing = append(missing, d.Name)
			continue
		}
		values[d.Name] = v
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, &MissingError{VarFile: varFile, Names: missing}
	}
	return values, nil
}

// CheckManifests checks that a rendered pod spec is YAML holding one or
// more Kubernetes objects, each with apiVersion, kind and metadata.name,
// and that every Pod has containers.
func CheckManifests(file string, data []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	n := 0
	for {
		var obj struct {
			APIVersion string `yaml:"apiVersion"`
			Kind       string `yaml:"kind"`
			Metadata   struct {
				Name string `yaml:"name"`
			} `yaml:"metadata"`
			Spec struct {
				Containers []struct {
					Name  string `yaml:"name"`
					Image string `yaml:"image"`
				} `yaml:"containers"`
			} `yaml:"spec"`
		}
		err := dec.Decode(&obj)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: rendered text is not valid YAML: %v", file, err)
		}
		n++
		if obj.APIVersion == "" || obj.Kind == "" || obj.Metadata.Name == "" {
			return fmt.Errorf("%s: document %d lacks apiVersion, kind or metadata.name", file, n)
		}
		if obj.Kind == "Pod" {
			if len(obj.Spec.Containers) == 0 {
				return fmt.Errorf("%s: pod %s has no containers", file, obj.Metadata.Name)
			}
			for _, c := range obj.Spec.Containers {
				if c.Name == "" || c.Image == "" {
					return fmt.Errorf("%s: pod %s has a container without a name or an image", file, obj.Metadata.Name)
				}
			}
		}
	}
	if n == 0 {
		return fmt.Errorf("%s: rendered text holds no document", file)
	}
	return nil
}

// Archive returns the base64 text of a gzip-compressed tar holding files
// (name → content), as the workload's play.archive expects. The archive is
// deterministic: sorted names, mode 0644, no owner and no time stamps.
func Archive(files map[string][]byte) (string, error) {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return "", err
	}
	tw := tar.NewWriter(zw)
	for _, n := range names {
		hdr := &tar.Header{Name: n, Mode: 0o644, Size: int64(len(files[n])), Typeflag: tar.TypeReg, Format: tar.FormatUSTAR}
		if err := tw.WriteHeader(hdr); err != nil {
			return "", err
		}
		if _, err := tw.Write(files[n]); err != nil {
			return "", err
		}
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	if err := zw.Close(); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes()), nil
}

// Unarchive is the inverse of [Archive], for checks: it returns the files
// of a base64 tar.gz.
func Unarchive(b64 string) (map[string][]byte, error) {
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, err
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	tr := tar.NewReader(zr)
	out := map[string][]byte{}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(io.LimitReader(tr, 16<<20))
		if err != nil {
			return nil, err
		}
		out[hdr.Name] = b
	}
}
