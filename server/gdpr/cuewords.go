package gdpr

import (
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
)

// Detect runs every inbound message past nearly forty regular expressions, and most
// messages ("where is my order?") contain none of the words those expressions need.
// The words are derived from the patterns themselves: for each pattern, a set of
// strings of which every match contains at least one (for `\b(?:delete|losch\w*)\b`,
// " delete " and " losch"). One pass of an Aho-Corasick automaton over a text's
// normalised words tells which patterns could match in it; the others need not run,
// and a message on which no cue could fire is answered without running any.
//
// The automaton reads the text as the patterns see it, with one change: every byte
// that is not a lower-case letter or a digit reads as a space, and the text is
// padded with a space at each end. Normalised text holds no other word characters,
// so a \b beside a letter becomes a space in the derived strings.

// A cueIndex knows the words each pattern needs; it gives each pattern one bit.
type cueIndex struct {
	bits   map[*regexp.Regexp]uint64
	always uint64 // patterns no word could be derived for: assumed present
	words  map[*regexp.Regexp][]string
	next   []uint16 // next[state*alphabetSize+class]: the automaton's transitions
	out    []uint64 // out[state]: the patterns one of whose words ends at state
}

const alphabetSize = 1 + 26 + 10 // space, a-z, 0-9

// class maps a byte to the automaton's alphabet: any byte that is not a lower-case
// letter or a digit is a space.
var class = func() (c [256]uint8) {
	for b := 'a'; b <= 'z'; b++ {
		c[b] = uint8(1 + b - 'a')
	}
	for b := '0'; b <= '9'; b++ {
		c[b] = uint8(27 + b - '0')
	}
	return c
}()

func newCueIndex(patterns ...*regexp.Regexp) *cueIndex {
	c := &cueIndex{bits: map[*regexp.Regexp]uint64{}, words: map[*regexp.Regexp][]string{}}
	trie := [][alphabetSize]uint16{{}}
	out := []uint64{0}
	for _, re := range patterns {
		if _, ok := c.bits[re]; ok {
			continue
		}
		if len(c.bits) == 64 {
			panic("gdpr: more than 64 patterns for the cue index")
		}
		bit := uint64(1) << len(c.bits)
		c.bits[re] = bit
		words := requiredWords(re)
		if words == nil {
			c.always |= bit
			continue
		}
		c.words[re] = words
		for _, w := range words {
			s := 0
			for i := 0; i < len(w); i++ {
				k := class[w[i]]
				if trie[s][k] == 0 {
					trie = append(trie, [alphabetSize]uint16{})
					out = append(out, 0)
					trie[s][k] = uint16(len(trie) - 1)
				}
				s = int(trie[s][k])
			}
			out[s] |= bit
		}
	}
	if len(trie) > 1<<16 {
		panic("gdpr: cue index too large")
	}
	// Breadth first, so that a state's fallback (the longest proper suffix that is
	// also in the trie) is complete before the state itself.
	fail := make([]uint16, len(trie))
	queue := []uint16{}
	for k := range alphabetSize {
		if t := trie[0][k]; t != 0 {
			queue = append(queue, t)
		}
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		for k := range alphabetSize {
			t := trie[s][k]
			if t == 0 {
				trie[s][k] = trie[fail[s]][k]
				continue
			}
			if s != 0 {
				fail[t] = trie[fail[s]][k]
			}
			out[t] |= out[fail[t]]
			queue = append(queue, t)
		}
	}
	c.next = make([]uint16, 0, len(trie)*alphabetSize)
	for _, row := range trie {
		c.next = append(c.next, row[:]...)
	}
	c.out = out
	return c
}

// A wordScan runs the automaton over a text fed to it piece by piece.
type wordScan struct {
	c     *cueIndex
	state uint16
	found uint64
}

func (w *wordScan) feed(b byte) {
	w.state = w.c.next[int(w.state)*alphabetSize+int(class[b])]
	w.found |= w.c.out[w.state]
}

func (w *wordScan) feedString(s string) {
	for i := 0; i < len(s); i++ {
		w.feed(s[i])
	}
}

// scan returns the bits of the patterns that could match in s, normalised text. A
// nil index lets every pattern run.
func (c *cueIndex) scan(s string) uint64 {
	if c == nil {
		return ^uint64(0)
	}
	w := wordScan{c: c}
	w.feed(' ')
	w.feedString(s)
	w.feed(' ')
	return w.found | c.always
}

// may reports whether re could match a text that scanned to words.
func (c *cueIndex) may(words uint64, re *regexp.Regexp) bool {
	return words&c.bit(re) != 0
}

func (c *cueIndex) bit(re *regexp.Regexp) uint64 {
	if c == nil {
		return ^uint64(0)
	}
	if b, ok := c.bits[re]; ok {
		return b
	}
	return ^uint64(0)
}

// ---- deriving the words from a pattern

// boundary stands for \b in the strings of the analysis until they are resolved.
const boundary = '\x01'

// maxWordSet bounds the sets of the analysis; a larger set is given up as unknown.
const maxWordSet = 1024

// requiredWords returns strings of which every match of re, in normalised text read
// as the automaton reads it, contains at least one; nil if none can be derived.
func requiredWords(re *regexp.Regexp) []string {
	p, err := syntax.Parse(re.String(), syntax.Perl)
	if err != nil {
		return nil
	}
	l := analyse(distribute(p.Simplify()))
	words, ok := resolve(l.best())
	if !ok {
		return nil
	}
	// A word that contains another adds nothing.
	slices.SortFunc(words, func(a, b string) int { return len(a) - len(b) })
	var kept []string
	for _, w := range words {
		if !slices.ContainsFunc(kept, func(k string) bool { return strings.Contains(w, k) }) {
			kept = append(kept, w)
		}
	}
	slices.Sort(kept)
	return kept
}

// distribute rewrites a concatenation around an alternation into an alternation of
// concatenations, a(b|c)d = abd|acd, so that the \b around every pattern stays with
// each of its words and each branch keeps its own best words.
func distribute(re *syntax.Regexp) *syntax.Regexp {
	const maxBranches = 1024
	switch re.Op {
	case syntax.OpCapture:
		return distribute(re.Sub[0])
	case syntax.OpAlternate:
		var subs []*syntax.Regexp
		for _, s := range re.Sub {
			d := distribute(s)
			if d.Op == syntax.OpAlternate {
				subs = append(subs, d.Sub...)
			} else {
				subs = append(subs, d)
			}
		}
		return &syntax.Regexp{Op: syntax.OpAlternate, Sub: subs}
	case syntax.OpConcat:
		branches := [][]*syntax.Regexp{nil}
		for _, s := range re.Sub {
			d := distribute(s)
			var choices []*syntax.Regexp
			if d.Op == syntax.OpAlternate && len(branches)*len(d.Sub) <= maxBranches {
				choices = d.Sub
			} else {
				choices = []*syntax.Regexp{d}
			}
			next := make([][]*syntax.Regexp, 0, len(branches)*len(choices))
			for _, b := range branches {
				for _, ch := range choices {
					items := slices.Clip(b)
					if ch.Op == syntax.OpConcat {
						items = append(items, ch.Sub...)
					} else {
						items = append(items, ch)
					}
					next = append(next, items)
				}
			}
			branches = next
		}
		if len(branches) == 1 {
			return &syntax.Regexp{Op: syntax.OpConcat, Sub: branches[0]}
		}
		alt := &syntax.Regexp{Op: syntax.OpAlternate}
		for _, b := range branches {
			alt.Sub = append(alt.Sub, &syntax.Regexp{Op: syntax.OpConcat, Sub: b})
		}
		return alt
	}
	return re
}

// lits is what the analysis knows about the strings a pattern matches.
type lits struct {
	empty  bool     // it may match an empty string
	exact  []string // every match is one of these; nil when not known
	prefix []string // exact unknown: every match begins with one of these
	suffix []string // exact unknown: every match ends with one of these
	inner  []string // exact unknown: every match contains one of these; nil when not known
}

func exactly(set ...string) lits {
	empty := false
	for _, s := range set {
		empty = empty || strings.Trim(s, string(boundary)) == ""
	}
	return lits{empty: empty, exact: set}
}

func anything(empty bool) lits {
	return lits{empty: empty, prefix: []string{""}, suffix: []string{""}}
}

func (l lits) starts() []string {
	if l.exact != nil {
		return l.exact
	}
	return l.prefix
}

func (l lits) ends() []string {
	if l.exact != nil {
		return l.exact
	}
	return l.suffix
}

func (l lits) contains() []string {
	if l.exact != nil {
		return l.exact
	}
	return l.inner
}

// best is the most selective of the sets every match must contain one of.
func (l lits) best() []string {
	return better(better(l.contains(), l.starts()), l.ends())
}

func analyse(re *syntax.Regexp) lits {
	switch re.Op {
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText,
		syntax.OpNoWordBoundary:
		return exactly("")
	case syntax.OpWordBoundary:
		return exactly(string(boundary))
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 {
			return anything(false)
		}
		return exactly(string(re.Rune))
	case syntax.OpCharClass:
		var set []string
		for i := 0; i+1 < len(re.Rune); i += 2 {
			for r := re.Rune[i]; r <= re.Rune[i+1]; r++ {
				if len(set) == 8 {
					return anything(false)
				}
				set = append(set, string(r))
			}
		}
		return exactly(set...)
	case syntax.OpCapture:
		return analyse(re.Sub[0])
	case syntax.OpQuest:
		if x := analyse(re.Sub[0]); x.exact != nil {
			return exactly(union(x.exact, []string{""})...)
		}
		return anything(true)
	case syntax.OpPlus:
		x := analyse(re.Sub[0])
		return lits{empty: x.empty, prefix: x.starts(), suffix: x.ends(), inner: x.contains()}
	case syntax.OpRepeat:
		if re.Min >= 1 {
			x := analyse(re.Sub[0])
			return lits{empty: x.empty, prefix: x.starts(), suffix: x.ends(), inner: x.contains()}
		}
		return anything(true)
	case syntax.OpConcat:
		l := exactly("")
		for _, s := range re.Sub {
			l = concat(l, analyse(s))
		}
		return l
	case syntax.OpAlternate:
		return alternate(re.Sub)
	}
	return anything(true) // OpStar, OpAnyChar and whatever else: no words
}

func concat(x, y lits) lits {
	if x.exact != nil && y.exact != nil && len(x.exact)*len(y.exact) <= maxWordSet {
		l := exactly(cross(x.exact, y.exact)...)
		l.empty = x.empty && y.empty
		return l
	}
	out := lits{empty: x.empty && y.empty}
	out.inner = better(x.contains(), y.contains())
	if xs, yp := x.ends(), y.starts(); len(xs)*len(yp) <= maxWordSet {
		out.inner = better(out.inner, cross(xs, yp))
	}
	switch {
	case x.exact != nil && len(x.exact)*len(y.starts()) <= maxWordSet:
		out.prefix = cross(x.exact, y.starts())
	case x.exact == nil && x.empty:
		out.prefix = union(x.prefix, y.starts())
	default:
		out.prefix = x.starts()
	}
	switch {
	case y.exact != nil && len(x.ends())*len(y.exact) <= maxWordSet:
		out.suffix = cross(x.ends(), y.exact)
	case y.exact == nil && y.empty:
		out.suffix = union(y.suffix, x.ends())
	default:
		out.suffix = y.ends()
	}
	if len(out.prefix) > maxWordSet {
		out.prefix = []string{""}
	}
	if len(out.suffix) > maxWordSet {
		out.suffix = []string{""}
	}
	return out
}

func alternate(subs []*syntax.Regexp) lits {
	var out lits
	branches := make([]lits, len(subs))
	allExact := true
	for i, s := range subs {
		branches[i] = analyse(s)
		out.empty = out.empty || branches[i].empty
		allExact = allExact && branches[i].exact != nil
	}
	if allExact {
		var set []string
		for _, b := range branches {
			set = append(set, b.exact...)
		}
		if set = union(nil, set); len(set) <= maxWordSet {
			return exactly(set...)
		}
	}
	out.inner = []string{}
	for _, b := range branches {
		out.prefix = append(out.prefix, b.starts()...)
		out.suffix = append(out.suffix, b.ends()...)
		words := b.best()
		if out.inner == nil || quality(words) < 0 {
			out.inner = nil
			continue
		}
		out.inner = append(out.inner, words...)
	}
	out.prefix, out.suffix = union(nil, out.prefix), union(nil, out.suffix)
	if out.inner = union(nil, out.inner); len(out.inner) > maxWordSet {
		out.inner = nil
	}
	if len(out.prefix) > maxWordSet {
		out.prefix = []string{""}
	}
	if len(out.suffix) > maxWordSet {
		out.suffix = []string{""}
	}
	return out
}

func cross(a, b []string) []string {
	out := make([]string, 0, len(a)*len(b))
	for _, x := range a {
		for _, y := range b {
			out = append(out, x+y)
		}
	}
	return union(nil, out)
}

func union(a, b []string) []string {
	out := append(slices.Clip(a), b...)
	slices.Sort(out)
	return slices.Compact(out)
}

// better returns the more selective of two sets: the one whose shortest word is
// longer (a letter counts twice a space), and of two as long the smaller.
func better(a, b []string) []string {
	if quality(b) > quality(a) {
		return b
	}
	return a
}

// quality is negative for a set that is no use: unknown, or with a word that is
// empty or holds a byte normalised text does not have.
func quality(set []string) int {
	if set == nil {
		return -1
	}
	shortest, n := 1<<20, 0
	var buf [64]byte
	for _, s := range set {
		w, possible := resolveBoundaries(buf[:0], s)
		if !possible {
			continue
		}
		if !usable(w) {
			return -1
		}
		score := 0
		for _, c := range w {
			score += 1 + int(min(c-' ', 1)) // a letter counts twice a space
		}
		shortest, n = min(shortest, score), n+1
	}
	if n == 0 {
		return -1
	}
	return shortest<<12 - min(n, 1<<12-1)
}

// resolve turns the boundaries of a set into spaces where they touch a letter at
// either end and drops words whose boundaries cannot hold. It fails on a set that is
// no use for the automaton.
func resolve(set []string) ([]string, bool) {
	if quality(set) < 0 {
		return nil, false
	}
	var words []string
	for _, s := range set {
		if w, possible := resolveBoundaries(nil, s); possible {
			words = append(words, string(w))
		}
	}
	return words, true
}

// usable reports whether the automaton can find w: it is not empty and holds only
// spaces, lower-case letters and digits.
func usable(w []byte) bool {
	for _, c := range w {
		if c != ' ' && class[c] == 0 {
			return false
		}
	}
	return len(w) > 0
}

// resolveBoundaries appends s to dst with its \b marks replaced. Between two
// characters a \b holds or not; at an end of s, beside a word character, it says the
// next character outside s is not one, which the automaton reads as a space.
func resolveBoundaries(dst []byte, s string) ([]byte, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] != boundary {
			dst = append(dst, s[i])
			continue
		}
		j := i
		for j+1 < len(s) && s[j+1] == boundary {
			j++
		}
		hasLeft, hasRight := i > 0, j+1 < len(s)
		left := hasLeft && isWordByte(s[i-1])
		right := hasRight && isWordByte(s[j+1])
		switch {
		case hasLeft && hasRight:
			if left == right {
				return dst, false
			}
		case left || right:
			dst = append(dst, ' ')
		}
		i = j
	}
	return dst, true
}

// isWordByte is \w, as RE2 reads it.
func isWordByte(c byte) bool {
	return c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}
