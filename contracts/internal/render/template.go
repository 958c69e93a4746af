package render

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// The subset of Terraform's template language that the contract templates
// use, so that `templatefile(path, { tpl = {...} })` renders them the same:
//
//	${tpl.NAME}                  the value as is
//	${jsonencode(EXPR)}          a JSON string: safe anywhere a YAML scalar goes
//	${base64encode(EXPR)}        standard base64 with padding
//	$${  %%{                     a literal ${ and %{
//
// where EXPR is tpl.NAME or one of the two functions applied to an EXPR.
// Directives (%{ if }, %{ for }), the strip markers ~ and every other
// expression are errors, as is a NAME the values do not hold.

// TemplateError reports every problem of one template at once.
type TemplateError struct {
	File     string
	Problems []string
}

func (e *TemplateError) Error() string {
	return fmt.Sprintf("%s: %s", e.File, strings.Join(e.Problems, "; "))
}

// Render renders the template src (named file in errors) with values, the
// map that tpl.NAME reads. It returns a [*TemplateError] naming every
// unknown name and every unsupported construct; the output is only
// returned when there is none.
func Render(file string, src []byte, values map[string]string) ([]byte, error) {
	s := string(src)
	var out strings.Builder
	var problems []string
	unknown := map[string]bool{}
	line := 1
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], "$${"), strings.HasPrefix(s[i:], "%%{"):
			out.WriteString(s[i+1 : i+3])
			i += 3
		case strings.HasPrefix(s[i:], "%{"):
			problems = append(problems, fmt.Sprintf("line %d: template directives (%%{ ... }) are not supported", line))
			i += 2
		case strings.HasPrefix(s[i:], "${"):
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				problems = append(problems, fmt.Sprintf("line %d: unterminated ${", line))
				i = len(s)
				continue
			}
			expr := s[i+2 : i+end]
			v, names, err := evaluate(expr, values)
			for _, n := range names {
				unknown[n] = true
			}
			if err != nil {
				problems = append(problems, fmt.Sprintf("line %d: ${%s}: %v", line, expr, err))
			}
			out.WriteString(v)
			line += strings.Count(s[i:i+end], "\n")
			i += end + 1
		default:
			if s[i] == '\n' {
				line++
			}
			out.WriteByte(s[i])
			i++
		}
	}
	if len(unknown) > 0 {
		names := make([]string, 0, len(unknown))
		for n := range unknown {
			names = append(names, n)
		}
		sort.Strings(names)
		problems = append(problems, "no value for "+strings.Join(names, ", "))
	}
	if len(problems) > 0 {
		return nil, &TemplateError{File: file, Problems: problems}
	}
	return []byte(out.String()), nil
}

// References returns the NAMEs of every tpl.NAME in a template, sorted,
// without rendering it.
func References(src []byte) []string {
	seen := map[string]bool{}
	s := string(src)
	for i := 0; i < len(s); i++ {
		if strings.HasPrefix(s[i:], "$${") {
			i += 2
			continue
		}
		if !strings.HasPrefix(s[i:], "${") {
			continue
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			break
		}
		_, names, _ := evaluate(s[i+2:i+end], nil)
		for _, n := range names {
			seen[n] = true
		}
		i += end
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// evaluate evaluates one expression. missing lists the tpl names it
// needed that values lacks (all of them when values is nil).
func evaluate(expr string, values map[string]string) (v string, missing []string, err error) {
	e := strings.TrimSpace(expr)
	if strings.HasPrefix(e, "~") || strings.HasSuffix(e, "~") {
		return "", nil, fmt.Errorf("strip markers (~) are not supported")
	}
	for _, fn := range []string{"jsonencode", "base64encode"} {
		rest, ok := strings.CutPrefix(e, fn)
		if !ok {
			continue
		}
		rest = strings.TrimSpace(rest)
		if !strings.HasPrefix(rest, "(") || !strings.HasSuffix(rest, ")") {
			return "", nil, fmt.Errorf("%s takes one argument in parentheses", fn)
		}
		inner, missing, err := evaluate(rest[1:len(rest)-1], values)
		if err != nil || len(missing) > 0 {
			return "", missing, err
		}
		if fn == "base64encode" {
			return base64.StdEncoding.EncodeToString([]byte(inner)), nil, nil
		}
		b, err := json.Marshal(inner)
		return string(b), nil, err
	}
	name, ok := strings.CutPrefix(e, "tpl.")
	if !ok || !validName(name) {
		return "", nil, fmt.Errorf("only tpl.NAME, jsonencode(...) and base64encode(...) are supported")
	}
	val, ok := values[name]
	if !ok {
		return "", []string{"tpl." + name}, nil
	}
	return val, nil, nil
}
