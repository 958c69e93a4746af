package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/osohost/osohost/host/config"
	"github.com/osohost/osohost/host/logging"
	"github.com/osohost/osohost/host/mock"
	"github.com/osohost/osohost/host/pki"
)

// mockSections are the configuration sections `osohost mock` reads from
// the environment; the others belong to the components and are not
// validated here.
var mockSections = []string{"APP__", "CERTS__", "LOGGING__", "MOCK__"}

// cmdMock plays the OSO against a frontend and a backend: once (--phase,
// --iterations) or, with --serve, on SIGUSR1 (phase 1) and SIGUSR2
// (phase 2) until SIGINT or SIGTERM.
func cmdMock(ctx context.Context, args, env []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mock", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: osohost mock [flags]\n\nPlays the OSO: phase 1 moves documents from the frontend to the backend, phase 2 back.\nSettings come from MOCK__* and CERTS__* (the client certificate, its key and the CA); flags win.\n\nflags:")
		fs.PrintDefaults()
	}
	var (
		frontend   = fs.String("frontend", "", "frontend base URL, ending in /api/frontend/v1alpha1 (MOCK__FRONTEND_ENDPOINT)")
		backend    = fs.String("backend", "", "backend base URL, ending in /api/backend/v1alpha1 (MOCK__BACKEND_ENDPOINT)")
		retries    = fs.Int("max-retries", 0, "status checks of a component before a phase fails (MOCK__MAX_RETRIES, default 3)")
		certFile   = fs.String("cert", "", "client certificate PEM file (instead of CERTS__APP_CRT)")
		keyFile    = fs.String("key", "", "client key PEM file (instead of CERTS__APP_KEY)")
		caFile     = fs.String("ca", "", "PEM file of the CAs the components' certificates chain to (instead of CERTS__CA)")
		serverName = fs.String("server-name", "", "name to verify the components' certificates against, for certificates without a matching SAN")
		phase      = fs.String("phase", "both", "phase to run: 1 (frontend → backend), 2 (backend → frontend) or both")
		iterations = fs.Int("iterations", 1, "how many times to run the phases")
		serve      = fs.Bool("serve", false, "keep running: SIGUSR1 runs phase 1, SIGUSR2 phase 2, SIGTERM exits")
		useHTTP3   = fs.Bool("http3", false, "speak HTTP/3 (QUIC over UDP) instead of HTTP/2")
		timeout    = fs.Duration("timeout", mock.DefaultRequestTimeout, "deadline of each request")
		retryDelay = fs.Duration("retry-delay", mock.DefaultRetryDelay, "wait before the second status check; each further wait is 5× longer")
		maxBody    = fs.Int("max-response-bytes", mock.DefaultMaxResponseBytes, "largest answer accepted from a component")
		file       = fs.String("config", "", "YAML configuration file (file < environment < flags)")
	)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "osohost mock: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	var phases []mock.Phase
	switch *phase {
	case "1":
		phases = []mock.Phase{mock.ToBackend}
	case "2":
		phases = []mock.Phase{mock.ToFrontend}
	case "both":
		phases = []mock.Phase{mock.ToBackend, mock.ToFrontend}
	default:
		fmt.Fprintf(stderr, "osohost mock: --phase must be 1, 2 or both, not %q\n", *phase)
		return 2
	}
	if *iterations < 1 || *timeout <= 0 || *retryDelay <= 0 || *maxBody <= 0 || *retries < 0 {
		fmt.Fprintln(stderr, "osohost mock: --iterations, --timeout, --retry-delay and --max-response-bytes must be positive")
		return 2
	}
	if (*certFile == "") != (*keyFile == "") {
		fmt.Fprintln(stderr, "osohost mock: --cert and --key go together")
		return 2
	}

	// Only the mock's own sections are loaded; CERTS__ parts that a flag
	// replaces are dropped so that they are not validated either. The flag
	// "dev" makes CERTS__* optional (they are checked below, with messages
	// naming the flags too) and gives PLUGIN__MODE, which the mock does not
	// use, a value.
	mockEnv := make([]string, 0, len(env))
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		name = strings.ToUpper(name)
		keep := false
		for _, s := range mockSections {
			keep = keep || strings.HasPrefix(name, s)
		}
		if *certFile != "" && (name == "CERTS__APP_CRT" || name == "CERTS__APP_KEY") || *caFile != "" && name == "CERTS__CA" {
			keep = false
		}
		if keep {
			mockEnv = append(mockEnv, kv)
		}
	}
	flags := map[string]any{"dev": true}
	if *frontend != "" {
		flags["mock.frontend_endpoint"] = *frontend
	}
	if *backend != "" {
		flags["mock.backend_endpoint"] = *backend
	}
	if *retries > 0 {
		flags["mock.max_retries"] = *retries
	}
	cfg, warnings, err := config.Load(mockEnv, *file, flags)
	if err != nil {
		fmt.Fprintf(stderr, "osohost mock: %v\n", err)
		return 2
	}
	var missing []string
	if cfg.Mock.FrontendEndpoint == "" {
		missing = append(missing, "MOCK__FRONTEND_ENDPOINT or --frontend: the frontend's base URL, such as https://frontend:4000/api/frontend/v1alpha1")
	}
	if cfg.Mock.BackendEndpoint == "" {
		missing = append(missing, "MOCK__BACKEND_ENDPOINT or --backend: the backend's base URL, such as https://backend:4000/api/backend/v1alpha1")
	}
	tlsCfg, problems := mockTLS(cfg, *certFile, *keyFile, *caFile)
	missing = append(missing, problems...)
	if len(missing) > 0 {
		fmt.Fprintf(stderr, "osohost mock: missing or invalid settings:\n  %s\n", strings.Join(missing, "\n  "))
		return 2
	}
	tlsCfg.ServerName = *serverName

	log := logging.New(stdout, cfg.Logging.Level, cfg.App.Name).With("logger", "osohost.mock")
	for _, w := range warnings {
		log.Warn(w, "logger", "osohost.config")
	}
	m, err := mock.New(mock.Options{
		Frontend:         cfg.Mock.FrontendEndpoint,
		Backend:          cfg.Mock.BackendEndpoint,
		TLS:              tlsCfg,
		HTTP3:            *useHTTP3,
		MaxRetries:       cfg.Mock.MaxRetries,
		RetryDelay:       *retryDelay,
		RequestTimeout:   *timeout,
		MaxResponseBytes: *maxBody,
		Logger:           log,
	})
	if err != nil {
		fmt.Fprintf(stderr, "osohost mock: %v\n", err)
		return 2
	}
	defer m.Close()

	if *serve {
		if err := serveMock(ctx, m); err != nil {
			fmt.Fprintf(stderr, "osohost mock: %v\n", err)
			return 1
		}
		return 0
	}
	for i := 1; i <= *iterations; i++ {
		for _, p := range phases {
			if _, err := m.Run(ctx, p); err != nil {
				if ctx.Err() != nil {
					fmt.Fprintf(stderr, "osohost mock: interrupted during %s\n", p)
				} else {
					fmt.Fprintf(stderr, "osohost mock: %v\n", err)
				}
				return 1
			}
		}
	}
	return 0
}

// mockTLS builds the client configuration: the client certificate from
// the files or CERTS__APP_CRT/CERTS__APP_KEY, the trusted CAs from the
// file or CERTS__CA. Each problem names the flag and the variable.
func mockTLS(cfg *config.Config, certFile, keyFile, caFile string) (*tls.Config, []string) {
	var errs []string
	out := &tls.Config{MinVersion: tls.VersionTLS13}
	if certFile != "" {
		crt, err1 := os.ReadFile(certFile)
		key, err2 := os.ReadFile(keyFile)
		if err := errors.Join(err1, err2); err != nil {
			errs = append(errs, fmt.Sprintf("--cert/--key: %v", err))
		} else if pair, err := pki.X509KeyPair(crt, key); err != nil {
			errs = append(errs, fmt.Sprintf("--cert/--key: %v", err))
		} else {
			out.Certificates = []tls.Certificate{pair}
		}
	} else if pair, err := cfg.Certs.ServerCertificate(); err == nil {
		out.Certificates = []tls.Certificate{pair}
	} else {
		errs = append(errs, "CERTS__APP_CRT and CERTS__APP_KEY, or --cert and --key: the client certificate (PEM) and its key, whose fingerprint the components allowlist")
	}
	if caFile != "" {
		b, err := os.ReadFile(caFile)
		var cas []*x509.Certificate
		if err == nil {
			cas, err = pki.ParseCertificates(b)
		}
		if err != nil {
			errs = append(errs, fmt.Sprintf("--ca: %v", err))
		} else {
			out.RootCAs = x509.NewCertPool()
			for _, c := range cas {
				out.RootCAs.AddCert(c)
			}
		}
	} else if pool, err := cfg.Certs.ClientCAs(); err == nil {
		out.RootCAs = pool
	} else {
		errs = append(errs, "CERTS__CA or --ca: the CA certificates (PEM) the components' server certificates chain to")
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return out, nil
}

// serveMock runs phases on signals until ctx ends (SIGINT, SIGTERM).
func serveMock(ctx context.Context, m *mock.Mock) error {
	triggers, stop, err := phaseSignals()
	if err != nil {
		return err
	}
	defer stop()
	return m.Serve(ctx, triggers)
}
