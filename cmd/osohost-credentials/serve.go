package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/osohost/osohost/host/credentials"
	pb "github.com/osohost/osohost/host/credentials/credpb"
)

const (
	// shutdownGrace bounds how long calls in flight may finish after
	// SIGTERM.
	shutdownGrace = 5 * time.Second
	// maxRequestBytes bounds a request: a name and protobuf framing.
	maxRequestBytes = 4096
	// maxStreams bounds the calls in flight on one connection.
	maxStreams = 256
	// maxSocketPath is the longest Unix socket path Linux accepts.
	maxSocketPath = 107
)

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: osohost-credentials serve --socket PATH (--from FILE | --dev) [--log-level LEVEL]")
}

// run dispatches to a subcommand; it is main without the process.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "serve":
		return cmdServe(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		usage(stdout)
		return 0
	}
	fmt.Fprintf(stderr, "osohost-credentials: unknown command %q\n", args[0])
	usage(stderr)
	return 2
}

// config is the parsed command line of serve.
type config struct {
	socket, from string
	dev          bool
	level        slog.Level
	delay        time.Duration // hidden: added to every ResolveCredential, for tests
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("osohost-credentials serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.socket, "socket", "", "path of the Unix socket to listen on (required)")
	fs.StringVar(&c.from, "from", "", "JSON or YAML file of credentials; SIGHUP re-reads it")
	fs.BoolVar(&c.dev, "dev", false, "serve the embedded development credentials (fake tokens) instead of --from")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	fs.DurationVar(&c.delay, "delay", 0, "")
	fs.Usage = func() {
		usage(stderr)
		fs.VisitAll(func(f *flag.Flag) {
			if f.Name == "delay" { // a testing aid, not part of the interface
				return
			}
			fmt.Fprintf(stderr, "  --%s\n\t%s\n", f.Name, f.Usage)
		})
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	switch {
	case fs.NArg() > 0:
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case c.socket == "":
		return c, errors.New("--socket is required")
	case len(c.socket) > maxSocketPath:
		return c, fmt.Errorf("--socket: the path exceeds %d bytes", maxSocketPath)
	case c.from == "" && !c.dev:
		return c, errors.New("--from FILE or --dev is required")
	case c.from != "" && c.dev:
		return c, errors.New("--from and --dev exclude each other")
	case c.delay < 0:
		return c, errors.New("--delay must not be negative")
	}
	if err := c.level.UnmarshalText([]byte(*level)); err != nil {
		return c, fmt.Errorf("--log-level: %q is not debug, info, warn or error", *level)
	}
	return c, nil
}

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "osohost-credentials:", err)
		return 2
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: c.level}))
	if err := serve(ctx, c, stdout, log); err != nil {
		log.Error("osohost-credentials failed", "err", err)
		return 1
	}
	return 0
}

// event writes one JSON line on stdout: how a supervisor or a test learns
// that the driver is ready or has reloaded.
func event(w io.Writer, name string, attrs map[string]any) error {
	m := map[string]any{"event": name}
	for k, v := range attrs {
		m[k] = v
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

func (c config) load() (*credentials.Static, error) {
	if c.dev {
		return credentials.DevStatic(), nil
	}
	return credentials.LoadStatic(c.from)
}

func serve(ctx context.Context, c config, stdout io.Writer, log *slog.Logger) error {
	set, err := c.load()
	if err != nil {
		return err
	}
	if c.dev {
		log.Warn("serving the development credentials: their tokens are fake and public")
	}
	srv := &server{log: log, delay: c.delay}
	srv.set.Store(set)

	// SIGHUP is watched before the socket exists, so that one sent as
	// soon as the ready line is read is not lost.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	lis, err := listen(ctx, c.socket)
	if err != nil {
		return err
	}
	gs := grpc.NewServer(
		grpc.MaxRecvMsgSize(maxRequestBytes),
		grpc.MaxConcurrentStreams(maxStreams),
		grpc.ConnectionTimeout(10*time.Second),
	)
	pb.RegisterCredentialsServer(gs, srv)
	served := make(chan error, 1)
	go func() { served <- gs.Serve(lis) }()
	defer func() {
		// Closing the listener removes the socket file.
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
	}()

	if err := event(stdout, "listening", map[string]any{"socket": c.socket, "credentials": set.Len()}); err != nil {
		return err
	}
	log.Info("osohost-credentials listening", "socket", c.socket, "count", set.Len(), "credentials", names(set), "delay", c.delay.String())

	for {
		select {
		case err := <-served:
			return err
		case <-ctx.Done():
			log.Info("osohost-credentials stopping")
			return nil
		case <-hup:
			if c.dev {
				log.Info("SIGHUP ignored: the development set does not change")
				_ = event(stdout, "reloaded", map[string]any{"credentials": set.Len()})
				continue
			}
			next, err := c.load()
			if err != nil {
				log.Error("reload failed; still serving the previous credentials", "file", c.from, "err", err)
				_ = event(stdout, "reload_failed", nil)
				continue
			}
			srv.set.Store(next)
			log.Info("credentials reloaded", "file", c.from, "count", next.Len(), "credentials", names(next))
			// Events after the ready line are best effort: a supervisor
			// that stopped reading must not stop the driver.
			_ = event(stdout, "reloaded", map[string]any{"credentials": next.Len()})
		}
	}
}

// maxLoggedNames bounds the names one log line lists.
const maxLoggedNames = 64

// names lists the names of a set for a log line: at most maxLoggedNames,
// then "…".
func names(s *credentials.Static) []string {
	infos, _ := s.List(context.Background())
	out := make([]string, 0, min(len(infos), maxLoggedNames+1))
	for _, in := range infos {
		if len(out) == maxLoggedNames {
			out = append(out, "…")
			break
		}
		out = append(out, in.Name)
	}
	return out
}

// listen creates the socket with mode 0600. A socket file left by a driver
// that was killed is removed first; a path where something listens, or
// that is not a socket, is an error.
func listen(ctx context.Context, path string) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("%s exists and is not a socket", path)
		}
		d := net.Dialer{Timeout: time.Second}
		if conn, err := d.DialContext(ctx, "unix", path); err == nil {
			conn.Close()
			return nil, fmt.Errorf("%s is in use by another process", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("remove stale socket: %w", err)
		}
	}
	lis, err := listenPrivate(ctx, path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		lis.Close()
		return nil, err
	}
	return lis, nil
}

// server implements the Credentials service over the current set.
type server struct {
	pb.UnimplementedCredentialsServer
	log   *slog.Logger
	delay time.Duration
	set   atomic.Pointer[credentials.Static]
}

func (s *server) ResolveCredential(ctx context.Context, req *pb.ResolveCredentialRequest) (*pb.Credential, error) {
	name := req.GetName()
	if !credentials.ValidName(name) {
		s.log.Debug("invalid credential name refused", "name_bytes", len(name))
		return nil, status.Error(codes.InvalidArgument, "invalid credential name")
	}
	if s.delay > 0 {
		t := time.NewTimer(s.delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}
	c, err := s.set.Load().Resolve(ctx, name)
	if errors.Is(err, credentials.ErrNotFound) {
		s.log.Debug("unknown credential", "credential", name)
		return nil, status.Error(codes.NotFound, "credential not found")
	}
	if err != nil {
		return nil, status.Error(codes.Unavailable, "credentials unavailable")
	}
	s.log.Debug("credential resolved", "credential", name, "token_type", c.TokenType, "expires_at_ms", c.ExpiresAtMS())
	return &pb.Credential{Token: c.Token.Reveal(), TokenType: c.TokenType, ExpiresAtMs: c.ExpiresAtMS()}, nil
}

func (s *server) ListCredentials(ctx context.Context, _ *pb.ListCredentialsRequest) (*pb.ListCredentialsResponse, error) {
	infos, err := s.set.Load().List(ctx)
	if err != nil {
		return nil, status.Error(codes.Unavailable, "credentials unavailable")
	}
	r := &pb.ListCredentialsResponse{Credentials: make([]*pb.CredentialInfo, len(infos))}
	for i, in := range infos {
		r.Credentials[i] = &pb.CredentialInfo{Name: in.Name, Scopes: in.Scopes}
	}
	s.log.Debug("credentials listed", "credentials", len(infos))
	return r, nil
}
