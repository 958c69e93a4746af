package routetoken

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"testing"
)

// TestVerifyShortSignature_Vectors checks the signature comparison on every
// OSEP-0011 vector, including those whose secrets are too short for a key
// ring, and that one changed digit fails.
func TestVerifyShortSignature_Vectors(t *testing.T) {
	b, err := os.ReadFile("testdata/route-signatures-osep0011.json")
	if err != nil {
		t.Fatal(err)
	}
	var vs []struct {
		Name, Token string
		Secret      string `json:"secret_base64"`
	}
	if err := json.Unmarshal(b, &vs); err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		secret, err := base64.StdEncoding.DecodeString(v.Secret)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := ParseShort(v.Token)
		if err != nil {
			t.Fatal(err)
		}
		exp := FormatExpires(tok.Expires)
		if !verifyShortSignature(secret, &tok, exp) {
			t.Errorf("%s: signature does not verify", v.Name)
		}
		bad := tok
		d := []byte(bad.Signature)
		d[0] ^= 1
		bad.Signature = string(d)
		if verifyShortSignature(secret, &bad, exp) {
			t.Errorf("%s: a changed signature verifies", v.Name)
		}
		if verifyShortSignature(append(secret, 0), &tok, exp) {
			t.Errorf("%s: another secret verifies", v.Name)
		}
	}
}
