package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/osohost/osohost/host"
	"github.com/osohost/osohost/host/config"
	"github.com/osohost/osohost/host/logging"
	"github.com/osohost/osohost/host/pki"
)

// serveFlags are the flags of run and config.
type serveFlags struct {
	fs     *flag.FlagSet
	mode   *string
	listen *string
	file   *string
	dev    *bool
}

func newServeFlags(name string, stderr io.Writer) *serveFlags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return &serveFlags{
		fs:     fs,
		mode:   fs.String("mode", "", "component mode: frontend or backend (PLUGIN__MODE)"),
		listen: fs.String("listen", "", "TLS listen address (default :4000)"),
		file:   fs.String("config", "", "YAML configuration file (file < environment < flags)"),
		dev:    fs.Bool("dev", false, "development run: generate (once) a dev PKI under the state directory and allowlist its client"),
	}
}

// load parses args and loads the configuration. With --dev it first adds
// the development PKI to the environment where certificates or parsers are
// not configured.
func (f *serveFlags) load(args, env []string, stderr io.Writer) (*config.Config, []string, *pki.DevPKI, int) {
	if err := f.fs.Parse(reorder(args, map[string]bool{"mode": true, "listen": true, "config": true})); err != nil {
		return nil, nil, nil, 2
	}
	if f.fs.NArg() > 1 {
		fmt.Fprintf(stderr, "osohost: %s takes at most one PLUGIN.wasm\n", f.fs.Name())
		return nil, nil, nil, 2
	}
	flags := map[string]any{}
	if *f.mode != "" {
		flags["plugin.mode"] = *f.mode
	}
	if *f.listen != "" {
		flags["server.listen"] = *f.listen
	}
	if f.fs.NArg() == 1 {
		flags["plugin.application"] = f.fs.Arg(0)
	}
	var dev *pki.DevPKI
	if *f.dev {
		flags["dev"] = true
		var err error
		if env, dev, err = devEnv(env); err != nil {
			fmt.Fprintf(stderr, "osohost: dev PKI: %v\n", err)
			return nil, nil, nil, 1
		}
	}
	cfg, warnings, err := config.Load(env, *f.file, flags)
	if err != nil {
		fmt.Fprintf(stderr, "osohost: %v\n", err)
		return nil, nil, nil, 2
	}
	return cfg, warnings, dev, 0
}

// devEnv returns env with the development PKI filled in: CERTS__* when no
// certificate is configured, and an mtls parser allowlisting the dev
// client when no parser is configured. The PKI lives in
// <APP__ROOT or ./.osohost>/dev-pki and is generated once.
func devEnv(env []string) ([]string, *pki.DevPKI, error) {
	root := config.DefaultDevRoot
	has := func(prefix string) bool {
		for _, kv := range env {
			if strings.HasPrefix(strings.ToUpper(kv), prefix) {
				return true
			}
		}
		return false
	}
	for _, kv := range env {
		if k, v, _ := strings.Cut(kv, "="); strings.EqualFold(k, "APP__ROOT") && v != "" {
			root = v
		}
	}
	dev, err := pki.GenerateDev(filepath.Join(root, "dev-pki"), pki.DevOptions{})
	if err != nil {
		return nil, nil, err
	}
	out := append([]string(nil), env...)
	if !has("CERTS__") {
		read := func(name string) (string, error) {
			b, err := os.ReadFile(filepath.Join(dev.Dir, name))
			return string(b), err
		}
		ca, err1 := read(pki.DevCACertFile)
		crt, err2 := read(pki.DevServerCertFile)
		key, err3 := read(pki.DevServerKeyFile)
		for _, err := range []error{err1, err2, err3} {
			if err != nil {
				return nil, nil, err
			}
		}
		out = append(out, "CERTS__CA="+ca, "CERTS__APP_CRT="+crt, "CERTS__APP_KEY="+key)
	}
	if !has("AUTH__PARSERS__") {
		out = append(out, "AUTH__PARSERS__0__TYPE=oso.framework.auth.mtls",
			fmt.Sprintf(`AUTH__PARSERS__0__ALLOWLIST={"component": [%q]}`, pki.FormatFingerprint(dev.ClientFingerprint)))
	}
	return out, dev, nil
}

// cmdRun serves a plugin until SIGINT or SIGTERM.
// startupGCPercent is the garbage collector's pace while osohost run
// starts (GOGC=400: the heap may grow to five times what is live before a
// collection), unless GOGC is set. A memory limit (GOMEMLIMIT) still
// applies.
const startupGCPercent = 400

func cmdRun(ctx context.Context, args, env []string, stdout, stderr io.Writer) int {
	f := newServeFlags("run", stderr)
	cfg, warnings, dev, code := f.load(args, env, stderr)
	if code != 0 {
		return code
	}
	if cfg.Plugin.Application == "" {
		fmt.Fprintln(stderr, "osohost: no plugin: give PLUGIN.wasm or set PLUGIN__APPLICATION")
		return 2
	}
	log := logging.New(stdout, cfg.Logging.Level, cfg.App.Name)
	for _, w := range warnings {
		log.Warn(w, "logger", "osohost.config")
	}
	// Start-up allocates much short-lived memory (loading the compiled
	// plugin, instantiating the pool): collecting less often meanwhile
	// saves a quarter of its CPU. Serving runs at the configured pace.
	gc := -2
	if _, set := os.LookupEnv("GOGC"); !set {
		gc = debug.SetGCPercent(startupGCPercent)
	}
	srv, err := host.New(ctx, cfg, host.Options{Logger: log, Version: version})
	if gc != -2 {
		debug.SetGCPercent(gc)
	}
	if err != nil {
		fmt.Fprintf(stderr, "osohost: %v\n", err)
		return 1
	}
	// SIGHUP reloads the plugin; a failed reload is logged and the old
	// version keeps serving.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				_ = srv.Reload(ctx, "signal")
			}
		}
	}()
	if dev != nil {
		port := srv.Addr().String()
		if i := strings.LastIndexByte(port, ':'); i >= 0 {
			port = port[i+1:]
		}
		fmt.Fprintf(stderr, "\nosohost: serving %s (%s) on https://localhost:%s in development mode.\nTry:\n\n  curl --cacert %s --cert %s --key %s https://localhost:%s/api/%s/v1alpha1/status\n\n",
			cfg.Plugin.Application, cfg.Plugin.Mode, port,
			rel(filepath.Join(dev.Dir, pki.DevCACertFile)), rel(filepath.Join(dev.Dir, pki.DevClientCertFile)), rel(filepath.Join(dev.Dir, pki.DevClientKeyFile)),
			port, cfg.Plugin.Mode)
	}
	if err := srv.Run(ctx); err != nil {
		fmt.Fprintf(stderr, "osohost: %v\n", err)
		return 1
	}
	return 0
}

// rel shortens path relative to the working directory when it is below it.
func rel(path string) string {
	wd, err := os.Getwd()
	if err != nil {
		return path
	}
	if r, err := filepath.Rel(wd, path); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return path
}

// cmdConfig prints the effective configuration, secrets redacted.
func cmdConfig(_ context.Context, args, env []string, stdout, stderr io.Writer) int {
	f := newServeFlags("config", stderr)
	cfg, warnings, _, code := f.load(args, env, stderr)
	if code != 0 {
		return code
	}
	for _, w := range warnings {
		fmt.Fprintf(stderr, "warning: %s\n", w)
	}
	if err := cfg.WriteYAML(stdout); err != nil {
		fmt.Fprintf(stderr, "osohost: %v\n", err)
		return 1
	}
	return 0
}

// cmdCerts generates a development PKI.
func cmdCerts(_ context.Context, args, _ []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "dev" {
		fmt.Fprintln(stderr, "usage: osohost certs dev --out DIR")
		return 2
	}
	fs := flag.NewFlagSet("certs dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "directory to write the PKI into (created 0700; existing valid files are reused)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if *out == "" || fs.NArg() != 0 {
		fmt.Fprintln(stderr, "usage: osohost certs dev --out DIR")
		return 2
	}
	dev, err := pki.GenerateDev(*out, pki.DevOptions{})
	if err != nil {
		fmt.Fprintf(stderr, "osohost: %v\n", err)
		return 1
	}
	verb := "reused"
	if dev.Created {
		verb = "wrote"
	}
	fmt.Fprintf(stdout, "%s development PKI in %s (valid until %s)\n", verb, dev.Dir, dev.NotAfter.UTC().Format("2006-01-02"))
	fmt.Fprintf(stdout, "  CA:     %s\n  server: %s, %s\n  client: %s, %s\n  client fingerprint: %s\n",
		pki.DevCACertFile, pki.DevServerCertFile, pki.DevServerKeyFile, pki.DevClientCertFile, pki.DevClientKeyFile,
		pki.FormatFingerprint(dev.ClientFingerprint))
	return 0
}
