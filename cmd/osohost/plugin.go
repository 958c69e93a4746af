package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/osohost/osohost/host/plugin"
	"github.com/osohost/osohost/host/plugin/integrity"
)

const pluginUsage = `usage: osohost plugin keygen --out KEY.pem [--pub-out PUB.pem]
       osohost plugin sign --key KEY.pem PLUGIN.wasm
       osohost plugin verify [--key ed25519:...]... [--pub PUB.pem]... [--sha256 HEX]... PLUGIN.wasm
       osohost plugin hash PLUGIN.wasm...`

// cmdPlugin makes and checks what the plugin integrity policy takes
// (docs/integrity.md): an Ed25519 signing key, detached signatures, and
// SHA-256 digests for the allowlist. It never prints a private key.
func cmdPlugin(_ context.Context, args, _ []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, pluginUsage)
		return 2
	}
	switch args[0] {
	case "keygen":
		return pluginKeygen(args[1:], stdout, stderr)
	case "sign":
		return pluginSign(args[1:], stdout, stderr)
	case "verify":
		return pluginVerify(args[1:], stdout, stderr)
	case "hash":
		return pluginHash(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, pluginUsage)
		return 0
	}
	fmt.Fprintf(stderr, "osohost: unknown plugin command %q\n%s\n", args[0], pluginUsage)
	return 2
}

// pluginFlags parses the flags of one plugin subcommand, which may follow
// its arguments.
func pluginFlags(name string, args []string, stderr io.Writer, define func(*flag.FlagSet)) (*flag.FlagSet, bool) {
	fs := flag.NewFlagSet("plugin "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	define(fs)
	withValue := map[string]bool{}
	fs.VisitAll(func(f *flag.Flag) { withValue[f.Name] = true })
	if err := fs.Parse(reorder(args, withValue)); err != nil {
		return nil, false
	}
	return fs, true
}

// pluginKeygen writes a new private key and prints its public key as
// configuration takes it.
func pluginKeygen(args []string, stdout, stderr io.Writer) int {
	var out, pubOut string
	fs, ok := pluginFlags("keygen", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&out, "out", "", "new file for the private key (PKCS #8 PEM, mode 0600)")
		fs.StringVar(&pubOut, "pub-out", "", "new file for the public key (PEM), optional")
	})
	if !ok {
		return 2
	}
	if out == "" || fs.NArg() != 0 {
		fmt.Fprintln(stderr, "usage: osohost plugin keygen --out KEY.pem [--pub-out PUB.pem]")
		return 2
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		fmt.Fprintf(stderr, "osohost: %v\n", err)
		return 1
	}
	if err := integrity.WritePrivateKeyFile(out, priv); err != nil {
		fmt.Fprintf(stderr, "osohost: %v\n", err)
		return 1
	}
	if pubOut != "" {
		b, err := integrity.MarshalPublicKeyPEM(pub)
		if err == nil {
			err = writeNewFile(pubOut, b, 0o644)
		}
		if err != nil {
			fmt.Fprintf(stderr, "osohost: %v\n", err)
			return 1
		}
	}
	fmt.Fprintln(stdout, integrity.FormatPublicKey(pub))
	fmt.Fprintf(stderr, "wrote the private key to %s (mode 0600); keep it secret.\n", out)
	fmt.Fprintln(stderr, "Trust it with PLUGIN__SIGNING_KEYS set to the public key above (docs/integrity.md).")
	return 0
}

// pluginSign writes PLUGIN.wasm.sig and checks it against the module on
// disk.
func pluginSign(args []string, stdout, stderr io.Writer) int {
	var keyFile string
	fs, ok := pluginFlags("sign", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&keyFile, "key", "", "private key file (PKCS #8 PEM)")
	})
	if !ok {
		return 2
	}
	if keyFile == "" || fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: osohost plugin sign --key KEY.pem PLUGIN.wasm")
		return 2
	}
	path := fs.Arg(0)
	if fi, err := os.Stat(keyFile); err == nil && fi.Mode().Perm()&0o077 != 0 {
		fmt.Fprintf(stderr, "osohost: warning: %s is readable by other users (mode %04o); use 0600\n", keyFile, fi.Mode().Perm())
	}
	priv, err := integrity.ReadPrivateKeyFile(keyFile)
	if err != nil {
		fmt.Fprintf(stderr, "osohost: %v\n", err)
		return 1
	}
	wasm, err := plugin.ReadModule(path)
	if err != nil {
		fmt.Fprintf(stderr, "osohost: %v\n", err)
		return 1
	}
	sig, err := integrity.Sign(priv, wasm)
	if err != nil {
		fmt.Fprintf(stderr, "osohost: %v\n", err)
		return 1
	}
	sigPath := path + integrity.SignatureSuffix
	if err := writeFileReplace(sigPath, sig, 0o644); err != nil {
		fmt.Fprintf(stderr, "osohost: %v\n", err)
		return 1
	}
	// Read both back as the host will: this catches a module changed
	// while it was being signed.
	pub := priv.Public().(ed25519.PublicKey)
	if _, err := integrity.ReadModule(path, integrity.Policy{Keys: []ed25519.PublicKey{pub}}); err != nil {
		fmt.Fprintf(stderr, "osohost: the signature written does not verify: %v\n", err)
		return 1
	}
	sum := sha256.Sum256(wasm)
	fmt.Fprintf(stdout, "sha256:    %s\nsignature: %s\nkey:       %s\n", integrity.FormatSHA256(sum), sigPath, integrity.FormatPublicKey(pub))
	return 0
}

// pluginVerify checks a module as the host would under the policy the
// flags describe.
func pluginVerify(args []string, stdout, stderr io.Writer) int {
	var keys, pubs, sums pluginList
	fs, ok := pluginFlags("verify", args, stderr, func(fs *flag.FlagSet) {
		fs.Var(&keys, "key", "trusted public key, ed25519:<base64> (repeatable)")
		fs.Var(&pubs, "pub", "trusted public key file, PEM (repeatable)")
		fs.Var(&sums, "sha256", "allowlisted module digest, 64 hex digits (repeatable)")
	})
	if !ok {
		return 2
	}
	if fs.NArg() != 1 || len(keys)+len(pubs)+len(sums) == 0 {
		fmt.Fprintln(stderr, "usage: osohost plugin verify [--key ed25519:...]... [--pub PUB.pem]... [--sha256 HEX]... PLUGIN.wasm")
		if fs.NArg() == 1 {
			fmt.Fprintln(stderr, "osohost: give at least one --key, --pub or --sha256")
		}
		return 2
	}
	var pol integrity.Policy
	var bad []string
	for i, s := range keys {
		k, err := integrity.ParsePublicKey(s)
		if err != nil {
			bad = append(bad, fmt.Sprintf("--key #%d: %v", i+1, err))
			continue
		}
		pol.Keys = append(pol.Keys, k)
	}
	for _, f := range pubs {
		k, err := integrity.ReadPublicKeyFile(f)
		if err != nil {
			bad = append(bad, fmt.Sprintf("--pub: %v", err))
			continue
		}
		pol.Keys = append(pol.Keys, k)
	}
	for i, s := range sums {
		h, err := integrity.ParseSHA256(s)
		if err != nil {
			bad = append(bad, fmt.Sprintf("--sha256 #%d: %v", i+1, err))
			continue
		}
		pol.SHA256 = append(pol.SHA256, h)
	}
	if len(bad) > 0 {
		for _, b := range bad {
			fmt.Fprintf(stderr, "osohost: %s\n", b)
		}
		return 2
	}
	path := fs.Arg(0)
	wasm, err := integrity.ReadModule(path, pol)
	if err != nil {
		fmt.Fprintf(stderr, "osohost: %v\n", err)
		if errors.Is(err, integrity.ErrRejected) {
			fmt.Fprintln(stderr, "osohost: the host would refuse to load this module")
		}
		return 1
	}
	sum := sha256.Sum256(wasm)
	how := "signature verified"
	for _, h := range pol.SHA256 {
		if h == sum {
			how = "sha256 allowlisted"
		}
	}
	fmt.Fprintf(stdout, "ok: %s: %s (sha256 %s)\n", path, how, integrity.FormatSHA256(sum))
	return 0
}

// pluginHash prints each module's SHA-256 as the allowlist takes it; with
// several modules, as sha256sum does.
func pluginHash(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: osohost plugin hash PLUGIN.wasm...")
		return 2
	}
	code := 0
	for _, path := range args {
		wasm, err := plugin.ReadModule(path)
		if err != nil {
			fmt.Fprintf(stderr, "osohost: %v\n", err)
			code = 1
			continue
		}
		sum := integrity.FormatSHA256(sha256.Sum256(wasm))
		if len(args) > 1 {
			fmt.Fprintf(stdout, "%s  %s\n", sum, path)
		} else {
			fmt.Fprintln(stdout, sum)
		}
	}
	return code
}

// pluginList is a repeatable string flag.
type pluginList []string

func (l *pluginList) String() string { return strings.Join(*l, ",") }

func (l *pluginList) Set(s string) error {
	*l = append(*l, s)
	return nil
}

// writeNewFile writes data to a file that must not exist yet.
func writeNewFile(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}

// writeFileReplace writes data to a temporary file next to path and renames
// it over path, so that a reader sees the old content or the new, never a
// part.
func writeFileReplace(path string, data []byte, perm os.FileMode) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
