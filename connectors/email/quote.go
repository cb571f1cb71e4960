package email

import (
	"regexp"
	"strings"
)

// Attribution lines that introduce quoted text, in the languages our customers' mail
// clients speak. A line may be wrapped (Gmail wraps long attributions), so they are
// matched against one, two or three lines joined.
var attributionRes = []*regexp.Regexp{
	regexp.MustCompile(`(?i)^on\s.{1,400}\swrote\s?:$`),             // English (Gmail, Apple Mail, Thunderbird)
	regexp.MustCompile(`(?i)^am\s.{1,400}\sschrieb\s?.{0,200}:$`),   // German
	regexp.MustCompile(`(?i)^le\s.{1,400}\sa\s[ée]crit\s?:$`),       // French
	regexp.MustCompile(`(?i)^el\s.{1,400}\sescribi[óo]\s?:$`),       // Spanish
	regexp.MustCompile(`(?i)^op\s.{1,400}\sschreef\s?.{0,200}:$`),   // Dutch
	regexp.MustCompile(`(?i)^il\s.{1,400}\sha\sscritto\s?:$`),       // Italian
	regexp.MustCompile(`(?i)^(em|no dia)\s.{1,400}\sescreveu\s?:$`), // Portuguese
	regexp.MustCompile(`(?i)^den\s.{1,400}\sskrev\s?.{0,200}:$`),    // Swedish, Danish, Norwegian
	regexp.MustCompile(`(?i)^-{2,}\s*(original message|ursprüngliche nachricht|message d'origine|mensaje original|messaggio originale|oorspronkelijk bericht|originalmeddelande)\s*-{2,}$`),
}

// Outlook quotes without "> ": a block of "From: / Sent: / To: / Subject:" lines in the
// client's language, often after a line of underscores.
var (
	outlookFromRe = regexp.MustCompile(`(?i)^\*?(from|von|de|van|da|från|fra|od)\s?:\*?\s+\S`)
	outlookSentRe = regexp.MustCompile(`(?i)^\*?(sent|date|gesendet|datum|envoy[ée]|enviado|verzonden|inviato|skickat|sendt|wysłano)\s?:\*?\s+\S`)
	underscoreRe  = regexp.MustCompile(`^_{8,}$`)
	forwardedRe   = regexp.MustCompile(`(?i)^(-+\s*(forwarded message|weitergeleitete nachricht|message transf[ée]r[ée]|mensaje reenviado|messaggio inoltrato|doorgestuurd bericht)\s*-+|begin forwarded message:|anfang der weitergeleiteten nachricht:|d[ée]but du message r[ée]exp[ée]di[ée] :?)$`)
)

// QuoteSplit splits a plain-text reply into what the customer wrote and the earlier
// text they quoted, so that the inbox can fold the quote away (expandable). Nothing is
// removed: body + quoted is always exactly text. When no quote is found, or folding
// would leave nothing to show, quoted is empty.
//
// It folds from the first of: an attribution line ("On … wrote:", "Am … schrieb:",
// "Le … a écrit :", ...), an "-----Original Message-----" separator, an Outlook
// "From: … Sent: …" header block; or a trailing block of "> " lines. An attribution
// followed by quotes with answers written in between (inline replies) is not folded
// there, since the answers would disappear with it.
func QuoteSplit(text string) (body, quoted string) {
	lines := splitLines(text)
	cut := -1
	for i := range lines {
		if isAttribution(lines, i) && !interleaved(lines, i) || isOutlookBlock(lines, i) {
			cut = i
			if i > 0 && underscoreRe.MatchString(strings.TrimSpace(lines[i-1].s)) {
				cut = i - 1
			}
			break
		}
	}
	if k := trailingQuote(lines); k >= 0 && (cut < 0 || k < cut) {
		cut = k
	}
	if cut < 0 {
		return text, ""
	}
	for _, l := range lines[:cut] {
		if forwardedRe.MatchString(strings.TrimSpace(l.s)) {
			// Forwarded mail: the "quote" is the message the customer wants read.
			return text, ""
		}
	}
	off := lines[cut].start
	if strings.TrimSpace(text[:off]) == "" {
		return text, ""
	}
	return text[:off], text[off:]
}

type line struct {
	s     string // without the line ending
	start int    // byte offset in the text
}

func splitLines(text string) []line {
	var out []line
	start := 0
	for start < len(text) {
		end := strings.IndexByte(text[start:], '\n')
		next := len(text)
		if end < 0 {
			end = len(text)
		} else {
			end += start
			next = end + 1
		}
		out = append(out, line{strings.TrimRight(text[start:end], "\r"), start})
		start = next
	}
	return out
}

func isAttribution(lines []line, i int) bool {
	joined := ""
	for n := 0; n < 3 && i+n < len(lines); n++ {
		l := strings.TrimSpace(lines[i+n].s)
		if n > 0 && l == "" {
			break
		}
		if n == 0 {
			joined = l
		} else {
			joined += " " + l
		}
		norm := strings.Map(func(r rune) rune {
			if r == '\u00a0' || r == '\u202f' {
				return ' '
			}
			return r
		}, joined)
		for k, re := range attributionRes {
			// A real attribution names a date or an address; "On the other hand, as I
			// wrote:" does not.
			if re.MatchString(norm) && (k == len(attributionRes)-1 || strings.ContainsAny(norm, "0123456789@")) {
				return true
			}
		}
		if len(joined) > 600 {
			break
		}
	}
	return false
}

// interleaved reports whether quoted lines after the attribution at i are followed by
// the writer's own lines (an inline reply).
func interleaved(lines []line, i int) bool {
	sawQuote := false
	for _, l := range lines[i+1:] {
		t := strings.TrimSpace(l.s)
		switch {
		case t == "":
		case strings.HasPrefix(t, ">"):
			sawQuote = true
		default:
			// Unprefixed text right after the attribution is a quote without "> "
			// (webmail, Outlook): everything after the attribution is quoted.
			return sawQuote
		}
	}
	return false
}

func isOutlookBlock(lines []line, i int) bool {
	if !outlookFromRe.MatchString(strings.TrimSpace(lines[i].s)) {
		return false
	}
	for n := 1; n <= 5 && i+n < len(lines); n++ {
		if outlookSentRe.MatchString(strings.TrimSpace(lines[i+n].s)) {
			return true
		}
	}
	return false
}

// trailingQuote finds the start of a block of "> " lines (blank lines allowed) that ends
// the text, with the attribution line just above it when that line names an address.
func trailingQuote(lines []line) int {
	j := len(lines) - 1
	for j >= 0 && strings.TrimSpace(lines[j].s) == "" {
		j--
	}
	if j < 0 || !strings.HasPrefix(strings.TrimSpace(lines[j].s), ">") {
		return -1
	}
	k := j
	for k > 0 {
		t := strings.TrimSpace(lines[k-1].s)
		if t != "" && !strings.HasPrefix(t, ">") {
			break
		}
		k--
	}
	for k < j && strings.TrimSpace(lines[k].s) == "" {
		k++
	}
	if k > 0 {
		prev := strings.TrimSpace(lines[k-1].s)
		if strings.HasSuffix(prev, ":") && strings.Contains(prev, "@") {
			k--
		}
	}
	return k
}
