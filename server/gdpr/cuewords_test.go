package gdpr

import (
	"fmt"
	"math/rand"
	"regexp"
	"regexp/syntax"
	"strings"
	"testing"
	"unicode"
)

// The cue words may only ever skip work: Detect with them must answer exactly as
// Detect running every pattern on every sentence. These tests hold them to that on
// the corpus, on examples generated from every pattern, and on random messages.

// ungated is Detect with every pattern run on every sentence, as before the cue words.
func ungated(subject, text string) (Suggestion, bool) {
	text = head(text, maxDetectBytes)
	return detect(subject, text, langOfSentences(splitSentences(subject, text)), nil, newCueNeeds(nil))
}

// langOfSentences is how Detect guessed the language before scanMessage: from the
// tokens of the sentences.
func langOfSentences(ss sentences) string {
	counts := map[string]int{}
	for _, s := range ss {
		for _, t := range s.tokens {
			for lang, words := range stopwords {
				if words[t.norm] {
					counts[lang]++
				}
			}
		}
	}
	best := "en"
	for _, lang := range []string{"de", "fr", "es", "it"} {
		if counts[lang] > counts[best] {
			best = lang
		}
	}
	return best
}

// foldReference is how words were normalised before appendFolded.
var foldReference = func() func(string) string {
	diacritics := strings.NewReplacer(
		"ä", "a", "ö", "o", "ü", "u", "ß", "ss",
		"à", "a", "á", "a", "â", "a", "ã", "a", "å", "a",
		"è", "e", "é", "e", "ê", "e", "ë", "e",
		"ì", "i", "í", "i", "î", "i", "ï", "i",
		"ò", "o", "ó", "o", "ô", "o", "õ", "o",
		"ù", "u", "ú", "u", "û", "u",
		"ç", "c", "ñ", "n", "ÿ", "y", "œ", "oe", "æ", "ae",
		"\u0301", "", "\u0300", "", "\u0308", "", "\u0302", "", "\u0303", "", "\u0327", "",
	)
	return func(w string) string { return diacritics.Replace(strings.ToLower(w)) }
}()

// checkCueWords fails t unless Detect answers (subject, text) exactly as ungated,
// and the words scanned cover every pattern that matches a sentence.
func checkCueWords(t *testing.T, subject, text string) {
	t.Helper()
	lex := lexiconIndex()
	got, ok := Detect(subject, text)
	want, wantOK := ungated(subject, text)
	if got != want || ok != wantOK {
		t.Fatalf("Detect(%q, %q) = %+v, %v; every pattern run: %+v, %v", subject, text, got, ok, want, wantOK)
	}
	text = head(text, maxDetectBytes)
	ss := splitSentences(subject, text)
	words, lang := scanMessage(subject, text, lex.words)
	if wantLang := langOfSentences(ss); lang != wantLang {
		t.Fatalf("scanMessage(%q, %q) language %s, want %s", subject, text, lang, wantLang)
	}
	if want.Type != "" && !lex.needs.met(words, lex.words.may(words, lawRef)) {
		t.Fatalf("(%q, %q): screened out, but a cue fires (%+v)", subject, text, want)
	}
	for _, s := range ss {
		for _, tok := range s.tokens {
			if ref := foldReference(s.orig[tok.from:tok.to]); tok.norm != ref {
				t.Fatalf("word %q normalised to %q, want %q", s.orig[tok.from:tok.to], tok.norm, ref)
			}
		}
		sw := lex.words.scan(s.joined)
		for _, re := range lexiconPatterns() {
			if re.MatchString(s.joined) && (!lex.words.may(sw, re) || !lex.words.may(words, re)) {
				t.Fatalf("%q matches %s, but its words %q are not found in (%q, %q)", s.joined, re, lex.words.words[re], subject, text)
			}
		}
	}
}

func TestCueWordsKeepCorpus(t *testing.T) {
	lex := lexiconIndex()
	screened := 0
	for _, m := range loadCorpus(t) {
		checkCueWords(t, m.Subject, m.Text)
		words, _ := scanMessage(m.Subject, head(m.Text, maxDetectBytes), lex.words)
		if !lex.needs.met(words, lex.words.may(words, lawRef)) {
			if m.IsRequest {
				t.Errorf("%s: a request screened out", m.ID)
			}
			screened++
		}
	}
	t.Logf("%d corpus messages screened out without running a pattern", screened)
}

// Ordinary messages must be answered without a pattern: that is the point.
func TestCueWordsScreenOrdinaryMessages(t *testing.T) {
	lex := lexiconIndex()
	if lex.words.always != 0 {
		t.Errorf("no words derived for some patterns (bits %b): they run on every sentence", lex.words.always)
	}
	for _, m := range ordinaryMessages {
		checkCueWords(t, "", m)
		if words, _ := scanMessage("", m, lex.words); lex.needs.met(words, lex.words.may(words, lawRef)) {
			t.Errorf("%q not screened out", m)
		}
	}
}

// Every pattern's own matches, as a customer might write them, carry its words.
func TestCueWordsCoverPatternExamples(t *testing.T) {
	lex := lexiconIndex()
	r := rand.New(rand.NewSource(1))
	for _, re := range lexiconPatterns() {
		if lex.words.words[re] == nil {
			t.Errorf("no words for %s", re)
		}
		examples := patternExamples(t, re)
		matched := 0
		for _, ex := range examples {
			for _, text := range writtenLike(r, ex) {
				words, _ := scanMessage("", text, lex.words)
				for _, s := range splitSentences("", text) {
					if !re.MatchString(s.joined) {
						continue
					}
					matched++
					if !lex.words.may(lex.words.scan(s.joined), re) || !lex.words.may(words, re) {
						t.Fatalf("%q (from %q) matches %s, but its words %q are not found", s.joined, text, re, lex.words.words[re])
					}
				}
			}
		}
		if matched == 0 {
			t.Errorf("no example of %s matches it", re)
		}
		for _, ex := range spread(examples, 12) {
			for _, text := range writtenLike(r, ex) {
				checkCueWords(t, "", text)
			}
		}
	}
}

// TestCueWordsRandomMessages throws messages made of the patterns' own words, their
// examples and noise at the detector.
func TestCueWordsRandomMessages(t *testing.T) {
	n := 800
	if testing.Short() {
		n = 100
	}
	gen := newMessageGen(t, rand.New(rand.NewSource(2)))
	fired := 0
	for range n {
		subject, text := gen.message()
		checkCueWords(t, subject, text)
		if _, ok := Detect(subject, text); ok {
			fired++
		}
	}
	t.Logf("%d of %d random messages detected as requests", fired, n)
}

func FuzzCueWords(f *testing.F) {
	for _, m := range loadCorpus(f) {
		f.Add(m.Subject, m.Text)
	}
	gen := newMessageGen(f, rand.New(rand.NewSource(3)))
	for range 50 {
		subject, text := gen.message()
		f.Add(subject, text)
	}
	f.Fuzz(func(t *testing.T, subject, text string) {
		checkCueWords(t, subject, text)
	})
}

func TestAppendFoldedMatchesReference(t *testing.T) {
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if !isWordRune(r) {
			continue
		}
		for _, w := range []string{string(r), "a" + string(r) + "B"} {
			if got, want := string(appendFolded(nil, w)), foldReference(w); got != want {
				t.Fatalf("appendFolded(%q) = %q, want %q", w, got, want)
			}
		}
	}
}

func TestRequiredWordsBoundaries(t *testing.T) {
	for _, tt := range []struct {
		re   string
		want string
	}{
		{`\b(?:delete|losch\w*)\b`, `[" delete " " losch"]`},
		{`\b(?:my (?:\w+ )?(?:account|profile))\b`, `["account " "profile "]`},
		{`\b(?:art|article)s? ?15\b`, `[" art 15 " " art15 " " article 15 " " article15 " " articles 15 " " articles15 " " arts 15 " " arts15 "]`},
		{`\bfoo\b bar\b`, `[" foo bar "]`},
		{`\bfoo-? bar\b`, `nil`}, // "-" never occurs in normalised text: given up
		{`\bx\by`, `nil`},        // cannot match: no words, so it always runs
		{`.*`, `nil`},
	} {
		got := "nil"
		if w := requiredWords(regexp.MustCompile(tt.re)); w != nil {
			got = fmt.Sprintf("%q", w)
		}
		if got != tt.want {
			t.Errorf("requiredWords(%s) = %s, want %s", tt.re, got, tt.want)
		}
	}
}

// patternExamples lists strings re matches, walking its syntax: every branch of an
// alternation, optional parts with and without, \w as "a" or "0".
func patternExamples(t *testing.T, re *regexp.Regexp) []string {
	t.Helper()
	p, err := syntax.Parse(re.String(), syntax.Perl)
	if err != nil {
		t.Fatal(err)
	}
	return examplesOf(p)
}

func examplesOf(re *syntax.Regexp) []string {
	const limit = 400
	switch re.Op {
	case syntax.OpLiteral:
		return []string{string(re.Rune)}
	case syntax.OpCharClass:
		out := []string{string(re.Rune[len(re.Rune)-2])}
		if len(re.Rune) > 2 {
			out = append(out, string(re.Rune[0]))
		}
		return out
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return []string{"x"}
	case syntax.OpCapture:
		return examplesOf(re.Sub[0])
	case syntax.OpStar, syntax.OpQuest:
		return append([]string{""}, examplesOf(re.Sub[0])...)
	case syntax.OpPlus:
		sub := examplesOf(re.Sub[0])
		return append(sub, sub[0]+sub[len(sub)-1])
	case syntax.OpRepeat:
		sub := examplesOf(re.Sub[0])
		var out []string
		for n := re.Min; n <= max(re.Min, min(re.Max, re.Min+1)); n++ {
			out = append(out, strings.Repeat(sub[0], n), strings.Repeat(sub[len(sub)-1], n))
		}
		return out
	case syntax.OpConcat:
		out := []string{""}
		for _, s := range re.Sub {
			var next []string
			for _, a := range out {
				for _, b := range examplesOf(s) {
					next = append(next, a+b)
				}
			}
			out = spread(next, limit)
		}
		return out
	case syntax.OpAlternate:
		var out []string
		for _, s := range re.Sub {
			out = append(out, examplesOf(s)...)
		}
		return spread(out, 4*limit)
	}
	return []string{""}
}

// spread keeps at most n of xs, evenly apart.
func spread(xs []string, n int) []string {
	if len(xs) <= n {
		return xs
	}
	out := make([]string, 0, n)
	for i := range n {
		out = append(out, xs[i*len(xs)/n])
	}
	return out
}

// writtenLike returns ways a customer might write ex, a normalised phrase: as is,
// in a sentence, in capitals, with accents and with hyphens or apostrophes.
func writtenLike(r *rand.Rand, ex string) []string {
	accents := map[rune][]string{
		'a': {"ä", "à", "á", "Â", "a\u0301"}, 'e': {"é", "è", "Ê", "ë"}, 'i': {"í", "ï"},
		'o': {"ö", "ó", "Ô"}, 'u': {"ü", "ú", "Ù"}, 'c': {"ç"}, 'n': {"ñ"},
	}
	var accented strings.Builder
	for _, c := range ex {
		if forms := accents[c]; forms != nil && r.Intn(2) == 0 {
			accented.WriteString(forms[r.Intn(len(forms))])
		} else {
			accented.WriteRune(c)
		}
	}
	seps := []string{"-", "'", " , ", "  "}
	return []string{
		ex,
		"Hello, " + ex + ", thanks!",
		strings.ToUpper(ex),
		accented.String(),
		strings.ReplaceAll(ex, " ", seps[r.Intn(len(seps))]),
		strings.ReplaceAll(strings.ReplaceAll(ex, "ss", "ß"), "ae", "æ"),
	}
}

// messageGen makes random messages from the patterns' examples and words, words of
// ordinary messages, odd characters and the line and sentence breaks Detect reads.
type messageGen struct {
	r      *rand.Rand
	pieces []string
}

func newMessageGen(t testing.TB, r *rand.Rand) *messageGen {
	g := &messageGen{r: r}
	for _, re := range lexiconPatterns() {
		p, err := syntax.Parse(re.String(), syntax.Perl)
		if err != nil {
			t.Fatal(err)
		}
		for _, ex := range spread(examplesOf(p), 60) {
			g.pieces = append(g.pieces, ex)
			g.pieces = append(g.pieces, strings.Fields(ex)...)
		}
	}
	for _, m := range ordinaryMessages {
		g.pieces = append(g.pieces, strings.Fields(m)...)
	}
	g.pieces = append(g.pieces, "Löschung", "Daten", "données", "l'accès", "ø", "İ", "K", "\u0301", "ß", "Æ", "_", "15", "Art.", "z.B.", "🙂")
	return g
}

func (g *messageGen) message() (subject, text string) {
	seps := []string{" ", " ", " ", ". ", "? ", "! ", "; ", "\n", "\r\n", "\n> ", "\n-- \n", "\n--\n", "-", "'", "", ", "}
	var b strings.Builder
	for range 1 + g.r.Intn(16) {
		w := g.pieces[g.r.Intn(len(g.pieces))]
		switch g.r.Intn(8) {
		case 0:
			w = strings.ToUpper(w)
		case 1:
			if w != "" {
				w = strings.ToUpper(w[:1]) + w[1:]
			}
		}
		b.WriteString(w)
		b.WriteString(seps[g.r.Intn(len(seps))])
	}
	s := b.String()
	if g.r.Intn(3) == 0 {
		k := g.r.Intn(len(s) + 1)
		return s[:k], s[k:]
	}
	return "", s
}
