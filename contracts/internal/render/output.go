package render

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Files written to a component's output directory.
const (
	// UserDataFile is the encrypted workload section, the file the
	// Offline Signing Orchestrator's workload list takes.
	UserDataFile = "user-data"
	// PlainWorkloadFile is the unencrypted workload section: written
	// with DEBUG=true, or when no encryption tool is installed.
	PlainWorkloadFile = "workload.plain.yml"
	// PlainPlayFile is the rendered pod spec, written with DEBUG=true.
	PlainPlayFile = "podman-play.yml"
)

// ErrNotEncrypted reports that the workload was rendered but could not be
// encrypted because the encryption tool is not installed.
var ErrNotEncrypted = errors.New("render: workload rendered but not encrypted")

// encryptedPrefix starts every workload encrypted for the confidential VM.
const encryptedPrefix = "hyper-protect-basic."

// Write writes a rendered component to outDir (created with mode 0700).
// With the encryption tool (contractCLI, a command name or path) present,
// it writes the encrypted workload to UserDataFile; otherwise it writes
// the plaintext workload to PlainWorkloadFile and returns an error
// wrapping [ErrNotEncrypted]. Plaintext files have mode 0600 and are kept
// after encryption only with DEBUG=true; a stale file of a previous run
// that no longer matches is removed. Each file is written to a temporary
// name and renamed, so none is ever left half-written. Write returns the
// files it wrote.
func Write(ctx context.Context, r *Result, outDir, contractCLI string) ([]string, error) {
	if err := os.MkdirAll(outDir, 0o700); err != nil {
		return nil, err
	}
	userData := filepath.Join(outDir, UserDataFile)
	plainWorkload := filepath.Join(outDir, PlainWorkloadFile)
	plainPlay := filepath.Join(outDir, PlainPlayFile)

	tool, lookErr := exec.LookPath(contractCLI)
	var encrypted []byte
	if lookErr == nil {
		var err error
		if encrypted, err = encrypt(ctx, tool, r); err != nil {
			return nil, err
		}
	}

	var written []string
	put := func(path string, data []byte, mode os.FileMode) error {
		if err := writeAtomic(path, data, mode); err != nil {
			return err
		}
		written = append(written, path)
		return nil
	}
	if encrypted != nil {
		if err := put(userData, encrypted, 0o644); err != nil {
			return written, err
		}
	} else if err := removeIfExists(userData); err != nil {
		return written, err
	}
	if encrypted == nil || r.Debug() {
		if err := put(plainWorkload, r.Workload, 0o600); err != nil {
			return written, err
		}
	} else if err := removeIfExists(plainWorkload); err != nil {
		return written, err
	}
	if r.Debug() {
		if err := put(plainPlay, r.Play, 0o600); err != nil {
			return written, err
		}
	} else if err := removeIfExists(plainPlay); err != nil {
		return written, err
	}
	if encrypted == nil {
		return written, fmt.Errorf("%w: %s is not installed (%v); encrypt %s with the platform's tooling, e.g. `contract-cli encrypt-string --in - < %s > %s`, then delete the plaintext",
			ErrNotEncrypted, contractCLI, lookErr, plainWorkload, plainWorkload, userData)
	}
	return written, nil
}

// encrypt runs `contract-cli encrypt-string --in -` on the workload, with
// --cert when HPCR_CERT is set.
func encrypt(ctx context.Context, tool string, r *Result) ([]byte, error) {
	args := []string{"encrypt-string", "--in", "-"}
	if cert := r.Values[VarHPCRCert]; strings.TrimSpace(cert) != "" {
		f, err := os.CreateTemp("", "hpcr-cert-*.crt")
		if err != nil {
			return nil, err
		}
		defer os.Remove(f.Name())
		if _, err := f.WriteString(cert); err != nil {
			f.Close()
			return nil, err
		}
		if err := f.Close(); err != nil {
			return nil, err
		}
		args = append(args, "--cert", f.Name())
	}
	cmd := exec.CommandContext(ctx, tool, args...)
	cmd.Stdin = bytes.NewReader(r.Workload)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("render: %s encrypt-string: %v: %s", tool, err, strings.TrimSpace(stderr.String()))
	}
	out := bytes.TrimSpace(stdout.Bytes())
	if !bytes.HasPrefix(out, []byte(encryptedPrefix)) {
		return nil, fmt.Errorf("render: %s encrypt-string printed no %s… text", tool, encryptedPrefix)
	}
	return append(out, '\n'), nil
}

func writeAtomic(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Chmod(mode); err != nil {
		return fail(err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
