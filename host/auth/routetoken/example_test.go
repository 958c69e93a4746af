package routetoken_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/osohost/osohost/host/auth/routetoken"
)

// Example mints a strong token and checks a request that carries it in
// the first path segment: the plugin routes see the path without it.
func Example() {
	ring, err := routetoken.ParseKeyRing(`{"active": "b", "keys": {
		"a": "c2VjcmV0LWEtMDEyMzQ1Njc4OWFiY2RlZg==",
		"b": "c2VjcmV0LWItMDEyMzQ1Njc4OWFiY2RlZg=="}}`)
	if err != nil {
		panic(err)
	}
	now := time.Unix(1893456000, 0)
	v, err := routetoken.New(routetoken.Options{
		Keys:    ring,
		ID:      "my-signer-app",
		Mode:    routetoken.ModeStrong,
		Carrier: routetoken.CarrierPath,
		Now:     func() time.Time { return now },
	})
	if err != nil {
		panic(err)
	}
	token, err := ring.SignStrong(routetoken.StrongClaims{
		ID:      "my-signer-app",
		Method:  http.MethodGet,
		Path:    "/api/frontend/v1alpha1",
		Expires: uint64(now.Add(15 * time.Minute).Unix()),
	})
	if err != nil {
		panic(err)
	}

	r := httptest.NewRequest(http.MethodGet, "/"+token+"/api/frontend/v1alpha1/status", nil)
	stripped, err := v.Check(r)
	fmt.Println(stripped.URL.Path, err)

	r = httptest.NewRequest(http.MethodPost, "/"+token+"/api/frontend/v1alpha1/documents", nil)
	_, err = v.Check(r)
	fmt.Println(err.(*routetoken.Error).Status(), err)
	// Output:
	// /api/frontend/v1alpha1/status <nil>
	// 401 routetoken: bad signature: strong MAC (id, method or path), key id b
}
