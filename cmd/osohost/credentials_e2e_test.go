package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/osohost/osohost/host/credentials/credtest"
	"github.com/osohost/osohost/host/pki/pkitest"
	"github.com/osohost/osohost/host/plugin/plugintest"
)

// TestE2E_CredentialsDriver runs osohost with the credentials driver as a
// separate process: started after the host, killed, restarted, and
// rotating a token that expires.
func TestE2E_CredentialsDriver(t *testing.T) {
	pk := pkitest.New(t)
	socket := credtest.SocketPath(t)
	file := filepath.Join(t.TempDir(), "creds.json")
	env := append(baseEnv(t, pk, "frontend"),
		"CREDENTIALS__PROVIDER=driver",
		"CREDENTIALS__SOCKET="+socket,
		"CREDENTIALS__ALLOWED=isv-api",
		"CREDENTIALS__CONNECT_TIMEOUT=1s",
		"CREDENTIALS__CALL_TIMEOUT=2s",
		"CREDENTIALS__REFRESH_BEFORE=1s",
	)
	// The host starts first: no driver listens yet.
	srv := start(t, env, plugintest.Path(t, "credguest"))
	c := client(pk, &pk.Client)
	url := "https://" + srv.addr + "/api/frontend/v1alpha1/documents"
	resolve := func(name string) string {
		t.Helper()
		body := `{"count":1,"documents":[{"id":"sdk:credential","content":"` + name + `","metadata":""}]}`
		r := do(t, c, "POST", url, body)
		if r.status != 200 {
			t.Fatalf("POST: %d %s", r.status, r.body)
		}
		var list struct {
			Documents []struct{ Content string } `json:"documents"`
		}
		if err := json.Unmarshal(r.body, &list); err != nil || len(list.Documents) != 1 {
			t.Fatalf("answer %s: %v", r.body, err)
		}
		return list.Documents[0].Content
	}
	if got := resolve("isv-api"); !strings.HasPrefix(got, "err ") {
		t.Fatalf("without a driver: %q, want an error", got)
	}

	// A token that expires soon: the cache must refresh it.
	credtest.WriteFile(t, file, map[string]credtest.Entry{
		"isv-api": {Token: "tok-one-0123456789", TokenType: "Bearer", ExpiresAtMS: time.Now().Add(20 * time.Second).UnixMilli()},
		"other":   {Token: "tok-not-granted-0123"},
	})
	d := credtest.Start(t, socket, "--from", file)
	await(t, "the host to reach the driver started after it", func() bool {
		return strings.HasPrefix(resolve("isv-api"), "tok-one-0123456789 Bearer")
	})
	if got := resolve("other"); got != "err -4" {
		t.Fatalf("a name not granted: %q, want err -4 (not allowed)", got)
	}

	// Killed: the cached token is served until it expires, then the
	// plugin gets "unavailable"; once the driver is back, the rotated
	// token arrives.
	d.Kill(t)
	credtest.WriteFile(t, file, map[string]credtest.Entry{
		"isv-api": {Token: "tok-two-0123456789", TokenType: "Bearer", ExpiresAtMS: time.Now().Add(10 * time.Minute).UnixMilli()},
	})
	await(t, "the error once the cached token expired", func() bool { return resolve("isv-api") == "err -6" })
	credtest.Start(t, socket, "--from", file)
	await(t, "the rotated token from the restarted driver", func() bool {
		return strings.HasPrefix(resolve("isv-api"), "tok-two-0123456789 Bearer")
	})

	if strings.Contains(srv.out.String(), "tok-one-0123456789") || strings.Contains(srv.out.String(), "tok-two-0123456789") {
		t.Fatal("a token reached the host's log")
	}
}
