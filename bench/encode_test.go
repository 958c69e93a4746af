package bench

import "github.com/osohost/osohost/host/api"

// encodeInput is what the host does with a POST body before the guest.
func encodeInput(body []byte) ([]byte, error) { return api.EncodeInput(body, api.Limits(), nil) }
