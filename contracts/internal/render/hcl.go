package render

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The subset of HCL that variables.tf and terraform.tfvars use: attributes
// (NAME = value) and variable blocks whose attributes are literals. Values
// are quoted strings, heredocs (<<EOT and <<-EOT), true, false, null and
// numbers. Anything else is an error naming the file and line, so a
// construct the renderer does not understand is never silently misread.

type tokenKind uint8

const (
	tokEOF tokenKind = iota
	tokNewline
	tokIdent
	tokString // a quoted string or a heredoc, already unescaped
	tokNumber
	tokEquals
	tokLBrace
	tokRBrace
	tokOther
)

type token struct {
	kind tokenKind
	text string
	line int
}

type lexer struct {
	file string
	src  string
	pos  int
	line int
}

func (l *lexer) errorf(line int, format string, args ...any) error {
	return fmt.Errorf("%s:%d: %s", l.file, line, fmt.Sprintf(format, args...))
}

// next returns the next token. Comments are skipped; a newline is a token
// because attributes end at the end of their line.
func (l *lexer) next() (token, error) {
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch {
		case c == ' ' || c == '\t' || c == '\r':
			l.pos++
		case c == '#' || strings.HasPrefix(l.src[l.pos:], "//"):
			for l.pos < len(l.src) && l.src[l.pos] != '\n' {
				l.pos++
			}
		case strings.HasPrefix(l.src[l.pos:], "/*"):
			end := strings.Index(l.src[l.pos+2:], "*/")
			if end < 0 {
				return token{}, l.errorf(l.line, "unterminated /* comment")
			}
			l.line += strings.Count(l.src[l.pos:l.pos+2+end], "\n")
			l.pos += end + 4
		default:
			return l.token()
		}
	}
	return token{kind: tokEOF, line: l.line}, nil
}

func (l *lexer) token() (token, error) {
	line := l.line
	c := l.src[l.pos]
	switch {
	case c == '\n':
		l.pos++
		l.line++
		return token{kind: tokNewline, line: line}, nil
	case c == '=':
		if strings.HasPrefix(l.src[l.pos:], "==") {
			break
		}
		l.pos++
		return token{kind: tokEquals, text: "=", line: line}, nil
	case c == '{':
		l.pos++
		return token{kind: tokLBrace, text: "{", line: line}, nil
	case c == '}':
		l.pos++
		return token{kind: tokRBrace, text: "}", line: line}, nil
	case c == '"':
		s, err := l.quoted()
		return token{kind: tokString, text: s, line: line}, err
	case strings.HasPrefix(l.src[l.pos:], "<<"):
		s, err := l.heredoc()
		return token{kind: tokString, text: s, line: line}, err
	case c == '-' || c >= '0' && c <= '9':
		start := l.pos
		l.pos++
		for l.pos < len(l.src) && strings.IndexByte("0123456789.eE+-", l.src[l.pos]) >= 0 {
			l.pos++
		}
		text := l.src[start:l.pos]
		if _, err := strconv.ParseFloat(text, 64); err != nil {
			return token{}, l.errorf(line, "malformed number %q", text)
		}
		return token{kind: tokNumber, text: text, line: line}, nil
	case c == '_' || unicode.IsLetter(rune(c)):
		start := l.pos
		for l.pos < len(l.src) {
			c := l.src[l.pos]
			if c != '_' && c != '-' && !unicode.IsLetter(rune(c)) && !unicode.IsDigit(rune(c)) {
				break
			}
			l.pos++
		}
		return token{kind: tokIdent, text: l.src[start:l.pos], line: line}, nil
	}
	r, _ := utf8.DecodeRuneInString(l.src[l.pos:])
	return token{kind: tokOther, text: string(r), line: line}, nil
}

// quoted reads a quoted string with HCL's escapes. A template sequence
// (${ or %{) is refused: variable values are literals. $${ and %%{ stand
// for a literal ${ and %{, as in HCL.
func (l *lexer) quoted() (string, error) {
	line := l.line
	l.pos++ // opening quote
	var b strings.Builder
	for {
		if l.pos >= len(l.src) || l.src[l.pos] == '\n' {
			return "", l.errorf(line, "unterminated string")
		}
		c := l.src[l.pos]
		switch {
		case c == '"':
			l.pos++
			return b.String(), nil
		case c == '\\':
			if l.pos+1 >= len(l.src) {
				return "", l.errorf(line, "unterminated string")
			}
			e := l.src[l.pos+1]
			l.pos += 2
			switch e {
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case '"':
				b.WriteByte('"')
			case '\\':
				b.WriteByte('\\')
			case 'u', 'U':
				n := 4
				if e == 'U' {
					n = 8
				}
				if l.pos+n > len(l.src) {
					return "", l.errorf(line, "malformed \\%c escape", e)
				}
				v, err := strconv.ParseUint(l.src[l.pos:l.pos+n], 16, 32)
				if err != nil || !utf8.ValidRune(rune(v)) {
					return "", l.errorf(line, "malformed \\%c escape", e)
				}
				b.WriteRune(rune(v))
				l.pos += n
			default:
				return "", l.errorf(line, "unsupported escape \\%c", e)
			}
		case strings.HasPrefix(l.src[l.pos:], "$${"), strings.HasPrefix(l.src[l.pos:], "%%{"):
			b.WriteString(l.src[l.pos+1 : l.pos+3])
			l.pos += 3
		case strings.HasPrefix(l.src[l.pos:], "${"), strings.HasPrefix(l.src[l.pos:], "%{"):
			return "", l.errorf(line, "template sequences (%s) are not allowed in values; write $%s for a literal one", l.src[l.pos:l.pos+2], l.src[l.pos:l.pos+2])
		default:
			b.WriteByte(c)
			l.pos++
		}
	}
}

// heredoc reads <<MARKER or <<-MARKER up to a line holding only MARKER
// (leading spaces allowed). The value is the lines between, each with its
// newline; <<- removes the indentation common to those lines, as HCL does.
// The newline after the closing marker is left for the next token.
func (l *lexer) heredoc() (string, error) {
	line := l.line
	pos := l.pos + 2
	flush := pos < len(l.src) && l.src[pos] == '-'
	if flush {
		pos++
	}
	nl := strings.IndexByte(l.src[pos:], '\n')
	if nl < 0 {
		return "", l.errorf(line, "heredoc without a body")
	}
	marker := strings.TrimRight(l.src[pos:pos+nl], " \t\r")
	if marker == "" || strings.IndexFunc(marker, func(r rune) bool { return r != '_' && !unicode.IsLetter(r) && !unicode.IsDigit(r) }) >= 0 {
		return "", l.errorf(line, "malformed heredoc marker %q", marker)
	}
	pos += nl + 1
	newlines := 1
	var lines []string
	for {
		if pos >= len(l.src) {
			return "", l.errorf(line, "heredoc %s is not terminated", marker)
		}
		end := strings.IndexByte(l.src[pos:], '\n')
		if end < 0 {
			end = len(l.src) - pos
		}
		text := strings.TrimSuffix(l.src[pos:pos+end], "\r")
		if strings.TrimSpace(text) == marker {
			pos += end // stop before the newline ending the marker line
			break
		}
		lines = append(lines, text)
		pos += end + 1
		newlines++
	}
	if flush {
		indent := -1
		for _, s := range lines {
			if strings.TrimSpace(s) == "" {
				continue
			}
			if n := len(s) - len(strings.TrimLeft(s, " \t")); indent < 0 || n < indent {
				indent = n
			}
		}
		for i, s := range lines {
			switch {
			case strings.TrimSpace(s) == "":
				lines[i] = ""
			case indent > 0:
				lines[i] = s[indent:]
			}
		}
	}
	var b strings.Builder
	for _, s := range lines {
		if t := strings.NewReplacer("$${", "", "%%{", "").Replace(s); strings.Contains(t, "${") || strings.Contains(t, "%{") {
			return "", l.errorf(line, "template sequences (${ or %%{) are not allowed in heredoc values; write $${ or %%%%{ for a literal one")
		}
		b.WriteString(strings.NewReplacer("$${", "${", "%%{", "%{").Replace(s))
		b.WriteByte('\n')
	}
	l.pos = pos
	l.line += newlines
	return b.String(), nil
}

// value is a literal value: Set is false for null.
type value struct {
	Text string
	Set  bool
	line int
}

// parser reads attributes and blocks from a lexer.
type parser struct {
	lex  *lexer
	peek *token
}

func newParser(file string, src []byte) *parser {
	return &parser{lex: &lexer{file: file, src: string(src), line: 1}}
}

func (p *parser) next() (token, error) {
	if p.peek != nil {
		t := *p.peek
		p.peek = nil
		return t, nil
	}
	return p.lex.next()
}

func (p *parser) unread(t token) { p.peek = &t }

// skipNewlines returns the next token that is not a newline.
func (p *parser) skipNewlines() (token, error) {
	for {
		t, err := p.next()
		if err != nil || t.kind != tokNewline {
			return t, err
		}
	}
}

// literal reads the value of an attribute, after its =, and the end of its
// line.
func (p *parser) literal(name string) (value, error) {
	t, err := p.next()
	if err != nil {
		return value{}, err
	}
	var v value
	switch {
	case t.kind == tokString || t.kind == tokNumber:
		v = value{Text: t.text, Set: true, line: t.line}
	case t.kind == tokIdent && (t.text == "true" || t.text == "false"):
		v = value{Text: t.text, Set: true, line: t.line}
	case t.kind == tokIdent && t.text == "null":
		v = value{line: t.line}
	default:
		return value{}, p.lex.errorf(t.line, "%s: only literal strings, heredocs, numbers, true, false and null are supported, not %s", name, describe(t))
	}
	end, err := p.next()
	if err != nil {
		return value{}, err
	}
	if end.kind != tokNewline && end.kind != tokEOF && end.kind != tokRBrace {
		return value{}, p.lex.errorf(end.line, "%s: unexpected %s after the value (expressions are not supported)", name, describe(end))
	}
	if end.kind == tokRBrace {
		p.unread(end)
	}
	return v, nil
}

func describe(t token) string {
	switch t.kind {
	case tokEOF:
		return "end of file"
	case tokNewline:
		return "end of line"
	case tokString:
		return "a string"
	}
	return strconv.Quote(t.text)
}

// Variable is one variable block of a variables.tf.
type Variable struct {
	Name        string
	Description string
	// Default is the default value; HasDefault is false for a required
	// variable (no default, or a null default on a non-nullable one).
	Default    string
	HasDefault bool
	// Sensitive marks a secret: it is never printed.
	Sensitive bool
	// Line is where the block starts.
	Line int
}

// ParseVariables reads the variable blocks of a variables.tf. Blocks other
// than variable, nested blocks and non-literal attribute values are errors.
func ParseVariables(file string, src []byte) ([]Variable, error) {
	p := newParser(file, src)
	var vars []Variable
	seen := map[string]bool{}
	for {
		t, err := p.skipNewlines()
		if err != nil {
			return nil, err
		}
		if t.kind == tokEOF {
			return vars, nil
		}
		if t.kind != tokIdent || t.text != "variable" {
			return nil, p.lex.errorf(t.line, "only variable blocks are supported here, not %s", describe(t))
		}
		name, err := p.next()
		if err != nil {
			return nil, err
		}
		if name.kind != tokString || !validName(name.text) {
			return nil, p.lex.errorf(name.line, "a variable block needs a quoted name of letters, digits and _")
		}
		if seen[name.text] {
			return nil, p.lex.errorf(name.line, "variable %s is declared twice", name.text)
		}
		seen[name.text] = true
		if t, err := p.next(); err != nil {
			return nil, err
		} else if t.kind != tokLBrace {
			return nil, p.lex.errorf(t.line, "variable %s: expected {", name.text)
		}
		v := Variable{Name: name.text, Line: t.line}
		nullable := true
		var def *value
		for {
			a, err := p.skipNewlines()
			if err != nil {
				return nil, err
			}
			if a.kind == tokRBrace {
				break
			}
			if a.kind != tokIdent {
				return nil, p.lex.errorf(a.line, "variable %s: unexpected %s", v.Name, describe(a))
			}
			eq, err := p.next()
			if err != nil {
				return nil, err
			}
			if eq.kind != tokEquals {
				return nil, p.lex.errorf(a.line, "variable %s: nested blocks such as %s are not supported", v.Name, a.text)
			}
			if a.text == "type" {
				// type = string | bool | number
				ty, err := p.next()
				if err != nil {
					return nil, err
				}
				if ty.kind != tokIdent || (ty.text != "string" && ty.text != "bool" && ty.text != "number") {
					return nil, p.lex.errorf(ty.line, "variable %s: only the types string, bool and number are supported", v.Name)
				}
				if err := p.endOfLine(v.Name); err != nil {
					return nil, err
				}
				continue
			}
			val, err := p.literal(v.Name + "." + a.text)
			if err != nil {
				return nil, err
			}
			switch a.text {
			case "description":
				v.Description = val.Text
			case "default":
				def = &val
			case "sensitive":
				v.Sensitive = val.Text == "true"
			case "nullable":
				nullable = val.Text != "false"
			default:
				return nil, p.lex.errorf(a.line, "variable %s: unsupported attribute %s", v.Name, a.text)
			}
		}
		if def != nil && (def.Set || nullable) {
			v.Default, v.HasDefault = def.Text, true
		}
		vars = append(vars, v)
	}
}

func (p *parser) endOfLine(name string) error {
	t, err := p.next()
	if err != nil {
		return err
	}
	switch t.kind {
	case tokNewline, tokEOF:
		return nil
	case tokRBrace:
		p.unread(t)
		return nil
	}
	return p.lex.errorf(t.line, "variable %s: unexpected %s", name, describe(t))
}

// ParseTFVars reads a terraform.tfvars: NAME = literal lines. A null value
// leaves the variable unset. A name given twice is an error.
func ParseTFVars(file string, src []byte) (map[string]string, error) {
	p := newParser(file, src)
	out := map[string]string{}
	seen := map[string]int{}
	for {
		t, err := p.skipNewlines()
		if err != nil {
			return nil, err
		}
		if t.kind == tokEOF {
			return out, nil
		}
		if t.kind != tokIdent || !validName(t.text) {
			return nil, p.lex.errorf(t.line, "expected NAME = value, not %s", describe(t))
		}
		if first, ok := seen[t.text]; ok {
			return nil, p.lex.errorf(t.line, "%s is already set on line %d", t.text, first)
		}
		seen[t.text] = t.line
		eq, err := p.next()
		if err != nil {
			return nil, err
		}
		if eq.kind != tokEquals {
			return nil, p.lex.errorf(t.line, "%s: expected =", t.text)
		}
		v, err := p.literal(t.text)
		if err != nil {
			return nil, err
		}
		if v.Set {
			out[t.text] = v.Text
		}
	}
}

func validName(s string) bool {
	if s == "" || !(s[0] == '_' || s[0] >= 'A' && s[0] <= 'Z' || s[0] >= 'a' && s[0] <= 'z') {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '_' && !(c >= '0' && c <= '9') && !(c >= 'A' && c <= 'Z') && !(c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}
