package credentials

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	pb "github.com/osohost/osohost/host/credentials/credpb"
)

// Defaults for the zero values of [DriverOptions].
const (
	DefaultConnectTimeout = 10 * time.Second
	DefaultCallTimeout    = 5 * time.Second
)

const (
	// maxSocketPath is the longest Unix socket path the kernel accepts
	// (sun_path holds 108 bytes on Linux, with the terminating NUL).
	maxSocketPath = 107
	// maxResolveReply bounds a ResolveCredential answer: the token, its
	// type, the expiry and protobuf framing.
	maxResolveReply = MaxTokenBytes + MaxTokenTypeBytes + 64
	// maxListReply bounds a ListCredentials answer.
	maxListReply = 4 << 20
	// maxStatusMessage bounds the part of a driver's error message kept in
	// an error.
	maxStatusMessage = 200
	// maxReconnectDelay caps the delay between reconnection attempts, so
	// that a driver that comes back is used within a second or so.
	maxReconnectDelay = time.Second
)

// DriverOptions configure [Dial]. Socket is required; the zero value of
// every other field is usable.
type DriverOptions struct {
	// Socket is the path of the driver's Unix domain socket.
	Socket string
	// ConnectTimeout bounds how long Dial waits for the driver to answer,
	// retrying with backoff: the driver may start after the host. Zero
	// means DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// FailFast makes Dial fail when the driver has not answered within
	// ConnectTimeout. By default Dial then returns a Driver anyway: it
	// keeps reconnecting in the background and its calls fail with
	// ErrUnavailable until the driver is there.
	FailFast bool
	// CallTimeout bounds each call to the driver; the caller's context can
	// only shorten it. Zero means DefaultCallTimeout.
	CallTimeout time.Duration
	// Logger receives the connection's outcome and changes (socket path,
	// never tokens). Nil discards them.
	Logger *slog.Logger
}

func (o DriverOptions) withDefaults() DriverOptions {
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = DefaultCallTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Driver is a [Provider] that asks a credentials driver, a separate
// process, over gRPC on a Unix domain socket (service
// osohost.credentials.v1.Credentials). It is safe for concurrent use; all
// calls share one connection, which is re-established in the background
// whenever the driver goes away and comes back.
//
// Answers are checked against the limits of this package: a token over
// [MaxTokenBytes], an invalid name or more than [MaxListEntries]
// credentials make the call fail with [ErrUnavailable].
type Driver struct {
	opts   DriverOptions // with defaults
	conn   *grpc.ClientConn
	client pb.CredentialsClient
	stop   context.CancelFunc // stops the watcher
	wg     sync.WaitGroup
	once   sync.Once
	closed chan struct{}
}

var _ Provider = (*Driver)(nil)

// Dial connects to the driver at opts.Socket and returns a Driver.
//
// It waits up to opts.ConnectTimeout (or until ctx ends) for the driver to
// answer a ListCredentials call, reconnecting with backoff. If the driver
// has not answered by then, Dial fails when opts.FailFast is set;
// otherwise it logs a warning and returns the Driver, whose calls fail
// with [ErrUnavailable] until the driver is reachable. Dial fails at once
// on invalid options and when ctx ends.
func Dial(ctx context.Context, opts DriverOptions) (*Driver, error) {
	o := opts.withDefaults()
	switch {
	case o.Socket == "":
		return nil, errors.New("credentials: a driver socket path is required")
	case len(o.Socket) > maxSocketPath:
		return nil, fmt.Errorf("credentials: driver socket path of %d bytes exceeds %d", len(o.Socket), maxSocketPath)
	case strings.ContainsRune(o.Socket, 0):
		return nil, errors.New("credentials: driver socket path holds a NUL byte")
	}
	conn, err := grpc.NewClient("unix:"+o.Socket,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff: backoff.Config{
				BaseDelay:  50 * time.Millisecond,
				Multiplier: 1.6,
				Jitter:     0.2,
				MaxDelay:   maxReconnectDelay,
			},
			MinConnectTimeout: o.CallTimeout,
		}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxListReply)),
		grpc.WithUserAgent("osohost"),
	)
	if err != nil {
		return nil, fmt.Errorf("credentials: driver: %w", err)
	}
	d := &Driver{opts: o, conn: conn, client: pb.NewCredentialsClient(conn), closed: make(chan struct{})}
	conn.Connect()
	n, err := d.await(ctx)
	if err != nil {
		if o.FailFast || ctx.Err() != nil {
			d.Close()
			return nil, err
		}
		o.Logger.Warn("credentials driver not usable at startup; credentials are unavailable until it answers",
			"socket", o.Socket, "err", err)
	} else {
		o.Logger.Info("credentials driver ready", "socket", o.Socket, "credentials", n)
	}
	wctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	d.stop = stop
	d.wg.Add(1)
	go d.watch(wctx)
	return d, nil
}

// await lists the driver's credentials until it answers, ConnectTimeout
// passes or ctx ends, and returns how many it has. Only a missing
// connection is retried: a driver that answers wrongly fails at once.
func (d *Driver) await(ctx context.Context) (int, error) {
	actx, cancel := context.WithTimeout(ctx, d.opts.ConnectTimeout)
	defer cancel()
	wait := 50 * time.Millisecond
	var last error
	for {
		// WaitForReady: the call waits for a connection, which gRPC
		// retries with backoff, instead of failing at the first refusal.
		r, err := d.client.ListCredentials(actx, &pb.ListCredentialsRequest{}, grpc.WaitForReady(true))
		switch {
		case err == nil:
			infos, err := checkList(r)
			return len(infos), err
		case ctx.Err() != nil:
			return 0, fmt.Errorf("%w: %w", ErrUnavailable, context.Cause(ctx))
		case actx.Err() != nil:
			if last == nil {
				last = d.mapError(err)
			}
			return 0, fmt.Errorf("credentials: driver at %s did not answer within %v: %w", d.opts.Socket, d.opts.ConnectTimeout, last)
		case status.Code(err) != codes.Unavailable:
			return 0, fmt.Errorf("credentials: driver at %s: %w", d.opts.Socket, d.mapError(err))
		}
		last = d.mapError(err)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-actx.Done():
			t.Stop()
		}
		wait = min(2*wait, maxReconnectDelay)
	}
}

// watch logs when the connection to the driver is established and lost,
// until ctx ends.
func (d *Driver) watch(ctx context.Context) {
	defer d.wg.Done()
	ready := d.conn.GetState() == connectivity.Ready
	for {
		st := d.conn.GetState()
		if !d.conn.WaitForStateChange(ctx, st) {
			return
		}
		switch now := d.conn.GetState(); {
		case now == connectivity.Ready && !ready:
			ready = true
			d.opts.Logger.Info("credentials driver connected", "socket", d.opts.Socket)
		case now != connectivity.Ready && ready:
			ready = false
			d.opts.Logger.Warn("credentials driver connection lost; reconnecting", "socket", d.opts.Socket)
		}
	}
}

// Resolve asks the driver for the named credential. A name that is not
// valid ([ValidName]) fails with [ErrNotFound] without asking.
func (d *Driver) Resolve(ctx context.Context, name string) (Credential, error) {
	if !ValidName(name) {
		return Credential{}, fmt.Errorf("%w: %s", ErrNotFound, quoteName(name))
	}
	if d.isClosed() {
		return Credential{}, fmt.Errorf("%w: driver client closed", ErrUnavailable)
	}
	ctx, cancel := context.WithTimeout(ctx, d.opts.CallTimeout)
	defer cancel()
	c, err := d.client.ResolveCredential(ctx, &pb.ResolveCredentialRequest{Name: name}, grpc.MaxCallRecvMsgSize(maxResolveReply))
	if err != nil {
		return Credential{}, fmt.Errorf("credentials: resolve %s: %w", quoteName(name), d.mapError(err))
	}
	token, tokenType, exp := c.GetToken(), c.GetTokenType(), c.GetExpiresAtMs()
	if err := checkValue(token, tokenType, exp); err != nil {
		return Credential{}, fmt.Errorf("credentials: resolve %s: driver answered an invalid credential (%v): %w", quoteName(name), err, ErrUnavailable)
	}
	return newCredential(token, tokenType, exp), nil
}

// List asks the driver which credentials it has, and checks the answer.
func (d *Driver) List(ctx context.Context) ([]Info, error) {
	if d.isClosed() {
		return nil, fmt.Errorf("%w: driver client closed", ErrUnavailable)
	}
	ctx, cancel := context.WithTimeout(ctx, d.opts.CallTimeout)
	defer cancel()
	return d.list(ctx)
}

func (d *Driver) list(ctx context.Context) ([]Info, error) {
	r, err := d.client.ListCredentials(ctx, &pb.ListCredentialsRequest{})
	if err != nil {
		return nil, fmt.Errorf("credentials: list: %w", d.mapError(err))
	}
	return checkList(r)
}

// checkList validates a driver's list against the limits.
func checkList(r *pb.ListCredentialsResponse) ([]Info, error) {
	cs := r.GetCredentials()
	if len(cs) > MaxListEntries {
		return nil, fmt.Errorf("credentials: list: driver answered %d credentials, more than %d: %w", len(cs), MaxListEntries, ErrUnavailable)
	}
	out := make([]Info, 0, len(cs))
	seen := make(map[string]bool, len(cs))
	for _, c := range cs {
		name := c.GetName()
		if !ValidName(name) || seen[name] {
			return nil, fmt.Errorf("credentials: list: driver answered an invalid or repeated name %s: %w", quoteName(name), ErrUnavailable)
		}
		if err := checkScopes(c.GetScopes()); err != nil {
			return nil, fmt.Errorf("credentials: list: %s: driver answered %v: %w", quoteName(name), err, ErrUnavailable)
		}
		seen[name] = true
		out = append(out, Info{Name: name, Scopes: c.GetScopes()})
	}
	sortInfos(out)
	return out, nil
}

// Health reports whether the driver answers now: nil, or an error
// matching ErrUnavailable.
func (d *Driver) Health(ctx context.Context) error {
	_, err := d.List(ctx)
	return err
}

// mapError turns a gRPC error into one matching ErrNotFound,
// ErrNotAllowed or ErrUnavailable. The message is kept, cut short and
// stripped of what is not printable, only for the codes the client's own
// transport produces (a refused connection, a deadline): a driver never
// puts a token in an error, and what it writes is left out in case one
// does.
func (d *Driver) mapError(err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	kind := ErrUnavailable
	switch st.Code() {
	case codes.NotFound, codes.InvalidArgument:
		kind = ErrNotFound
	case codes.PermissionDenied:
		kind = ErrNotAllowed
	}
	switch st.Code() {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled, codes.ResourceExhausted:
		return fmt.Errorf("%w: %s: %s", kind, st.Code(), cleanMessage(st.Message()))
	}
	return fmt.Errorf("%w: driver answered %s", kind, st.Code())
}

// cleanMessage cuts s to maxStatusMessage bytes of printable text.
func cleanMessage(s string) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= maxStatusMessage {
			b.WriteString("…")
			break
		}
		if r < ' ' || r == 0x7f || r == utf8.RuneError {
			r = ' '
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (d *Driver) isClosed() bool {
	select {
	case <-d.closed:
		return true
	default:
		return false
	}
}

// Close closes the connection and stops the background work. Calls after
// Close fail with ErrUnavailable.
func (d *Driver) Close() error {
	var err error
	d.once.Do(func() {
		close(d.closed)
		if d.stop != nil {
			d.stop()
		}
		err = d.conn.Close()
		d.wg.Wait()
	})
	return err
}
