package mtls

import (
	"crypto/x509"
	"testing"
	"time"
)

func TestAuthenticator_remember_Bounded(t *testing.T) {
	a, err := New(Options{ClientCAs: x509.NewCertPool()})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	path := []*x509.Certificate{{NotBefore: now.Add(-time.Hour), NotAfter: now.Add(2 * time.Hour)}, {NotBefore: now.Add(-2 * time.Hour), NotAfter: now.Add(time.Hour)}}
	for i := range maxVerifiedChains + 10 {
		var k [32]byte
		k[0], k[1] = byte(i), byte(i>>8)
		a.remember(k, path)
	}
	if n := len(a.verified); n != maxVerifiedChains {
		t.Errorf("%d cached chains, want %d", n, maxVerifiedChains)
	}
	for _, v := range a.verified {
		if !v.notBefore.Equal(now.Add(-time.Hour)) || !v.notAfter.Equal(now.Add(time.Hour)) {
			t.Fatalf("window %v–%v is not the intersection of the path", v.notBefore, v.notAfter)
		}
		break
	}
}
