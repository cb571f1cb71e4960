package gdpr

import (
	"strings"
	"testing"
)

// Messages that talk about privacy, deletion or export without asking for anything
// about the writer's own data. Kept apart from the corpus so they read as a spec.
func TestDetectIgnoresMereMentions(t *testing.T) {
	for _, msg := range []string{
		"Is your product GDPR compliant?",
		"Do you have a DPA?",
		"Where is my data hosted?",
		"please delete my last message",
		"I deleted my account by mistake, can you restore it?",
		"delete this invoice",
		"Your cookie banner keeps coming back, please fix it.",
		"Please unsubscribe me from the newsletter.",
		"How do I export my invoices as CSV?",
		"Where can I read your privacy policy?",
		"Could you send us the list of your sub-processors?",
		"Please remove the old credit card from my account.",
		"Does deleting my account also delete my data?",
		"Ist Ihr Produkt DSGVO-konform?",
		"Ich habe aus Versehen meinen Account gelöscht, bitte wiederherstellen.",
		"Un de nos clients nous demande l'effacement de ses données, comment faire ?",
		"Eliminé mi cuenta por error, ¿pueden recuperarla?",
		"Ho cancellato il mio account per errore, potete ripristinarlo?",
		"Ich widerspreche der Rechnung vom 3. März.",
		"",
	} {
		if got, ok := Detect("", msg); ok {
			t.Errorf("Detect(%q) = %+v, want no request", msg, got)
		}
	}
}

func TestDetectRequests(t *testing.T) {
	tests := []struct {
		subject, text, typ, lang, evidence string
	}{
		{"", "delete my data", TypeErasure, "en", "delete my data"},
		{"", "Please erase my account and all personal data.", TypeErasure, "en", "erase my account"},
		{"Auskunft nach Art. 15 DSGVO", "Bitte um Antwort.", TypeAccess, "de", "Auskunft nach Art. 15"},
		{"", "Bitte um Löschung meiner Daten.", TypeErasure, "de", "Löschung meiner Daten"},
		{"", "Je souhaite exercer mon droit d'accès.", TypeAccess, "fr", "droit d'accès"},
		{"", "Merci de supprimer mes données.", TypeErasure, "fr", "supprimer mes données"},
		{"", "Ejerzo mi derecho de supresión.", TypeErasure, "es", "derecho de supresión"},
		{"", "Quiero acceso a mis datos.", TypeAccess, "es", "acceso a mis datos"},
		{"", "Chiedo il diritto all'oblio.", TypeErasure, "it", "diritto all'oblio"},
		{"", "Vorrei cancellare i miei dati.", TypeErasure, "it", "cancellare i miei dati"},
		{"DSAR", "See subject.", TypeAccess, "en", "DSAR"},
		{"", "What data do you hold about me?", TypeAccess, "en", "data do you hold about me"},
		{"", "Send me a copy of my data please", TypeAccess, "en", "copy of my data"},
		{"", "unsubscribe me and forget me", TypeErasure, "en", "forget me"},
		{"", "Please correct my personal data, my name is wrong.", TypeRectification, "en", "correct my personal data"},
		{"", "Stop processing my data.", TypeObjection, "en", "Stop processing my data"},
		{"", "I object to processing for direct marketing.", TypeObjection, "en", "object to processing"},
		{"", "Export my data please, I am switching providers.", TypePortability, "en", "Export my data"},
		{"", "I want to make a GDPR request.", TypeOther, "en", "request"},
		// Quoted text and signatures are not the writer's words.
		{"Re: order", "Delete my data.\n\n> Is your product GDPR compliant?\n-- \nDPO", TypeErasure, "en", "Delete my data"},
	}
	for _, tt := range tests {
		got, ok := Detect(tt.subject, tt.text)
		if !ok || got.Type != tt.typ || got.Lang != tt.lang || !strings.Contains(got.Evidence, tt.evidence) {
			t.Errorf("Detect(%q, %q) = %+v, %v; want %s in %s with evidence containing %q", tt.subject, tt.text, got, ok, tt.typ, tt.lang, tt.evidence)
		}
		if got.Confidence < Threshold || got.Confidence > 1 {
			t.Errorf("Detect(%q): confidence %.2f out of range", tt.text, got.Confidence)
		}
	}
}

// Requests quoted back to the customer, and a signature, must not trigger anything.
func TestDetectSkipsQuotesAndSignature(t *testing.T) {
	text := "Thanks, that's all sorted!\n\n> On Monday you wrote:\n> Please delete my data.\n-- \nAnn\nPS the right to be forgotten matters"
	if got, ok := Detect("Re: your request", text); ok {
		t.Errorf("Detect = %+v, want nothing from quoted text or signature", got)
	}
}

func TestSplitSentencesKeepsArticleNumbers(t *testing.T) {
	ss := splitSentences("", "Nach Art. 15 DSGVO bitte z.B. alles. Danke! Und noch was?")
	var got []string
	for _, s := range ss {
		got = append(got, s.joined)
	}
	want := []string{"nach art 15 dsgvo bitte z b alles", "danke", "und noch was"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("sentences %q, want %q", got, want)
	}
}

func FuzzDetect(f *testing.F) {
	f.Add("Löschung", "Bitte löschen Sie meine Daten.\n> quote\n-- \nsig")
	f.Add("", "é\u0301?.!; art. 15")
	f.Fuzz(func(t *testing.T, subject, text string) {
		got, ok := Detect(subject, text)
		if got.Confidence < 0 || got.Confidence > 1 || (ok && got.Type == "") {
			t.Fatalf("Detect = %+v, %v", got, ok)
		}
	})
}
