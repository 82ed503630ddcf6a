package topology

import (
	"fmt"
	"strings"
)

// expand replaces ${VAR} and ${VAR:-default} in one scalar value. ${VAR:-default} takes
// the default when VAR is unset or empty (as in the shell); ${VAR} with VAR unset is an
// error. "$${" stands for a literal "${"; any other "$" is kept as it is, so secrets with
// a "$" in them survive. The value of a variable is not expanded again.
//
// It returns the expanded value and one message per problem. With hide the messages
// leave out the text of a bad reference, which may be part of a secret.
func expand(s string, lookup func(string) (string, bool), hide bool) (string, []string) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	var (
		b    strings.Builder
		errs []string
	)
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), errs
		}
		if i > 0 && s[i-1] == '$' { // "$${" → literal "${"
			b.WriteString(s[:i-1] + "${")
			s = s[i+2:]
			continue
		}
		b.WriteString(s[:i])
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			ref := fmt.Sprintf(" %q", s[i:])
			if hide {
				ref = ""
			}
			errs = append(errs, fmt.Sprintf("unterminated variable reference%s (write $${ for a literal ${)", ref))
			return b.String(), errs
		}
		ref := s[i+2 : i+end]
		s = s[i+end+1:]

		name, def, hasDef := strings.Cut(ref, ":-")
		if !validVarName(name) {
			shown := " ${" + ref + "}"
			if hide {
				shown = ""
			}
			errs = append(errs, fmt.Sprintf("invalid variable reference%s: a name is letters, digits and _, not starting with a digit; a default is written ${NAME:-default} (write $${ for a literal ${)", shown))
			continue
		}
		v, ok := lookup(name)
		switch {
		case hasDef && v == "":
			b.WriteString(def)
		case ok:
			b.WriteString(v)
		default:
			errs = append(errs, fmt.Sprintf("environment variable %s is not set (write ${%s:-default} for a default)", name, name))
		}
	}
}

func validVarName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z':
		case '0' <= r && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
