package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/osohost/osohost/host/pki"
)

// cmdFingerprint prints, for each certificate file, the fingerprint of its
// first (leaf) certificate as allowlists hold it: SHA256:<base64>, the value
// `ssh-keygen -lf` prints for the same key.
func cmdFingerprint(_ context.Context, args, _ []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: osohost fingerprint CERT.pem...")
		return 2
	}
	code := 0
	for _, path := range args {
		data, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintf(stderr, "osohost: %v\n", err)
			code = 1
			continue
		}
		certs, err := pki.ParseCertificates(data)
		if err != nil {
			fmt.Fprintf(stderr, "osohost: %s: %v\n", path, err)
			code = 1
			continue
		}
		fp, err := pki.Fingerprint(certs[0].PublicKey)
		if err != nil {
			fmt.Fprintf(stderr, "osohost: %s: %v\n", path, err)
			code = 1
			continue
		}
		if len(args) > 1 {
			fmt.Fprintf(stdout, "%s  %s\n", pki.FormatFingerprint(fp), path)
		} else {
			fmt.Fprintln(stdout, pki.FormatFingerprint(fp))
		}
	}
	return code
}
