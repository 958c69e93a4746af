package config

// This file is the one table of names osohost accepts for the framework's
// sake. Each applies to every source: the environment (NGINX__TIMEOUT),
// the file and flags (nginx.timeout).

// aliases maps a framework setting onto the osohost setting it sets. Where
// the framework's setting is stricter than osohost's (GUNICORN__WORKERS must
// be > 0, POOL__SIZE may be 0), the decoder applies the framework's rule to
// values set through the alias.
var aliases = map[string]string{
	"nginx.timeout":    "server.request_timeout",
	"gunicorn.workers": "pool.size",
}

// ignoredKeys are framework settings that have no meaning in osohost. They
// are accepted, whatever their value, and ignored without a warning, since
// every existing deployment sets them.
var ignoredKeys = map[string]bool{
	"app.entry":             true, // the Python entry point
	"gunicorn.timeout":      true, // worker timeout; osohost has call deadlines
	"gunicorn.logger_class": true, // Gunicorn's logger
}

// Framework names of the parser and addon types, with osohost's short names.
var (
	parserTypes = map[string]ParserType{
		"oso.framework.auth.mtls": ParserMTLS,
		"mtls":                    ParserMTLS,
		"oidc":                    ParserOIDC,
	}
	addonTypes = map[string]AddonType{
		"oso.framework.plugin.addons.signing_server": AddonSigningServer,
		"signing_server": AddonSigningServer,
	}
)
