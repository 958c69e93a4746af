// Command osobench is the load generator and the benchmark suite of
// osohost's signing path.
//
//	osobench load  --url URL --ca CA.pem --cert CLIENT.crt --key CLIENT.key --keystore DIR [flags]
//	osobench suite [--quick] [--phases LIST] [--doc docs/bench.md] [--charts docs/bench]
//
// load POSTs DocumentLists to a backend (examples/signer served by
// `osohost run`, or anything that answers like it) from keep-alive mTLS
// clients over HTTP/1.1, HTTP/2 or HTTP/3, checks every answer (status,
// count, ids, contents, the signer's metadata, a signature that verifies
// against the key's public key from the keystore) and reports requests/s,
// documents/s, latency percentiles, errors, and CPU time per signed
// document of the server's process tree (--server-pid, read from /proc)
// and of the generator itself.
//
// suite runs the whole benchmark: the native floor, osohost and the
// Python peer (NGINX + Gunicorn + Flask) under the same load, scaling by
// batch and concurrency, protocols, hot reloads, memory by pool size, cold
// start, fsyncs per request, and the Go micro benchmarks of bench/; it
// writes the tables of docs/bench.md and the SVG charts of docs/bench/.
// bench/README.md explains every figure.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/osohost/osohost/bench/loadgen"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run dispatches to a subcommand; it is main without the process.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "load":
		return cmdLoad(ctx, args[1:], stdout, stderr)
	case "suite":
		return cmdSuite(ctx, args[1:], stdout, stderr)
	case "-h", "--help", "help":
		usage(stdout)
		return 0
	}
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, `usage:
  osobench load  --url URL --ca CA.pem --cert CLIENT.crt --key CLIENT.key --keystore DIR [flags]
  osobench suite [--quick] [--phases LIST] [--doc FILE] [--charts DIR] [--osohost BIN] [--guests DIR]
Run "osobench load -h" or "osobench suite -h" for the flags.`)
}

// clientTLS loads the client certificate and the CA that signed the
// server's certificate.
func clientTLS(caFile, certFile, keyFile, serverName string) (*tls.Config, error) {
	ca, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("osobench: %s holds no certificate", caFile)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, ServerName: serverName, MinVersion: tls.VersionTLS13}, nil
}

func cmdLoad(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	u := fs.String("url", "https://127.0.0.1:4000/api/backend/v1alpha1/documents", "the documents route")
	proto := fs.String("proto", loadgen.HTTP1, "h1 (HTTP/1.1), h2 or h3 (HTTP/3 over QUIC; the UDP port is taken from the server's Alt-Svc)")
	conc := fs.Int("c", 8, "concurrent clients, one request in flight each")
	conns := fs.Int("conns", 1, "connections the clients share with h2 and h3 (h1: one per client)")
	batch := fs.Int("b", 100, "documents per request")
	dur := fs.Duration("d", 10*time.Second, "measured duration")
	warm := fs.Duration("warmup", 2*time.Second, "warm-up before the measurement, not counted")
	ca := fs.String("ca", "", "CA certificate (PEM) of the server")
	cert := fs.String("cert", "", "client certificate (PEM)")
	key := fs.String("key", "", "client key (PEM)")
	sni := fs.String("server-name", "localhost", "TLS server name")
	keystore := fs.String("keystore", "", "comma-separated keystore directories holding ED25519/<key id>.pub (the signer's keys)")
	pubkey := fs.String("pubkey", "", "KEY_ID=FILE.pem: a public key to verify with, as `osohost keys pubkey` prints it")
	verifyAll := fs.Bool("verify-all", false, "verify every signature (default: one per answer, a different place each time, and the shape of all)")
	pids := fs.String("server-pid", "", "comma-separated pids whose process trees are the server, for server CPU per document")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := clientTLS(*ca, *cert, *key, *sni)
	if err != nil {
		fmt.Fprintln(stderr, "osobench:", err)
		return 2
	}
	var dirs []string
	if *keystore != "" {
		dirs = strings.Split(*keystore, ",")
	}
	keys := loadgen.NewKeyring(dirs...)
	if *pubkey != "" {
		id, file, ok := strings.Cut(*pubkey, "=")
		if !ok {
			fmt.Fprintln(stderr, "osobench: --pubkey wants KEY_ID=FILE.pem")
			return 2
		}
		if err := keys.AddPEM(id, file); err != nil {
			fmt.Fprintln(stderr, "osobench:", err)
			return 2
		}
	}
	var roots []int
	if *pids != "" {
		for p := range strings.SplitSeq(*pids, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(p))
			if err != nil {
				fmt.Fprintf(stderr, "osobench: --server-pid: %v\n", err)
				return 2
			}
			roots = append(roots, n)
		}
	}
	res, err := loadgen.Run(ctx, loadgen.Config{
		URL: *u, Proto: *proto, TLS: cfg, Concurrency: *conc, Conns: *conns, Batch: *batch,
		Warmup: *warm, Duration: *dur, Keys: keys, VerifyAll: *verifyAll, ServerPIDs: roots,
	})
	if err != nil {
		fmt.Fprintln(stderr, "osobench:", err)
		return 1
	}
	if *asJSON {
		b, _ := json.MarshalIndent(res, "", "  ")
		fmt.Fprintln(stdout, string(b))
	} else {
		fmt.Fprintln(stdout, res.String())
		for _, e := range res.ErrorSample {
			fmt.Fprintln(stdout, "  error:", e)
		}
	}
	if res.Errors > 0 || res.Requests == 0 {
		return 1
	}
	return 0
}
