// Command grep11dev is a GREP11 server for development and tests. It
// speaks the GREP11 gRPC protocol over mTLS, as an HSM's GREP11 service
// does, but keeps its keys in software: it generates secp256k1 and Ed25519
// key pairs, returns the private keys wrapped with AES-256-GCM under its
// master key, and signs with them. It is not an HSM and must not hold
// keys that matter.
//
// Usage:
//
//	grep11dev --ca ca.crt --cert server.crt --key server.key [flags]
//
// Once it listens it prints one line on stdout, such as
//
//	{"event":"listening","addr":"127.0.0.1:40123"}
//
// and it stops on SIGTERM or SIGINT. Logs go to stderr.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	pb "github.com/osohost/osohost/host/signing/grep11/grep11pb"
)

// shutdownGrace bounds how long calls in flight may finish after SIGTERM.
const shutdownGrace = 5 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// config is the parsed command line.
type config struct {
	listen, ca, cert, key, masterKeyFile string
	latency                              time.Duration
	failureRate                          float64
	seed                                 uint64
	mechs                                []uint64
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("grep11dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.listen, "listen", "127.0.0.1:0", "address to listen on: host:port, or unix:/path for a Unix socket")
	fs.StringVar(&c.ca, "ca", "", "PEM file of the CA that client certificates must chain to (required)")
	fs.StringVar(&c.cert, "cert", "", "PEM file of the server's certificate chain (required)")
	fs.StringVar(&c.key, "key", "", "PEM file of the server's private key (required)")
	fs.StringVar(&c.masterKeyFile, "master-key-file", "", "file holding the 32-byte master key (raw or hex); created if missing; empty: a random key for this run only")
	fs.DurationVar(&c.latency, "latency", 0, "delay added to every call, e.g. 2ms")
	fs.Float64Var(&c.failureRate, "failure-rate", 0, "fraction of calls (0 to 1) that fail with Unavailable")
	fs.Uint64Var(&c.seed, "seed", 0, "seed of the failure injection and of the choice of high or low S (0: random)")
	mechs := fs.String("mechanisms", "0x1040,0x1041,0x8001001C", "comma-separated mechanisms the server offers")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	switch {
	case fs.NArg() > 0:
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case c.ca == "" || c.cert == "" || c.key == "":
		return c, errors.New("--ca, --cert and --key are required")
	case c.latency < 0:
		return c, errors.New("--latency must not be negative")
	case !(c.failureRate >= 0 && c.failureRate <= 1):
		return c, errors.New("--failure-rate must be between 0 and 1")
	}
	for m := range strings.SplitSeq(*mechs, ",") {
		if m = strings.TrimSpace(m); m == "" {
			continue
		}
		v, err := strconv.ParseUint(m, 0, 64)
		if err != nil {
			return c, fmt.Errorf("--mechanisms: %q is not a number", m)
		}
		c.mechs = append(c.mechs, v)
	}
	slices.Sort(c.mechs)
	c.mechs = slices.Compact(c.mechs)
	return c, nil
}

// run serves until ctx ends and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	log := slog.New(slog.NewJSONHandler(stderr, nil))
	c, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "grep11dev:", err)
		return 2
	}
	if err := serve(ctx, c, stdout, log); err != nil {
		log.Error("grep11dev failed", "err", err)
		return 1
	}
	return 0
}

func serve(ctx context.Context, c config, stdout io.Writer, log *slog.Logger) error {
	tlsConf, err := serverTLS(c)
	if err != nil {
		return err
	}
	master, err := loadMasterKey(c.masterKeyFile)
	if err != nil {
		return fmt.Errorf("master key: %w", err)
	}
	w, err := newWrapper(master)
	clear(master)
	if err != nil {
		return err
	}
	seed := c.seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	srv := &server{
		w:           w,
		mechs:       c.mechs,
		latency:     c.latency,
		failureRate: c.failureRate,
		rng:         rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
	}

	network, address := "tcp", c.listen
	if path, ok := strings.CutPrefix(c.listen, "unix:"); ok {
		network, address = "unix", strings.TrimPrefix(path, "//")
	}
	lis, err := (&net.ListenConfig{}).Listen(ctx, network, address)
	if err != nil {
		return err
	}
	addr := lis.Addr().String()
	if network == "unix" {
		addr = "unix:" + addr
	}

	gs := grpc.NewServer(
		grpc.Creds(credentials.NewTLS(tlsConf)),
		grpc.UnaryInterceptor(srv.intercept),
		grpc.MaxRecvMsgSize(1<<20),
		grpc.ConnectionTimeout(10*time.Second),
	)
	pb.RegisterCryptoServer(gs, srv)

	served := make(chan error, 1)
	go func() { served <- gs.Serve(lis) }()

	ready, _ := json.Marshal(struct {
		Event string `json:"event"`
		Addr  string `json:"addr"`
	}{"listening", addr})
	if _, err := fmt.Fprintf(stdout, "%s\n", ready); err != nil {
		gs.Stop()
		return err
	}
	log.Info("grep11dev listening", "addr", addr, "latency", c.latency.String(), "failure_rate", c.failureRate)

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	log.Info("grep11dev stopping")
	stopped := make(chan struct{})
	go func() { gs.GracefulStop(); close(stopped) }()
	t := time.NewTimer(shutdownGrace)
	defer t.Stop()
	select {
	case <-stopped:
	case <-t.C:
		gs.Stop()
		<-stopped
	}
	return nil
}

// serverTLS loads the server's certificate and the client CA: TLS 1.2 or
// later, client certificates required and verified.
func serverTLS(c config) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(c.cert, c.key)
	if err != nil {
		return nil, fmt.Errorf("server certificate: %w", err)
	}
	caPEM, err := os.ReadFile(c.ca)
	if err != nil {
		return nil, fmt.Errorf("client CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("client CA: no PEM certificate in %s", c.ca)
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
	}, nil
}
