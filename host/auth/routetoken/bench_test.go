package routetoken_test

import (
	"testing"

	"github.com/osohost/osohost/host/auth/routetoken"
)

func BenchmarkKeyRing_VerifyShort(b *testing.B) {
	f := newFixture(b)
	tok := f.short(b, nil)
	now := f.clock.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.ring.VerifyShort(tok, testID, testPort, now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkKeyRing_VerifyStrong(b *testing.B) {
	f := newFixture(b)
	const path = "/api/backend/v1alpha1/documents"
	tok := f.strong(b, "POST", path)
	now := f.clock.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.ring.VerifyStrong(tok, testID, "POST", path, now); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifier_Check measures a whole check, request copy included,
// for POST /api/backend/v1alpha1/documents. The strong tokens are bound to
// the full path (the first prefix tried); "strong, rejected" is a forged
// MAC, which tries all five prefixes.
func BenchmarkVerifier_Check(b *testing.B) {
	const path = "/api/backend/v1alpha1/documents"
	f := newFixture(b)
	strong := f.strong(b, "POST", path)
	forged := strong[:len(strong)-2] + "AA"
	cases := []struct {
		name    string
		carrier routetoken.Carrier
		target  string
		token   string // in the header, if set
		ok      bool
	}{
		{"short, header", routetoken.CarrierHeader, path, f.short(b, nil), true},
		{"short, path", routetoken.CarrierPath, "/" + f.short(b, nil) + path, "", true},
		{"strong, header", routetoken.CarrierHeader, path, strong, true},
		{"strong, path", routetoken.CarrierPath, "/" + strong + path, "", true},
		{"strong, rejected", routetoken.CarrierHeader, path, forged, false},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			v := f.verifier(b, routetoken.Options{Mode: routetoken.ModeBoth, Carrier: c.carrier, MaxFailures: -1})
			r := request("POST", c.target, nil)
			if c.token != "" {
				r.Header.Set(routetoken.DefaultHeader, c.token)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Check(r); (err == nil) != c.ok {
					b.Fatal(err)
				}
			}
		})
	}
}
