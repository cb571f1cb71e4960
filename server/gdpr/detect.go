package gdpr

import (
	"iter"
	"regexp"
	"sort"
	"strings"
	"sync"
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
//
// Most messages hold none of the words the patterns need: one pass over the words
// (cuewords.go) answers those without running a single pattern.
func Detect(subject, text string) (Suggestion, bool) {
	text = head(text, maxDetectBytes)
	lex := lexiconIndex()
	words, lang := scanMessage(subject, text, lex.words)
	if !lex.needs.met(words, lex.words.may(words, lawRef)) {
		return Suggestion{Lang: lang}, false
	}
	return detect(subject, text, lang, lex.words, lex.needs)
}

// lexiconIndex knows the words each pattern of the lexicon needs, and which of them a
// sentence needs for the scoring in detect to find any cue. Deriving them takes some
// milliseconds, so it waits for the first message.
var lexiconIndex = sync.OnceValue(func() (lex struct {
	words *cueIndex
	needs cueNeeds
}) {
	lex.words = newCueIndex(lexiconPatterns()...)
	lex.needs = newCueNeeds(lex.words)
	return lex
})

func lexiconPatterns() []*regexp.Regexp {
	all := []*regexp.Regexp{lawRef, requestWord, howTo, infoQuestion}
	for _, c := range strongCues {
		all = append(all, c.re)
	}
	for _, p := range pairCues {
		all = append(all, p.action, p.object)
		if p.weakObject != nil {
			all = append(all, p.weakObject)
		}
	}
	for _, p := range penalties {
		all = append(all, p.re)
	}
	return all
}

// cueNeeds mirrors the scoring loop of detect: a sentence gets a cue only from a
// strong cue, from a request word when a law is named, or from an action with an
// object. Each field holds the bits of the patterns that may give it.
type cueNeeds struct {
	strong, request uint64
	pairs           []struct{ action, object uint64 }
}

func newCueNeeds(c *cueIndex) cueNeeds {
	n := cueNeeds{request: c.bit(requestWord)}
	for _, s := range strongCues {
		n.strong |= c.bit(s.re)
	}
	for _, p := range pairCues {
		object := c.bit(p.object)
		if p.weakObject != nil {
			object |= c.bit(p.weakObject)
		}
		n.pairs = append(n.pairs, struct{ action, object uint64 }{c.bit(p.action), object})
	}
	return n
}

// met reports whether a text that scanned to words could get any cue; law is whether
// a law is (or may be) named in the message.
func (n cueNeeds) met(words uint64, law bool) bool {
	if words&n.strong != 0 || law && words&n.request != 0 {
		return true
	}
	for _, p := range n.pairs {
		if words&p.action != 0 && words&p.object != 0 {
			return true
		}
	}
	return false
}

// detect scores the sentences of a message; a pattern whose words (cues) a sentence
// lacks is not run. A nil cues runs every pattern.
func detect(subject, text, lang string, cues *cueIndex, needs cueNeeds) (Suggestion, bool) {
	sentences := splitSentences(subject, text)
	for i := range sentences {
		sentences[i].words = cues.scan(sentences[i].joined)
	}

	var best [numTypes]hit
	law := false
	for _, s := range sentences {
		if cues.may(s.words, lawRef) && s.matches(lawRef) {
			law = true
		}
	}
	for _, s := range sentences {
		if !needs.met(s.words, law) {
			continue
		}
		weight := 1.0
		switch {
		case cues.may(s.words, howTo) && s.matches(howTo):
			weight = 0.3
		case s.question && cues.may(s.words, infoQuestion) && s.startsWith(infoQuestion):
			weight = 0.4
		}
		for _, c := range strongCues {
			if !cues.may(s.words, c.re) {
				continue
			}
			for _, span := range s.find(c.re) {
				score := c.score
				if c.needsLaw && !law {
					score = c.withoutLaw
				}
				best[c.typ].keep(score*weight, s, span)
			}
		}
		for _, p := range pairCues {
			objectMay := cues.may(s.words, p.object) || (p.weakObject != nil && cues.may(s.words, p.weakObject))
			if !cues.may(s.words, p.action) || !objectMay {
				continue
			}
			actions := s.find(p.action)
			if actions == nil {
				continue
			}
			// The objects are found once, not once for each action.
			objects := [2]struct {
				spans []span
				score float64
			}{{score: p.score}, {score: p.weakScore}}
			for i, re := range [2]*regexp.Regexp{p.object, p.weakObject} {
				if re != nil && cues.may(s.words, re) {
					objects[i].spans = s.find(re)
				}
			}
			for _, a := range actions {
				for _, objs := range objects {
					for _, o := range objs.spans {
						if s.precededBy(o, notObject) || !near(a, o, pairWindow) {
							continue
						}
						best[p.typ].keep(objs.score*weight, s, span{min(a.from, o.from), max(a.to, o.to)})
					}
				}
			}
		}
		if law && cues.may(s.words, requestWord) {
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
	wholeWords := cues.scan(whole)
	for _, p := range penalties {
		if cues.may(wholeWords, p.re) && p.re.MatchString(whole) {
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
	words    uint64 // the patterns whose words joined holds (cuewords.go)
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

// writerLines yields the subject and then the lines of text the writer wrote:
// quoted lines (starting with ">") are skipped and the signature (after "-- ") ends
// the text. Lines end at "\n" or "\r\n".
func writerLines(subject, text string) iter.Seq2[string, bool] {
	return func(yield func(line string, isSubject bool) bool) {
		if !yield(subject, true) {
			return
		}
		for rest, more := text, true; more; {
			var line string
			line, rest, more = strings.Cut(rest, "\n")
			if more {
				line = strings.TrimSuffix(line, "\r")
			}
			trimmed := strings.TrimSpace(line)
			if line == "-- " || trimmed == "--" {
				return
			}
			if strings.HasPrefix(trimmed, ">") {
				continue
			}
			if !yield(line, false) {
				return
			}
		}
	}
}

// splitSentences splits the writer's lines into sentences at line ends, "?", "!",
// ";" and a "." that ends a sentence (not the one in "Art. 15" or "z.B."); the
// subject is one sentence.
func splitSentences(subject, text string) sentences {
	var out sentences
	for line, isSubject := range writerLines(subject, text) {
		if isSubject {
			out = appendSentence(out, line)
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
	n := 0
	for _, to := nextWord(orig, 0); to > 0; _, to = nextWord(orig, to) {
		n++
	}
	s.tokens = make([]token, 0, n)
	s.starts = make([]int, 0, n)
	var b strings.Builder
	b.Grow(len(orig))
	var scratch [64]byte
	for from, to := nextWord(orig, 0); to > 0; from, to = nextWord(orig, to) {
		if b.Len() > 0 {
			b.WriteByte(' ') // apostrophes, hyphens and punctuation all separate words
		}
		s.starts = append(s.starts, b.Len())
		b.Write(appendFolded(scratch[:0], orig[from:to]))
		s.tokens = append(s.tokens, token{from: from, to: to})
	}
	s.joined = b.String()
	for i := range s.tokens {
		end := len(s.joined)
		if i+1 < len(s.starts) && s.starts[i+1] > s.starts[i] {
			end = s.starts[i+1] - 1 // the space before the next word
		} else if i+1 < len(s.starts) {
			end = s.starts[i] // only words folded to nothing so far
		}
		s.tokens[i].norm = s.joined[s.starts[i]:end]
	}
	return s
}

// nextWord returns the bounds of the first word of s at or after byte i: letters,
// digits and combining marks; to is 0 when there is none.
func nextWord(s string, i int) (from, to int) {
	from = -1
	for i < len(s) {
		r, size := rune(s[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(s[i:])
		}
		if isWordRune(r) {
			if from < 0 {
				from = i
			}
		} else if from >= 0 {
			return from, i
		}
		i += size
	}
	if from < 0 {
		return 0, 0
	}
	return from, len(s)
}

func isWordRune(r rune) bool {
	if r < utf8.RuneSelf {
		return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9'
	}
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r)
}

// appendFolded appends word in lower case without diacritics. German umlauts become
// the bare vowel, so "löschen" and "loschen" match the same pattern ("loeschen" is
// listed in the patterns where it matters); ß, œ and æ become two letters.
func appendFolded(dst []byte, word string) []byte {
	for i := 0; i < len(word); i++ {
		c := word[i]
		if c < utf8.RuneSelf {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			dst = append(dst, c)
			continue
		}
		r, size := utf8.DecodeRuneInString(word[i:])
		i += size - 1
		switch r = unicode.ToLower(r); r {
		case 'ä', 'à', 'á', 'â', 'ã', 'å':
			dst = append(dst, 'a')
		case 'è', 'é', 'ê', 'ë':
			dst = append(dst, 'e')
		case 'ì', 'í', 'î', 'ï':
			dst = append(dst, 'i')
		case 'ö', 'ò', 'ó', 'ô', 'õ':
			dst = append(dst, 'o')
		case 'ü', 'ù', 'ú', 'û':
			dst = append(dst, 'u')
		case 'ç':
			dst = append(dst, 'c')
		case 'ñ':
			dst = append(dst, 'n')
		case 'ÿ':
			dst = append(dst, 'y')
		case 'ß':
			dst = append(dst, "ss"...)
		case 'œ':
			dst = append(dst, "oe"...)
		case 'æ':
			dst = append(dst, "ae"...)
		case '\u0301', '\u0300', '\u0308', '\u0302', '\u0303', '\u0327': // combining accents
		default:
			dst = utf8.AppendRune(dst, r)
		}
	}
	return dst
}

// scanMessage reads the words splitSentences would, in one pass and without
// keeping them: it returns the patterns whose words they hold and the language.
func scanMessage(subject, text string, c *cueIndex) (words uint64, lang string) {
	w := wordScan{c: c}
	var counts [len(languages)]int
	var scratch [64]byte
	for line := range writerLines(subject, text) {
		for from, to := nextWord(line, 0); to > 0; from, to = nextWord(line, to) {
			norm := appendFolded(scratch[:0], line[from:to])
			w.feed(' ')
			for _, b := range norm {
				w.feed(b)
			}
			if in := stopwordLangs[string(norm)]; in != 0 {
				for l := range languages {
					if in&(1<<l) != 0 {
						counts[l]++
					}
				}
			}
		}
	}
	w.feed(' ')
	return w.found | c.always, guessLang(counts)
}

// languages are the languages Detect tells apart; English, first, wins ties and
// silence.
var languages = [...]string{"en", "de", "fr", "es", "it"}

// stopwordLangs has, for each common word, a bit for each language it is common in.
var stopwordLangs = func() map[string]uint8 {
	m := map[string]uint8{}
	for l, lang := range languages {
		for w := range stopwords[lang] {
			m[w] |= 1 << l
		}
	}
	return m
}()

// guessLang picks the language with the most common words.
func guessLang(counts [len(languages)]int) string {
	best := 0
	for l := range counts {
		if counts[l] > counts[best] {
			best = l
		}
	}
	return languages[best]
}
