package gdpr

import (
	"strings"
	"testing"
)

func TestDraftExtensionNotice(t *testing.T) {
	berlin := mustLoc(t, "Europe/Berlin")
	received := utc("2026-01-31T09:00:00Z")
	newDue, err := Extend(received, DueDate(received, RuleEarlier, berlin), utc("2026-02-02T09:00:00Z"), false, 2, berlin)
	if err != nil {
		t.Fatal(err)
	}
	// newDue is 28 April 23:59:59.999 in Berlin, 21:59:59.999 UTC: the draft must say
	// the Berlin date.
	tests := []struct {
		lang, name, reason string
		want               []string
	}{
		{"", "Ann", "we must search three archived systems", []string{"Hello Ann,", "28 April 2026 (Europe/Berlin)", "Article 12(3)", "The reason: we must search three archived systems."}},
		{"en", "", "", []string{"Hello,", "the complexity and number of the requests"}},
		{"de", "Frau Weber", "Archivsuche.", []string{"Guten Tag Frau Weber,", "28. April 2026", "Art. 12 Abs. 3 DSGVO", "Der Grund: Archivsuche.", "Mit freundlichen Grüßen"}},
		{"fr-CH", "Sophie", "", []string{"Bonjour Sophie,", "28 avril 2026", "RGPD", "la complexité"}},
		{"es", "Laura", "", []string{"Hola, Laura:", "28 de abril de 2026", "RGPD"}},
		{"IT", "", "", []string{"Buongiorno,", "28 aprile 2026", "GDPR"}},
		{"pt", "", "", []string{"Hello,", "28 April 2026"}},
	}
	for _, tt := range tests {
		got := DraftExtensionNotice(tt.lang, tt.name, newDue, tt.reason, berlin)
		for _, w := range tt.want {
			if !strings.Contains(got, w) {
				t.Errorf("DraftExtensionNotice(%q) lacks %q:\n%s", tt.lang, w, got)
			}
		}
		if strings.Contains(got, "..") || strings.Contains(got, "%!") {
			t.Errorf("DraftExtensionNotice(%q) is malformed:\n%s", tt.lang, got)
		}
	}
}

func TestDraftErasureConfirmation(t *testing.T) {
	for lang, want := range map[string]string{"": "Article 17", "de": "Art. 17 DSGVO", "fr": "article 17 du RGPD", "es": "artículo 17 del RGPD", "it": "articolo 17 del GDPR"} {
		got := DraftErasureConfirmation(lang, "Sam")
		if !strings.Contains(got, want) || !strings.Contains(got, "Sam") || strings.Contains(got, "%!") {
			t.Errorf("DraftErasureConfirmation(%q) =\n%s", lang, got)
		}
	}
}
