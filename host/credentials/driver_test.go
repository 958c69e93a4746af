package credentials_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/osohost/osohost/host/credentials"
	pb "github.com/osohost/osohost/host/credentials/credpb"
	"github.com/osohost/osohost/host/credentials/credtest"
	"github.com/osohost/osohost/internal/syncbuf"
)

// lockedBuffer is a bytes.Buffer safe for concurrent use.
type lockedBuffer = syncbuf.Buffer

// newLog returns a debug-level JSON logger writing to a buffer.
func newLog() (*slog.Logger, *lockedBuffer) {
	b := &lockedBuffer{}
	return slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

// driverEnv is a credentials file and a socket path for one test.
type driverEnv struct {
	file, socket string
}

func newDriverEnv(t *testing.T, creds map[string]credtest.Entry) driverEnv {
	t.Helper()
	e := driverEnv{file: filepath.Join(t.TempDir(), "creds.json"), socket: credtest.SocketPath(t)}
	credtest.WriteFile(t, e.file, creds)
	return e
}

func (e driverEnv) start(t *testing.T, args ...string) *credtest.Driver {
	t.Helper()
	return credtest.Start(t, e.socket, append([]string{"--from", e.file, "--log-level", "debug"}, args...)...)
}

func dial(t *testing.T, opts credentials.DriverOptions) *credentials.Driver {
	t.Helper()
	d, err := credentials.Dial(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

var twoCreds = map[string]credtest.Entry{
	"api":   {Token: "tok-api-1", TokenType: "Bearer", ExpiresAtMS: 4102444800000, Scopes: []string{"read"}},
	"other": {Token: "tok-other-1"},
}

func TestDriver_Resolve(t *testing.T) {
	e := newDriverEnv(t, twoCreds)
	drv := e.start(t)
	log, logs := newLog()
	d := dial(t, credentials.DriverOptions{Socket: e.socket, Logger: log})

	c, err := d.Resolve(t.Context(), "api")
	if err != nil || c.Token.Reveal() != "tok-api-1" || c.TokenType != "Bearer" || c.ExpiresAtMS() != 4102444800000 {
		t.Fatalf("api = %v, %v", c, err)
	}
	c, err = d.Resolve(t.Context(), "other")
	if err != nil || c.Token.Reveal() != "tok-other-1" || c.TokenType != "" || !c.ExpiresAt.IsZero() {
		t.Fatalf("other = %v, %v", c, err)
	}
	for _, name := range []string{"missing", "", "a b", strings.Repeat("a", 129)} {
		if _, err := d.Resolve(t.Context(), name); !errors.Is(err, credentials.ErrNotFound) {
			t.Errorf("Resolve(%q): %v, want ErrNotFound", name, err)
		}
	}
	infos, err := d.List(t.Context())
	want := []credentials.Info{{Name: "api", Scopes: []string{"read"}}, {Name: "other", Scopes: []string{}}}
	if err != nil || len(infos) != 2 || infos[0].Name != "api" || !reflect.DeepEqual(infos[0].Scopes, want[0].Scopes) || infos[1].Name != "other" {
		t.Fatalf("List = %+v, %v", infos, err)
	}
	if err := d.Health(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Resolve(t.Context(), "api"); !errors.Is(err, credentials.ErrUnavailable) {
		t.Fatalf("after Close: %v", err)
	}
	if err := drv.Stop(t); err != nil {
		t.Fatalf("driver exit: %v\n%s", err, drv.Stderr())
	}
	assertNoTokens(t, twoCreds, logs.String(), drv.Stderr())
	if !strings.Contains(drv.Stderr(), `"credential":"api"`) {
		t.Fatalf("the driver's debug log does not name the credentials it resolved:\n%s", drv.Stderr())
	}
}

// assertNoTokens fails if any token of creds appears in any of the logs.
func assertNoTokens(t *testing.T, creds map[string]credtest.Entry, logs ...string) {
	t.Helper()
	for _, l := range logs {
		for name, c := range creds {
			if strings.Contains(l, c.Token) {
				t.Fatalf("the token of %s appears in a log:\n%s", name, l)
			}
		}
	}
}

// TestDriver_StartedAfterClient: Dial waits, retrying, for a driver that
// starts after it.
func TestDriver_StartedAfterClient(t *testing.T) {
	e := newDriverEnv(t, twoCreds)
	type result struct {
		d   *credentials.Driver
		err error
	}
	dialed := make(chan result, 1)
	go func() {
		d, err := credentials.Dial(t.Context(), credentials.DriverOptions{Socket: e.socket, ConnectTimeout: credtest.ReadyTimeout, FailFast: true})
		dialed <- result{d, err}
	}()
	select {
	case r := <-dialed:
		t.Fatalf("Dial returned before the driver started: %v", r.err)
	default:
	}
	e.start(t)
	r := <-dialed
	if r.err != nil {
		t.Fatal(r.err)
	}
	defer r.d.Close()
	if c, err := r.d.Resolve(t.Context(), "api"); err != nil || c.Token.Reveal() != "tok-api-1" {
		t.Fatalf("Resolve = %v, %v", c, err)
	}
}

// TestDriver_AbsentAtStartup: without FailFast, Dial returns a Driver that
// reports unavailable and connects once the driver is there; with
// FailFast, Dial fails.
func TestDriver_AbsentAtStartup(t *testing.T) {
	e := newDriverEnv(t, twoCreds)
	_, err := credentials.Dial(t.Context(), credentials.DriverOptions{Socket: e.socket, ConnectTimeout: 100 * time.Millisecond, FailFast: true})
	if !errors.Is(err, credentials.ErrUnavailable) {
		t.Fatalf("FailFast without a driver: %v", err)
	}
	log, logs := newLog()
	d := dial(t, credentials.DriverOptions{Socket: e.socket, ConnectTimeout: 100 * time.Millisecond, CallTimeout: 2 * time.Second, Logger: log})
	if !strings.Contains(logs.String(), "not usable at startup") {
		t.Fatalf("no startup warning:\n%s", logs)
	}
	if _, err := d.Resolve(t.Context(), "api"); !errors.Is(err, credentials.ErrUnavailable) {
		t.Fatalf("Resolve without a driver: %v", err)
	}
	if err := d.Health(t.Context()); !errors.Is(err, credentials.ErrUnavailable) {
		t.Fatalf("Health without a driver: %v", err)
	}
	e.start(t)
	credtest.Await(t, "resolve once the driver runs", func() bool {
		c, err := d.Resolve(t.Context(), "api")
		return err == nil && c.Token.Reveal() == "tok-api-1"
	})
}

// TestDriver_KillAndRestart: a driver killed with SIGKILL makes calls fail
// with ErrUnavailable, not hang; once a new driver listens on the same
// socket (replacing the stale file), calls succeed again.
func TestDriver_KillAndRestart(t *testing.T) {
	e := newDriverEnv(t, twoCreds)
	drv := e.start(t)
	log, logs := newLog()
	d := dial(t, credentials.DriverOptions{Socket: e.socket, CallTimeout: 2 * time.Second, Logger: log})
	if _, err := d.Resolve(t.Context(), "api"); err != nil {
		t.Fatal(err)
	}
	drv.Kill(t)
	for range 3 {
		if _, err := d.Resolve(t.Context(), "api"); !errors.Is(err, credentials.ErrUnavailable) {
			t.Fatalf("driver killed: %v", err)
		}
	}
	rotated := map[string]credtest.Entry{"api": {Token: "tok-api-2"}}
	credtest.WriteFile(t, e.file, rotated)
	drv2 := e.start(t)
	credtest.Await(t, "resolve from the restarted driver", func() bool {
		c, err := d.Resolve(t.Context(), "api")
		return err == nil && c.Token.Reveal() == "tok-api-2"
	})
	credtest.Await(t, "reconnection logged", func() bool {
		return strings.Contains(logs.String(), "credentials driver connected")
	})
	if !strings.Contains(logs.String(), "connection lost") {
		t.Errorf("loss of the connection not logged:\n%s", logs)
	}
	drv2.Stop(t)
	assertNoTokens(t, twoCreds, logs.String(), drv.Stderr(), drv2.Stderr())
	assertNoTokens(t, rotated, logs.String(), drv.Stderr(), drv2.Stderr())
}

// TestDriver_Slow: a driver slower than CallTimeout gives ErrUnavailable.
func TestDriver_Slow(t *testing.T) {
	e := newDriverEnv(t, twoCreds)
	e.start(t, "--delay", "1h")
	d := dial(t, credentials.DriverOptions{Socket: e.socket, CallTimeout: 200 * time.Millisecond})
	_, err := d.Resolve(t.Context(), "api")
	if !errors.Is(err, credentials.ErrUnavailable) || !strings.Contains(err.Error(), "DeadlineExceeded") {
		t.Fatalf("slow driver: %v", err)
	}
	// The caller's own deadline is honoured as well.
	d2 := dial(t, credentials.DriverOptions{Socket: e.socket, CallTimeout: time.Hour})
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if _, err := d2.Resolve(ctx, "api"); !errors.Is(err, credentials.ErrUnavailable) {
		t.Fatalf("slow driver, caller deadline: %v", err)
	}
}

// TestDriver_Rotation: SIGHUP makes the driver serve the file's new
// content; a file that no longer parses keeps the old content.
func TestDriver_Rotation(t *testing.T) {
	e := newDriverEnv(t, twoCreds)
	drv := e.start(t)
	d := dial(t, credentials.DriverOptions{Socket: e.socket})
	next := map[string]credtest.Entry{"api": {Token: "tok-api-2", ExpiresAtMS: 4102444800001}}
	credtest.WriteFile(t, e.file, next)
	drv.Reload(t)
	c, err := d.Resolve(t.Context(), "api")
	if err != nil || c.Token.Reveal() != "tok-api-2" || c.ExpiresAtMS() != 4102444800001 {
		t.Fatalf("after reload: %v, %v", c, err)
	}
	if _, err := d.Resolve(t.Context(), "other"); !errors.Is(err, credentials.ErrNotFound) {
		t.Fatalf("removed credential: %v", err)
	}
	credtest.WriteFile(t, e.file, map[string]credtest.Entry{"api": {Token: ""}})
	if ev := drv.Signal(t, syscall.SIGHUP); ev != "reload_failed" {
		t.Fatalf("invalid file: event %q", ev)
	}
	if c, err := d.Resolve(t.Context(), "api"); err != nil || c.Token.Reveal() != "tok-api-2" {
		t.Fatalf("after a failed reload: %v, %v", c, err)
	}
	assertNoTokens(t, twoCreds, drv.Stderr())
	assertNoTokens(t, next, drv.Stderr())
}

func TestDial_Errors(t *testing.T) {
	for _, opts := range []credentials.DriverOptions{
		{},
		{Socket: "/" + strings.Repeat("s", 120)},
		{Socket: "a\x00b"},
	} {
		if _, err := credentials.Dial(t.Context(), opts); err == nil {
			t.Errorf("Dial(%q) succeeded", opts.Socket)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := credentials.Dial(ctx, credentials.DriverOptions{Socket: credtest.SocketPath(t)}); err == nil {
		t.Error("Dial with a cancelled context succeeded")
	}
}

// badDriver is a credentials driver that breaks the protocol's limits.
// It stands in for a faulty third-party driver, which the reference
// driver cannot be made to imitate.
type badDriver struct {
	pb.UnimplementedCredentialsServer
	cred *pb.Credential
	list *pb.ListCredentialsResponse
	err  error
}

func (b *badDriver) ResolveCredential(context.Context, *pb.ResolveCredentialRequest) (*pb.Credential, error) {
	return b.cred, b.err
}

func (b *badDriver) ListCredentials(context.Context, *pb.ListCredentialsRequest) (*pb.ListCredentialsResponse, error) {
	if b.list == nil {
		return &pb.ListCredentialsResponse{}, nil
	}
	return b.list, nil
}

func serveBad(t *testing.T, b *badDriver) string {
	t.Helper()
	sock := credtest.SocketPath(t)
	lis, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	if b != nil {
		pb.RegisterCredentialsServer(gs, b)
	}
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)
	return sock
}

// TestDriver_Misbehaving: answers outside the limits fail with
// ErrUnavailable and never put the token in the error.
func TestDriver_Misbehaving(t *testing.T) {
	const tok = "tok-leaky"
	many := &pb.ListCredentialsResponse{}
	for i := range credentials.MaxListEntries + 1 {
		many.Credentials = append(many.Credentials, &pb.CredentialInfo{Name: fmt.Sprint("n", i)})
	}
	tests := []struct {
		name string
		b    badDriver
		want error
	}{
		{"token too long", badDriver{cred: &pb.Credential{Token: tok + strings.Repeat("x", credentials.MaxTokenBytes)}}, credentials.ErrUnavailable},
		{"reply over the limit", badDriver{cred: &pb.Credential{Token: tok + strings.Repeat("x", 1<<20)}}, credentials.ErrUnavailable},
		{"empty token", badDriver{cred: &pb.Credential{}}, credentials.ErrUnavailable},
		{"bad token type", badDriver{cred: &pb.Credential{Token: tok, TokenType: "a\nb"}}, credentials.ErrUnavailable},
		{"negative expiry", badDriver{cred: &pb.Credential{Token: tok, ExpiresAtMs: -5}}, credentials.ErrUnavailable},
		{"error with a token in its message", badDriver{err: status.Error(codes.Internal, tok+"\n"+strings.Repeat("y", 500))}, credentials.ErrUnavailable},
		{"permission denied", badDriver{err: status.Error(codes.PermissionDenied, "no")}, credentials.ErrNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := dial(t, credentials.DriverOptions{Socket: serveBad(t, &tt.b), FailFast: true})
			_, err := d.Resolve(t.Context(), "x")
			if !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
			if strings.Contains(err.Error(), "yyyyyyyyyy"+strings.Repeat("y", 200)) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error not bounded: %v", err)
			}
			if strings.Contains(err.Error(), tok) {
				t.Fatalf("error carries the token: %v", err)
			}
		})
	}
	t.Run("list too long", func(t *testing.T) {
		_, err := credentials.Dial(t.Context(), credentials.DriverOptions{Socket: serveBad(t, &badDriver{list: many}), FailFast: true})
		if err == nil || !strings.Contains(err.Error(), "more than") {
			t.Fatalf("Dial: %v", err)
		}
	})
	t.Run("invalid listed name", func(t *testing.T) {
		d, err := credentials.Dial(t.Context(), credentials.DriverOptions{
			Socket: serveBad(t, &badDriver{list: &pb.ListCredentialsResponse{Credentials: []*pb.CredentialInfo{{Name: "a b"}}}}), FailFast: true})
		if err == nil || !strings.Contains(err.Error(), "invalid or repeated name") {
			t.Fatalf("Dial: %v, %v", d, err)
		}
	})
	t.Run("not a credentials driver", func(t *testing.T) {
		_, err := credentials.Dial(t.Context(), credentials.DriverOptions{Socket: serveBad(t, nil), FailFast: true, ConnectTimeout: credtest.ReadyTimeout})
		if err == nil || !strings.Contains(err.Error(), "Unimplemented") {
			t.Fatalf("Dial: %v", err)
		}
	})
}
