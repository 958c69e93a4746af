package main

import (
	"context"
	"encoding/pem"
	"flag"
	"fmt"
	"io"

	"github.com/osohost/osohost/host"
	"github.com/osohost/osohost/host/config"
	"github.com/osohost/osohost/host/logging"
	"github.com/osohost/osohost/host/signing"
)

// cmdKeys manages keys of the configured signing backend: the same
// environment (SIGNING__*, the signing-server addon, APP__ROOT) as `run`,
// without the listener, so no certificates are needed.
func cmdKeys(ctx context.Context, args, env []string, stdout, stderr io.Writer) int {
	usage := "usage: osohost keys generate|list [--type ED25519|SECP256K1] | pubkey KEY_ID  [--config FILE]"
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	sub := args[0]
	fs := flag.NewFlagSet("keys "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	typ := fs.String("type", "ED25519", "key type: ED25519 or SECP256K1")
	file := fs.String("config", "", "YAML configuration file")
	if err := fs.Parse(reorder(args[1:], map[string]bool{"type": true, "config": true})); err != nil {
		return 2
	}
	t := signing.KeyType(*typ)
	if t != signing.Ed25519 && t != signing.Secp256k1 {
		fmt.Fprintf(stderr, "osohost: unknown key type %q\n", *typ)
		return 2
	}
	// "dev" only relaxes what the listener needs (certificates, mode); an
	// APP__ROOT in the environment is still honoured.
	cfg, _, err := config.Load(env, *file, map[string]any{"dev": true})
	if err != nil {
		fmt.Fprintf(stderr, "osohost: %v\n", err)
		return 2
	}
	log := logging.New(stderr, cfg.Logging.Level, cfg.App.Name).With("logger", "osohost.keys")
	s, _, err := host.OpenSigner(ctx, cfg, log)
	if err != nil {
		fmt.Fprintf(stderr, "osohost: %v\n", err)
		return 1
	}
	if s == nil {
		fmt.Fprintln(stderr, "osohost: signing is disabled (SIGNING__BACKEND=none)")
		return 1
	}
	defer s.Close()
	switch {
	case sub == "generate" && fs.NArg() == 0:
		k, err := s.GenerateKey(ctx, t)
		if err != nil {
			fmt.Fprintf(stderr, "osohost: %v\n", err)
			return 1
		}
		fmt.Fprintln(stdout, k.ID)
		_ = pem.Encode(stdout, &pem.Block{Type: "PUBLIC KEY", Bytes: k.PublicKey})
	case sub == "list" && fs.NArg() == 0:
		ids, err := s.ListKeys(ctx, t)
		if err != nil {
			fmt.Fprintf(stderr, "osohost: %v\n", err)
			return 1
		}
		for _, id := range ids {
			fmt.Fprintln(stdout, id)
		}
	case sub == "pubkey" && fs.NArg() == 1:
		k, err := s.PublicKey(ctx, fs.Arg(0))
		if err != nil {
			fmt.Fprintf(stderr, "osohost: %v\n", err)
			return 1
		}
		_ = pem.Encode(stdout, &pem.Block{Type: "PUBLIC KEY", Bytes: k.PublicKey})
	default:
		fmt.Fprintln(stderr, usage)
		return 2
	}
	return 0
}
