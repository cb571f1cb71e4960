package mailaddr

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	good := map[string]string{
		"ann@example.com":           "ann@example.com",
		"  Ann.Lee@Example.COM \n":  "Ann.Lee@Example.COM",
		"first+tag@sub.example.org": "first+tag@sub.example.org",
		"admin@kibo.local":          "admin@kibo.local",
		"root@localhost":            "root@localhost",
		"jörg@bücher.de":            "jörg@bücher.de",
		"o'brien@example.ie":        "o'brien@example.ie",
	}
	for in, want := range good {
		got, err := Parse(in)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	bad := []string{
		"", "   ", "@corp.com", "@", "ann@", "not an email", "ann", "ann@@example.com",
		"Ann <ann@example.com>", "<ann@example.com>", "ann@example.com (Ann)", "ann@example.com, bob@example.com",
		"ann@exa mple.com", "ann@.example.com", "ann@example..com", "ann@-example.com", "ann@[192.0.2.1]",
		"ann@example.com\r\nBcc: x@evil.example", strings.Repeat("a", 250) + "@example.com", "ann@exam_ple.com",
		"\"ann\"@example.com", "ann@example.com\x00",
	}
	for _, in := range bad {
		if got, err := Parse(in); err == nil {
			t.Errorf("Parse(%q) = %q, want an error", in, got)
		}
	}
}

func TestNormalize(t *testing.T) {
	if Normalize("  Person@Corp.COM ") != "person@corp.com" {
		t.Error("Normalize does not lower-case and trim")
	}
	if Normalize("other.person@corp.com") == Normalize("person@corp.com") {
		t.Error("different addresses are equal")
	}
}
