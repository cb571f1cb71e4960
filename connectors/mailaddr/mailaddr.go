// Package mailaddr decides, in one place, what Kibo takes as an e-mail address where it
// expects one (a contact's, an agent's login, an inbox's own address) and how two
// addresses are compared (by Normalize, never by substring).
//
// Kibo wants a bare addr-spec there: "ann@example.com", not "Ann <ann@example.com>", not
// "@example.com". A display name or a missing local part would otherwise be stored as
// the address and widen whatever is matched against it.
package mailaddr

import (
	"fmt"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxLength is the longest address taken (RFC 5321's limit on a path).
const MaxLength = 254

// Error says why a string is not an address Kibo takes; the message is for the person
// who typed it.
type Error struct {
	Input  string
	Reason string
}

func (e *Error) Error() string {
	in := e.Input
	if len(in) > 80 {
		in = in[:80] + "…"
	}
	return fmt.Sprintf("%q is not an e-mail address: %s", in, e.Reason)
}

// Parse checks that s, trimmed, is one bare address (local@domain, with no display
// name, angle brackets or comment) and returns it trimmed.
func Parse(s string) (string, error) {
	s = strings.TrimSpace(s)
	bad := func(reason string) (string, error) { return "", &Error{Input: s, Reason: reason} }
	switch {
	case s == "":
		return bad("it is empty")
	case len(s) > MaxLength:
		return bad(fmt.Sprintf("it is longer than %d characters", MaxLength))
	case !utf8.ValidString(s):
		return bad("it is not valid UTF-8")
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return bad("write it as name@example.com")
	}
	if a.Name != "" || a.Address != s {
		return bad("give the address alone, without a name or angle brackets")
	}
	local, domain, ok := cutLast(s, "@")
	if !ok || local == "" {
		return bad("the part before @ is missing")
	}
	if !validDomain(domain) {
		return bad("the part after @ must be a domain such as example.com")
	}
	return s, nil
}

// Valid tells whether Parse takes s.
func Valid(s string) bool {
	_, err := Parse(s)
	return err == nil
}

// Normalize is the form addresses are compared in: trimmed and lower-cased. Two
// addresses are the same person's only when their normal forms are equal.
func Normalize(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

func cutLast(s, sep string) (before, after string, found bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return s, "", false
}

// validDomain takes host names (letters of any script, digits, hyphens; dot-separated
// labels), not address literals: an admin never needs to type "[192.0.2.1]" here.
func validDomain(d string) bool {
	if d == "" || len(d) > 253 {
		return false
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if r != '-' && !unicode.IsLetter(r) && !unicode.IsDigit(r) {
				return false
			}
		}
	}
	return true
}
