// Package config reads osohost's configuration: environment variables
// compatible with the Python framework osohost replaces, an optional YAML
// file, and command-line flags. It is the only package that sees the
// environment; cmd/osohost passes os.Environ() to [Load] and hands the
// resulting [Config] to the host, which translates it into the small
// options of each component. No other package reads a setting by name.
//
// # Sources and precedence
//
// [Load] merges, setting by setting, the file < the environment < flags.
// The same settings exist in all three under one dotted key: the file key
// server.request_timeout is the variable SERVER__REQUEST_TIMEOUT
// (names are case-insensitive, "__" nests) and the flag
// "server.request_timeout". docs/config.md is the reference of every
// setting.
//
// Only variables whose first segment is one of osohost's sections (APP,
// CERTS, LOGGING, PLUGIN, AUTH, NGINX, GUNICORN, SERVER, POOL, LIMITS,
// MOCK) are read. Single-underscore names such as app_name belong to other
// programs and are ignored, as the framework ignored them. A section may
// also be set as one JSON object (APP='{"name":"x"}'); its own variables
// override it. List entries (AUTH__PARSERS__<n>__*, PLUGIN__ADDONS__<n>__*)
// are grouped by <n>, which is only a grouping token: entries are ordered
// by it numerically, gaps are fine.
//
// The framework's names that mean something else in osohost are aliases
// (NGINX__TIMEOUT, GUNICORN__WORKERS; aliases.go holds the table), and the
// framework settings osohost has no use for (APP__ENTRY,
// GUNICORN__TIMEOUT, GUNICORN__LOGGER_CLASS) are accepted and ignored.
//
// # Errors and warnings
//
// Load reports every problem at once in an *[Error], naming each setting
// as the operator wrote it (the environment variable, or the file or flag
// key). Settings that are accepted but look wrong (unknown variables in
// osohost's sections, allowlist names no built-in route uses, a GREP11
// endpoint without a port) produce warnings instead; unknown keys in the
// file or flags are errors.
//
// # Secrets
//
// Private keys are held as [Secret], which never prints, logs or
// serialises its value. A [Config] logs as [Config.Redacted], and no error
// or warning carries a secret or PEM text.
package config
