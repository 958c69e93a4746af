// Command oidcdev is an OpenID Connect issuer for development and tests. It
// publishes a discovery document and a JSON Web Key Set, as an identity
// provider does, and mints whatever tokens it is asked for: it has no users,
// no clients and no login. It listens on loopback addresses only and must
// never be reachable by anyone but the developer.
//
// Usage:
//
//	oidcdev [--cert server.crt --key server.key] [flags]
//
// With --cert and --key it serves HTTPS, else plain HTTP. Once it listens it
// prints one line on stdout, such as
//
//	{"event":"listening","issuer":"https://127.0.0.1:40123","url":"https://127.0.0.1:40123"}

// (issuer is what it publishes, url where it is served; they differ when
// --issuer is given)
//
// and it stops on SIGTERM or SIGINT. Logs go to stderr; tokens are never
// logged.
//
// Endpoints:
//
//	GET  /.well-known/openid-configuration   the discovery document
//	GET  /jwks                               the key set (public keys)
//	POST /token[?kid=K]                      mint a token
//	POST /rotate[?alg=A][&keep=true|false]   new signing key
//	GET  /stats                              request counts
//
// POST /token takes a JSON object of claims and answers
// {"access_token": "…", "token_type": "Bearer", "kid": "…"}. Missing "iss",
// "iat" and "exp" claims are set to the issuer, now and now + --token-ttl; a
// claim set to null is left out of the token. The token is signed with the
// current key; ?kid= writes another key id into its header (the signature
// stays the current key's), to present keys the issuer does not publish,
// and an empty ?kid= leaves the key id out.
//
// POST /rotate makes a new current key (of --alg, or ?alg=) with a new key
// id and answers {"kid": "…"}. The previous keys stay in the key set when
// --keep-old is set (or ?keep=true), else they are dropped.
//
// GET /stats answers {"discovery": n, "jwks": n, "tokens": n}, the number of
// requests each endpoint served.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// shutdownGrace bounds how long requests in flight may finish after SIGTERM.
const shutdownGrace = 5 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// config is the parsed command line.
type config struct {
	listen, cert, key, issuer, alg string
	keepOld                        bool
	maxAge                         int
	tokenTTL                       time.Duration
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("oidcdev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.listen, "listen", "127.0.0.1:0", "loopback address to listen on")
	fs.StringVar(&c.cert, "cert", "", "PEM file of the server's certificate chain (HTTPS with --key)")
	fs.StringVar(&c.key, "key", "", "PEM file of the server's private key")
	fs.StringVar(&c.issuer, "issuer", "", "issuer URL to publish and write in tokens (default: the URL it listens on)")
	fs.StringVar(&c.alg, "alg", "ES256", "algorithm of the signing keys: RS256, ES256 or EdDSA")
	fs.BoolVar(&c.keepOld, "keep-old", false, "keep previous keys in the key set when rotating")
	fs.IntVar(&c.maxAge, "max-age", -1, "Cache-Control max-age of the key set in seconds; negative: no Cache-Control header")
	fs.DurationVar(&c.tokenTTL, "token-ttl", 5*time.Minute, "lifetime of minted tokens without an exp claim")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	switch {
	case fs.NArg() > 0:
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case (c.cert == "") != (c.key == ""):
		return c, errors.New("--cert and --key go together")
	case c.tokenTTL <= 0:
		return c, errors.New("--token-ttl must be positive")
	}
	if _, err := newKey(c.alg); err != nil {
		return c, fmt.Errorf("--alg: %w", err)
	}
	host, _, err := net.SplitHostPort(c.listen)
	if err != nil {
		return c, fmt.Errorf("--listen: %w", err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return c, fmt.Errorf("--listen %s is not a loopback address: this issuer mints tokens for anyone who asks", c.listen)
	}
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
		fmt.Fprintln(stderr, "oidcdev:", err)
		return 2
	}
	if err := serve(ctx, c, stdout, log); err != nil {
		log.Error("oidcdev failed", "err", err)
		return 1
	}
	return 0
}

func serve(ctx context.Context, c config, stdout io.Writer, log *slog.Logger) error {
	lis, err := (&net.ListenConfig{}).Listen(ctx, "tcp", c.listen)
	if err != nil {
		return err
	}
	scheme := "http"
	if c.cert != "" {
		scheme = "https"
	}
	issuer := c.issuer
	if issuer == "" {
		issuer = scheme + "://" + lis.Addr().String()
	}
	base := scheme + "://" + lis.Addr().String()
	iss, err := newIssuer(issuer, base, c, time.Now)
	if err != nil {
		lis.Close()
		return err
	}
	srv := &http.Server{
		Handler:           iss.handler(),
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() {
		if c.cert != "" {
			served <- srv.ServeTLS(lis, c.cert, c.key)
		} else {
			served <- srv.Serve(lis)
		}
	}()

	ready, _ := json.Marshal(struct {
		Event  string `json:"event"`
		Issuer string `json:"issuer"`
		URL    string `json:"url"`
	}{"listening", issuer, base})
	if _, err := fmt.Fprintf(stdout, "%s\n", ready); err != nil {
		srv.Close()
		return err
	}
	log.Info("oidcdev listening", "issuer", issuer, "addr", lis.Addr().String(), "alg", c.alg)

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	log.Info("oidcdev stopping")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	return nil
}
