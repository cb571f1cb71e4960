package gdpr

import (
	"regexp"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Request types, as in the API's data request.
const (
	TypeAccess        = "access"
	TypeRectification = "rectification"
	TypeErasure       = "erasure"
	TypeRestriction   = "restriction"
	TypePortability   = "portability"
	TypeObjection     = "objection"
	TypeOther         = "other"
)

// Suggestion is what Detect guesses about a message: the request type, how sure it
// is (0..1), the message's language (en, de, fr, es, it) and the words that gave it
// away, quoted from the message for the agent who confirms it.
type Suggestion struct {
	Type       string
	Confidence float64
	Lang       string
	Evidence   string
}

// Threshold is the confidence from which Detect reports a likely request.
const Threshold = 0.5

// Detect reports whether an inbound message looks like a data-subject request and
// which kind. It is a suggestion for an agent to confirm, tuned to miss little while
// leaving alone the many messages that merely talk about privacy.
//
// The message is split into sentences (the subject is one), normalised to lower case
// without diacritics, and matched against three kinds of cue: a right named outright
// ("right to be forgotten", "DSAR", "Art. 15 DSGVO"); an action of a right (delete,
// löschen, supprimer, borrar, cancellare; a copy of, Auskunft; export; correct; object)
// near an object that is the writer's own data ("my data", "meine Daten", "mes
// données", "mis datos", "i miei dati", "about me"); and a law named with a request
// ("GDPR request", "exercer mes droits RGPD"). Cues that make a sentence a question
// about the product or a how-to ("does deleting my account delete my data?", "how do I
// export my invoices") weaken it; a message about an accident, a third party's data or
// compliance paperwork is marked down as a whole. Quoted replies (lines starting with
// ">") and signatures (after "-- ") are ignored.
func Detect(subject, text string) (Suggestion, bool) {
	text = head(text, maxDetectBytes)
	sentences := splitSentences(subject, text)
	lang := guessLang(sentences)

	var best [numTypes]hit
	law := false
	for _, s := range sentences {
		if s.matches(lawRef) {
			law = true
		}
	}
	for _, s := range sentences {
		weight := 1.0
		switch {
		case s.matches(howTo):
			weight = 0.3
		case s.question && s.startsWith(infoQuestion):
			weight = 0.4
		}
		for _, c := range strongCues {
			for _, span := range s.find(c.re) {
				score := c.score
				if c.needsLaw && !law {
					score = c.withoutLaw
				}
				best[c.typ].keep(score*weight, s, span)
			}
		}
		for _, p := range pairCues {
			for _, a := range s.find(p.action) {
				for _, objs := range []struct {
					re    *regexp.Regexp
					score float64
				}{{p.object, p.score}, {p.weakObject, p.weakScore}} {
					if objs.re == nil {
						continue
					}
					for _, o := range s.find(objs.re) {
						if s.precededBy(o, notObject) || !near(a, o, pairWindow) {
							continue
						}
						best[p.typ].keep(objs.score*weight, s, span{min(a.from, o.from), max(a.to, o.to)})
					}
				}
			}
		}
		if law {
			for _, span := range s.find(requestWord) {
				best[typeOther].keep(0.6*weight, s, span)
			}
		}
	}

	top := typ(0) // on a tie the earlier type wins; "other" is last
	for t := range best {
		if best[t].score > best[top].score {
			top = typ(t)
		}
	}
	h := best[top]
	if h.score == 0 {
		return Suggestion{Lang: lang}, false
	}
	conf := h.score
	if law {
		conf += 0.1
	}
	whole := sentences.all()
	for _, p := range penalties {
		if p.re.MatchString(whole) {
			conf -= p.minus
		}
	}
	conf = max(0, min(1, conf))
	sug := Suggestion{Type: typeNames[top], Confidence: conf, Lang: lang, Evidence: h.evidence}
	return sug, conf >= Threshold
}

// maxDetectBytes bounds the work on one message: requests are stated near the top,
// and a pasted log or long thread below them should not cost seconds.
const maxDetectBytes = 32 << 10

func head(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

type typ int

const (
	typeErasure typ = iota
	typeAccess
	typePortability
	typeRectification
	typeObjection
	typeRestriction
	typeOther
	numTypes
)

var typeNames = [numTypes]string{TypeErasure, TypeAccess, TypePortability, TypeRectification, TypeObjection, TypeRestriction, TypeOther}

type hit struct {
	score    float64
	evidence string
}

func (h *hit) keep(score float64, s sentence, sp span) {
	if score > h.score {
		h.score = score
		h.evidence = s.quote(sp)
	}
}

// pairWindow is how many words may lie between an action and its object: enough
// for "delete all of my stored personal data", and for German, which puts the verb
// last ("alle meine gespeicherten Daten zu löschen").
const pairWindow = 7

// A token is a word of the message, normalised, with its place in the original.
type token struct {
	norm     string
	from, to int // byte offsets in sentence.orig
}

// A span is a range of token indices [from, to).
type span struct{ from, to int }

func near(a, b span, window int) bool {
	if a.to <= b.from {
		return b.from-a.to <= window
	}
	if b.to <= a.from {
		return a.from-b.to <= window
	}
	return false // overlapping: the same words read as action and object
}

type sentence struct {
	orig     string
	tokens   []token
	joined   string // normalised tokens joined by single spaces
	starts   []int  // byte offset of each token in joined
	question bool
}

type sentences []sentence

func (ss sentences) all() string {
	var b strings.Builder
	for _, s := range ss {
		b.WriteString(s.joined)
		b.WriteString(" | ")
	}
	return b.String()
}

func (s sentence) matches(re *regexp.Regexp) bool { return re.MatchString(s.joined) }

func (s sentence) startsWith(re *regexp.Regexp) bool {
	loc := re.FindStringIndex(s.joined)
	return loc != nil && loc[0] == 0
}

// find returns the token spans of re's matches; matches must start and end on word
// boundaries, which the patterns guarantee with \b.
func (s sentence) find(re *regexp.Regexp) []span {
	var out []span
	for _, m := range re.FindAllStringIndex(s.joined, -1) {
		out = append(out, span{s.tokenAt(m[0]), s.tokenAt(m[1]-1) + 1})
	}
	return out
}

func (s sentence) tokenAt(off int) int {
	return max(0, sort.SearchInts(s.starts, off+1)-1)
}

// precededBy reports whether the word before sp matches re as a whole word.
func (s sentence) precededBy(sp span, re *regexp.Regexp) bool {
	return sp.from > 0 && re.MatchString(s.tokens[sp.from-1].norm)
}

// quote returns the original words of sp, widened by a couple of words for context
// and cut to a readable length.
func (s sentence) quote(sp span) string {
	from, to := max(0, sp.from-2), min(len(s.tokens), sp.to+2)
	q := strings.TrimSpace(s.orig[s.tokens[from].from:s.tokens[to-1].to])
	q = strings.Join(strings.Fields(q), " ")
	if utf8.RuneCountInString(q) > 160 {
		q = string([]rune(q)[:157]) + "..."
	}
	return q
}

// splitSentences drops quoted lines and the signature, then splits subject and text
// into sentences at line ends, "?", "!", ";" and a "." that ends a sentence (not the
// one in "Art. 15" or "z.B.").
func splitSentences(subject, text string) sentences {
	var out sentences
	if strings.TrimSpace(subject) != "" {
		out = append(out, newSentence(subject))
	}
	for _, line := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		trimmed := strings.TrimSpace(line)
		if line == "-- " || trimmed == "--" {
			break
		}
		if strings.HasPrefix(trimmed, ">") {
			continue
		}
		start := 0
		for i, r := range line {
			end := false
			switch r {
			case '?', '!', ';':
				end = true
			case '.':
				rest := strings.TrimLeft(line[i+1:], " ")
				next, _ := utf8.DecodeRuneInString(rest)
				end = rest == "" || (len(rest) < len(line[i+1:]) && !unicode.IsDigit(next) && !unicode.IsLower(next))
			}
			if end {
				out = appendSentence(out, line[start:i+utf8.RuneLen(r)])
				start = i + utf8.RuneLen(r)
			}
		}
		out = appendSentence(out, line[start:])
	}
	return out
}

func appendSentence(out sentences, s string) sentences {
	if strings.TrimSpace(s) == "" {
		return out
	}
	return append(out, newSentence(s))
}

func newSentence(orig string) sentence {
	s := sentence{orig: orig, question: strings.Contains(orig, "?")}
	var b strings.Builder
	from := -1
	flush := func(to int) {
		if from < 0 {
			return
		}
		norm := fold(orig[from:to])
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		s.starts = append(s.starts, b.Len())
		b.WriteString(norm)
		s.tokens = append(s.tokens, token{norm, from, to})
		from = -1
	}
	for i, r := range orig {
		if unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r) {
			if from < 0 {
				from = i
			}
			continue
		}
		flush(i) // apostrophes, hyphens and punctuation all separate words
	}
	flush(len(orig))
	s.joined = b.String()
	return s
}

// diacritics folds the accented letters of the five languages to plain ones; German
// umlauts become the bare vowel, so "löschen" and "loschen" match the same pattern
// ("loeschen" is listed in the patterns where it matters).
var diacritics = strings.NewReplacer(
	"ä", "a", "ö", "o", "ü", "u", "ß", "ss",
	"à", "a", "á", "a", "â", "a", "ã", "a", "å", "a",
	"è", "e", "é", "e", "ê", "e", "ë", "e",
	"ì", "i", "í", "i", "î", "i", "ï", "i",
	"ò", "o", "ó", "o", "ô", "o", "õ", "o",
	"ù", "u", "ú", "u", "û", "u",
	"ç", "c", "ñ", "n", "ÿ", "y", "œ", "oe", "æ", "ae",
	"\u0301", "", "\u0300", "", "\u0308", "", "\u0302", "", "\u0303", "", "\u0327", "",
)

func fold(word string) string { return diacritics.Replace(strings.ToLower(word)) }

// guessLang counts common words of each language; English wins ties and silence.
func guessLang(ss sentences) string {
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
