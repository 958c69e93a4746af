package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/osohost/osohost/host/signing/audit"
)

// cmdAudit checks the hash chain of a signature audit log.
func cmdAudit(_ context.Context, args, _ []string, stdout, stderr io.Writer) int {
	if len(args) != 2 || args[0] != "verify" {
		fmt.Fprintln(stderr, "usage: osohost audit verify FILE")
		return 2
	}
	f, err := os.Open(args[1])
	if err != nil {
		fmt.Fprintf(stderr, "osohost: %v\n", err)
		return 1
	}
	defer f.Close()
	n, err := audit.Verify(f)
	if err != nil {
		fmt.Fprintf(stderr, "osohost: %s: chain broken after %d good records: %v\n", args[1], n, err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: %d records, chain intact\n", args[1], n)
	return 0
}
