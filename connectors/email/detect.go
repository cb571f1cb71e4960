package email

import (
	"mime"
	"regexp"
	"strconv"
	"strings"

	"github.com/emersion/go-message/textproto"
)

// detectAuto recognises mail that no one should answer automatically: auto-replies and
// out-of-office notices (RFC 3834 Auto-Submitted and the older vendor headers), bounces
// (RFC 3464 reports, the null Return-Path, mailer-daemon) and list or bulk mail. The
// reason names the header that decided, for the agent and the logs.
//
// bulk reports list or bulk mail (see Parsed.Bulk): a List-Id or List-Unsubscribe
// header, or Precedence bulk, list or junk on a message that is not an auto-reply or a
// bounce (old vacation programs mark their replies "Precedence: bulk"; those answer
// the customer's own thread).
func detectAuto(h textproto.Header, from string) (auto bool, reason string, bulk bool) {
	listHeader := ""
	for _, k := range []string{"List-Id", "List-Unsubscribe"} {
		if h.Has(k) {
			listHeader = k
			break
		}
	}
	onList := listHeader != ""
	if t, _, _ := mime.ParseMediaType(h.Get("Content-Type")); t == "multipart/report" {
		return true, "bounce: Content-Type multipart/report", onList
	}
	if rp := strings.TrimSpace(h.Get("Return-Path")); rp != "" && strings.Trim(rp, "<> \t") == "" {
		return true, "bounce: Return-Path <>", onList
	}
	local, _, _ := strings.Cut(strings.ToLower(from), "@")
	if local == "mailer-daemon" || local == "postmaster" {
		return true, "bounce: from " + local, onList
	}
	if v := strings.ToLower(strings.TrimSpace(h.Get("Auto-Submitted"))); v != "" && !strings.HasPrefix(v, "no") {
		return true, "auto-reply: Auto-Submitted: " + v, onList
	}
	for _, k := range []string{"X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-Auto-Reply"} {
		if h.Has(k) {
			return true, "auto-reply: " + k, onList
		}
	}
	switch v := strings.ToLower(strings.TrimSpace(h.Get("Precedence"))); v {
	case "auto_reply":
		return true, "auto-reply: Precedence: " + v, onList
	case "bulk", "junk", "list":
		return true, "list: Precedence: " + v, true
	}
	if onList {
		return true, "list: " + listHeader, true
	}
	return false, "", false
}

var forwardRe = regexp.MustCompile(`(?i)^\s*(fwd?|wg|tr|rv)\s*(\[\d+\])?\s*:`)

// IsForwarded tells whether a subject marks a forwarded message (Fwd:, Fw:, and the
// German WG:, French TR:, Spanish RV:). Forwarded mail starts a new conversation even
// when it carries the headers of an old one.
func IsForwarded(subject string) bool {
	return forwardRe.MatchString(subject)
}

var tokenRe = regexp.MustCompile(`\[#(\d{1,15})\]`)

// SubjectToken returns the ticket number of the last "[#1042]" token in a subject, or 0.
func SubjectToken(subject string) int64 {
	m := tokenRe.FindAllStringSubmatch(subject, -1)
	if len(m) == 0 {
		return 0
	}
	n, err := strconv.ParseInt(m[len(m)-1][1], 10, 64)
	if err != nil {
		return 0
	}
	return n
}

var replyPrefixRe = regexp.MustCompile(`(?i)^\s*(re|aw|sv|antw|vs|odp|ref)\s*(\[\d+\])?\s*:\s*`)

// ReplySubject is the subject of a reply: one "Re: " however many the conversation
// collected, the original text, and one ticket token at the end ("Re: Printer [#1042]").
// A number <= 0 keeps the subject's own token, if any.
func ReplySubject(subject string, number int64) string {
	if number <= 0 {
		number = SubjectToken(subject)
	}
	s := tokenRe.ReplaceAllString(subject, "")
	for {
		t := replyPrefixRe.ReplaceAllString(s, "")
		if t == s {
			break
		}
		s = t
	}
	s = strings.Join(strings.Fields(s), " ")
	out := "Re: " + s
	if s == "" {
		out = "Re:"
	}
	if number > 0 {
		out += " [#" + strconv.FormatInt(number, 10) + "]"
	}
	return out
}
