package config

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Problem is one missing, invalid or conflicting setting.
type Problem struct {
	// Name says which setting, as the operator wrote it:
	//   - an environment variable by the name it was set under, such as
	//     PLUGIN__MODE or plugin__mode, followed by the key inside its JSON
	//     value when it came from one, as in "APP (app.name)";
	//   - a file or flag setting by its dotted key, such as server.listen;
	//   - a missing setting like the settings next to it (a missing
	//     PLUGIN__MODE always by its variable name);
	//   - the file's path when the file itself cannot be used.
	Name string
	// Message says what is wrong. It never contains a secret or PEM text
	// and repeats at most a short, quoted excerpt of a public value.
	Message string
}

// String returns "Name: Message".
func (p Problem) String() string { return p.Name + ": " + p.Message }

// Error is the error [Load] returns when the configuration is unusable. It
// lists every problem found, not just the first, in a stable order:
// problems with the sources themselves first (an unreadable file, malformed
// JSON, unknown keys in the file or flags, conflicting variables), then
// each setting in the order of the reference, docs/config.md. Use errors.As
// to get it.
type Error struct {
	Problems []Problem
}

// Error returns "config: NAME: message" for one problem and one indented
// line per problem after "config: N problems:" for several.
func (e *Error) Error() string {
	switch len(e.Problems) {
	case 0:
		return "config: invalid configuration"
	case 1:
		return "config: " + e.Problems[0].String()
	}
	var b strings.Builder
	b.WriteString("config: ")
	b.WriteString(strconv.Itoa(len(e.Problems)))
	b.WriteString(" problems:")
	for _, p := range e.Problems {
		b.WriteString("\n\t")
		b.WriteString(p.String())
	}
	return b.String()
}

// Bounds on text repeated from the input in messages.
const (
	maxValueInText = 48      // a quoted excerpt of a public value
	maxNameInText  = 64      // a name (allowlist, certificate subject)
	maxValueBytes  = 4 << 20 // any one value: env variable, file
)

// truncate shortens s to at most n bytes (on a rune boundary) and marks the
// cut with "…".
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// quote returns a bounded, quoted excerpt of a public value for a message.
func quote(s string) string {
	return strconv.Quote(truncate(s, maxValueInText))
}
