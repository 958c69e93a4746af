package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/osohost/osohost/host/logging"
)

// This file holds the parsers of single values. Environment variables give
// strings; the file (YAML), whole-section JSON values and flags may give
// typed values, which each parser accepts where they make sense.

// describe names the type of a value a parser did not expect.
func describe(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int, int64, uint64, float64, json.Number:
		return "a number"
	case []any:
		return "a list"
	case map[string]any, map[any]any:
		return "a mapping"
	}
	return fmt.Sprintf("a %T", v)
}

func asString(v any) (string, error) {
	if s, ok := v.(string); ok {
		return s, nil
	}
	return "", fmt.Errorf("must be a string, not %s", describe(v))
}

// parseBool accepts what the framework's settings library accepts, in any
// case: 1/0, true/false, yes/no, on/off, t/f, y/n. Nothing else, not even
// "" or surrounding spaces.
func parseBool(s string) (bool, error) {
	switch asciiLower(s) {
	case "1", "true", "yes", "on", "t", "y":
		return true, nil
	case "0", "false", "no", "off", "f", "n":
		return false, nil
	}
	return false, fmt.Errorf("must be a boolean (1/0, true/false, yes/no, on/off, t/f or y/n), not %s", quote(s))
}

// asciiLower lowercases ASCII letters only, so that no other letter (such
// as the Kelvin sign, or a dotted capital I) folds into a keyword.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func asBool(v any) (bool, error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case string:
		return parseBool(x)
	}
	return false, fmt.Errorf("must be a boolean, not %s", describe(v))
}

var integerRE = regexp.MustCompile(`^-?[0-9]+$`)

// parseInt accepts an optional '-' and decimal digits, nothing else.
func parseInt(s string) (int64, error) {
	if !integerRE.MatchString(s) {
		return 0, fmt.Errorf("must be an integer, not %s", quote(s))
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("integer %s is out of range", quote(s))
	}
	return n, nil
}

func asInt(v any) (int64, error) {
	switch x := v.(type) {
	case string:
		return parseInt(x)
	case json.Number:
		return parseInt(string(x))
	case int:
		return int64(x), nil
	case int64:
		return x, nil
	case uint64:
		if x > math.MaxInt64 {
			return 0, errors.New("integer is out of range")
		}
		return int64(x), nil
	case float64:
		if x != math.Trunc(x) || math.Abs(x) > 1<<53 {
			return 0, fmt.Errorf("must be an integer, not %v", x)
		}
		return int64(x), nil
	}
	return 0, fmt.Errorf("must be an integer, not %s", describe(v))
}

// intIn returns a parser of integers between lo and hi inclusive.
func intIn(lo, hi int64) func(any) (int64, error) {
	return func(v any) (int64, error) {
		n, err := asInt(v)
		if err != nil {
			return 0, err
		}
		if n < lo || n > hi {
			return 0, fmt.Errorf("must be between %d and %d, not %d", lo, hi, n)
		}
		return n, nil
	}
}

// maxDuration bounds every duration setting: a leap year.
const maxDuration = 366 * 24 * time.Hour

var (
	// ISO 8601 durations as the framework's settings library reads them:
	// a year is 365 days, a month 30; any component may have a fraction.
	isoDurationRE = regexp.MustCompile(`^[Pp]` +
		`(?:([0-9]+(?:[.,][0-9]+)?)[Yy])?(?:([0-9]+(?:[.,][0-9]+)?)[Mm])?` +
		`(?:([0-9]+(?:[.,][0-9]+)?)[Ww])?(?:([0-9]+(?:[.,][0-9]+)?)[Dd])?` +
		`(?:([Tt])(?:([0-9]+(?:[.,][0-9]+)?)[Hh])?(?:([0-9]+(?:[.,][0-9]+)?)[Mm])?(?:([0-9]+(?:[.,][0-9]+)?)[Ss])?)?$`)
	isoUnits = [...]time.Duration{
		365 * 24 * time.Hour, 30 * 24 * time.Hour, 7 * 24 * time.Hour, 24 * time.Hour,
		0, // the T
		time.Hour, time.Minute, time.Second,
	}
	// "[D day(s), ]HH:MM[:SS[.f]]", as Python prints a timedelta; "01:00"
	// is one hour.
	clockRE = regexp.MustCompile(`^(?:([0-9]+) ?(?:d|days?),? ?)?([0-9]{1,2}):([0-5][0-9])(?::([0-5][0-9])(?:\.([0-9]{1,9}))?)?$`)
	daysRE  = regexp.MustCompile(`^([0-9]+) ?(?:d|days?)$`)
	// A plain number of seconds.
	secondsRE = regexp.MustCompile(`^[0-9]+(?:\.[0-9]+)?$`)
)

var errDurationRange = fmt.Errorf("duration is out of range (at most %v)", maxDuration)

// parseDuration reads a duration written in any of these forms:
//
//   - ISO 8601: PT60S, PT1M30S, P1D, P1DT12H (Y = 365 days, M = 30 days);
//   - [D day(s), ]HH:MM[:SS[.f]]: 00:01:00, 1 day, 01:00:00; "01:00" is
//     one hour, as in the framework;
//   - D days alone: 1d, 2 days;
//   - a number of seconds: 60, 1.5;
//   - a Go duration: 60s, 1m30s, 500ms.
//
// A leading '-' negates any form (callers reject values ≤ 0). Durations
// beyond [maxDuration] are errors.
func parseDuration(s string) (time.Duration, error) {
	if rest, ok := strings.CutPrefix(s, "-"); ok && rest != "" && rest[0] != '-' && rest[0] != '+' {
		d, err := parseUnsignedDuration(rest)
		return -d, err
	}
	return parseUnsignedDuration(s)
}

func parseUnsignedDuration(s string) (time.Duration, error) {
	if len(s) > 64 {
		return 0, fmt.Errorf("must be a duration, not a %d-byte text", len(s))
	}
	if m := isoDurationRE.FindStringSubmatch(s); m != nil {
		return isoDuration(m[1:])
	}
	if m := clockRE.FindStringSubmatch(s); m != nil {
		var total time.Duration
		for i, unit := range [...]time.Duration{24 * time.Hour, time.Hour, time.Minute, time.Second} {
			if m[i+1] == "" {
				continue
			}
			num := m[i+1]
			if unit == time.Second && m[5] != "" {
				num += "." + m[5]
			}
			d, err := scaled(num, unit)
			if err != nil {
				return 0, err
			}
			total += d
		}
		return bounded(total)
	}
	if m := daysRE.FindStringSubmatch(s); m != nil {
		return scaled(m[1], 24*time.Hour)
	}
	if secondsRE.MatchString(s) {
		return scaled(s, time.Second)
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("must be a duration such as 60s, 1m30s, PT60S or 00:01:00, not %s", quote(s))
	}
	if d > maxDuration || d < -maxDuration {
		return 0, errDurationRange
	}
	return d, nil
}

// isoDuration adds up the components matched by isoDurationRE.
func isoDuration(parts []string) (time.Duration, error) {
	var total time.Duration
	seen, seenTime := false, false
	for i, p := range parts {
		if p == "" || isoUnits[i] == 0 {
			continue
		}
		d, err := scaled(p, isoUnits[i])
		if err != nil {
			return 0, err
		}
		total += d
		seen = true
		seenTime = seenTime || isoUnits[i] <= time.Hour
	}
	if !seen || parts[4] != "" && !seenTime {
		return 0, errors.New("must be a duration; an ISO 8601 duration needs at least one component, such as PT60S")
	}
	return bounded(total)
}

// scaled returns the decimal number num (digits, optionally a '.' or ','
// and a fraction) times unit, exactly to the nanosecond. unit must be a
// whole number of seconds. Digits beyond nanoseconds are dropped.
func scaled(num string, unit time.Duration) (time.Duration, error) {
	whole, frac, _ := strings.Cut(strings.Replace(num, ",", ".", 1), ".")
	n, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || n > int64(maxDuration/unit) {
		return 0, errDurationRange
	}
	d := time.Duration(n) * unit
	if frac != "" {
		if len(frac) > 9 {
			frac = frac[:9]
		}
		f, _ := strconv.ParseInt(frac, 10, 64) // at most 9 digits
		step := unit
		for range len(frac) {
			step /= 10
		}
		d += time.Duration(f) * step
	}
	return bounded(d)
}

func bounded(d time.Duration) (time.Duration, error) {
	if d > maxDuration {
		return 0, errDurationRange
	}
	return d, nil
}

func asDuration(v any) (time.Duration, error) {
	switch x := v.(type) {
	case string:
		return parseDuration(x)
	case time.Duration:
		if x > maxDuration || x < -maxDuration {
			return 0, errDurationRange
		}
		return x, nil
	case json.Number:
		return parseDuration(string(x))
	case int, int64, uint64:
		return parseDuration(fmt.Sprint(x))
	case float64:
		return parseDuration(strconv.FormatFloat(x, 'f', -1, 64))
	}
	return 0, fmt.Errorf("must be a duration, not %s", describe(v))
}

func positiveDuration(v any) (time.Duration, error) {
	d, err := asDuration(v)
	if err != nil {
		return 0, err
	}
	if d <= 0 {
		return 0, fmt.Errorf("must be greater than 0, not %v", d)
	}
	return d, nil
}

// Python's logging levels, which LOGGING__LEVEL numbers are.
const (
	pyDebug = 10
	pyInfo  = 20
	// pyMax bounds the numbers taken into account; every level above it
	// logs nothing a plugin or osohost writes.
	pyMax = 1_000_000
)

// parseLevel reads LOGGING__LEVEL as the framework does: one of critical,
// fatal, error, warn, warning, info, debug, notset in any case, or an
// integer (a Python logging level; negative numbers count as 0). Nothing
// else: no sign other than '-', no spaces.
//
// Names map to slog levels: debug and notset to Debug, info to Info, warn
// and warning to Warn, error to Error, critical and fatal to
// logging.LevelCritical (Error+4). A number n is the threshold between
// Python's levels scaled onto slog's (Python 10/20/30/40/50 are slog
// Debug/Info/Warn/Error/Error+4): a record of Python level L is logged if
// and only if L ≥ n. Anything at or below 10 is Debug.
func parseLevel(s string) (slog.Level, error) {
	switch asciiLower(s) {
	case "critical", "fatal":
		return logging.LevelCritical, nil
	case "error":
		return slog.LevelError, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "info":
		return slog.LevelInfo, nil
	case "debug", "notset":
		return slog.LevelDebug, nil
	}
	if integerRE.MatchString(s) {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil { // out of range: a huge positive or negative number
			n = pyMax
			if s[0] == '-' {
				n = 0
			}
		}
		return pythonLevel(n), nil
	}
	return 0, fmt.Errorf("must be critical, fatal, error, warn, warning, info, debug, notset or an integer, not %s", quote(s))
}

// pythonLevel maps a Python logging threshold to a slog level: ceil((n −
// 20) × 4 / 10), at least slog.LevelDebug.
func pythonLevel(n int64) slog.Level {
	n = min(max(n, 0), pyMax)
	if n <= pyDebug {
		return slog.LevelDebug
	}
	x := (n - pyInfo) * 4
	q := x / 10
	if x%10 > 0 {
		q++
	}
	return slog.Level(q)
}

func asLevel(v any) (slog.Level, error) {
	switch x := v.(type) {
	case string:
		return parseLevel(x)
	case slog.Level:
		return x, nil
	case json.Number:
		return parseLevel(string(x))
	case int, int64, uint64, float64:
		n, err := asInt(x)
		if err != nil {
			return 0, err
		}
		return pythonLevel(n), nil
	}
	return 0, fmt.Errorf("must be a level name or number, not %s", describe(v))
}

// levelText names a level for display: the framework's name when it is one
// of the named levels, else slog's ("INFO+2").
func levelText(l slog.Level) string {
	switch l {
	case slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError, logging.LevelCritical:
		return logging.LevelName(l)
	}
	return l.String()
}

// asName reads a short human-readable name: 1 to 128 bytes of printable
// UTF-8.
func asName(v any) (string, error) {
	s, err := asString(v)
	if err != nil {
		return "", err
	}
	switch {
	case s == "":
		return "", errors.New("must not be empty")
	case len(s) > 128:
		return "", fmt.Errorf("must be at most 128 bytes, not %d", len(s))
	case !utf8.ValidString(s):
		return "", errors.New("must be valid UTF-8")
	case strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0:
		return "", errors.New("must not contain control or non-printable characters")
	}
	return s, nil
}

// asPath reads a file system path: not empty, no NUL.
func asPath(v any) (string, error) {
	s, err := asString(v)
	if err != nil {
		return "", err
	}
	switch {
	case s == "":
		return "", errors.New("must not be empty")
	case strings.IndexByte(s, 0) >= 0:
		return "", errors.New("must not contain a NUL byte")
	}
	return s, nil
}

// asListen reads a listen address: host:port with a numeric port; an empty
// host means every interface.
func asListen(v any) (string, error) {
	s, err := asString(v)
	if err != nil {
		return "", err
	}
	if _, err := splitListen(s); err != nil {
		return "", err
	}
	return s, nil
}

func splitListen(s string) (host string, err error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil || port == "" || strings.Trim(port, "0123456789") != "" {
		return "", fmt.Errorf("must be host:port with a numeric port, such as :4000 or 127.0.0.1:8080, not %s", quote(s))
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n > math.MaxUint16 {
		return "", fmt.Errorf("port %s is out of range", quote(port))
	}
	return host, nil
}

// asLoopbackListen reads a listen address whose host is a loopback address
// or "localhost".
func asLoopbackListen(v any) (string, error) {
	s, err := asString(v)
	if err != nil {
		return "", err
	}
	host, err := splitListen(s)
	if err != nil {
		return "", err
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return "", fmt.Errorf("must be a loopback address such as 127.0.0.1:8080, not %s: nothing on this listener is authenticated", quote(s))
	}
	return s, nil
}
