package email

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/emersion/go-message/textproto"

	"kibo/connectors"
)

// Address is one mailbox from an address header.
type Address struct {
	Name    string
	Address string
}

// String formats the address for display ("Ann Lee <ann@example.com>"), not for a
// header.
func (a Address) String() string {
	if a.Name == "" {
		return a.Address
	}
	return a.Name + " <" + a.Address + ">"
}

// Parsed is what Kibo needs from one e-mail message. Message ids keep their angle
// brackets ("<abc@example.com>"), the form they have in headers and in the store.
type Parsed struct {
	From    Address
	To      []Address
	Cc      []Address
	ReplyTo []Address
	Subject string
	// MessageID is the Message-ID header, or "<sha256-of-raw@kibo.invalid>" when the
	// message has none (MessageIDGenerated): the same bytes always get the same id,
	// so a re-scan still deduplicates.
	MessageID          string
	MessageIDGenerated bool
	InReplyTo          []string
	References         []string
	Date               time.Time
	// Text is the plain-text body (derived from the HTML when there is no text part),
	// for search, previews and agents who read text.
	Text string
	// HTML is the sanitised HTML body, or empty. Inline images keep their "cid:" URLs
	// so that the server can point them at the stored attachment.
	HTML        string
	Attachments []connectors.Attachment
	// Auto marks an auto-reply, bounce or list mail; AutoReason says which rule fired.
	Auto       bool
	AutoReason string
	// Bulk marks mailing-list and bulk mail (List-Id, List-Unsubscribe, Precedence
	// bulk, list or junk). Its In-Reply-To, References and subject token may name a
	// customer's message or ticket (someone on the list answered them), but the list's
	// traffic is not theirs: ToInbound makes it open a conversation of its own.
	Bulk bool
	// NewThread marks forwarded mail, which starts a new conversation.
	NewThread    bool
	SubjectToken int64
	// Problems lists what was wrong with the message but did not stop the parse (a
	// truncated multipart, an unknown charset), for the logs and the raw-source view.
	Problems []string
}

// Limits that keep a hostile message from costing more than a large honest one.
const (
	maxDepth     = 16
	maxParts     = 500
	maxIDs       = 200
	maxIDLen     = 998
	generatedIDs = "kibo.invalid"
)

// ErrNoSender is returned for a message with no usable sender address: it cannot
// become a conversation with a contact, so the receiver quarantines it.
var ErrNoSender = errors.New("no sender address (From, Sender, Reply-To, Return-Path)")

// Parse reads one raw RFC 5322 message. Attachments larger than maxAttachment bytes
// (decoded; <= 0 means no limit) are recorded with TooLarge and no data. Parse is
// lenient: broken MIME keeps what could be read and notes it in Problems. It returns an
// error only when the message cannot become a ticket at all, and never panics: a
// panic inside is returned as an error so that the caller can quarantine the source.
func Parse(raw []byte, maxAttachment int64) (p Parsed, err error) {
	defer func() {
		if r := recover(); r != nil {
			p = Parsed{}
			err = fmt.Errorf("email: parser panic: %v", r)
		}
	}()
	return parse(raw, maxAttachment)
}

// testHookParse, when set (by tests, before they start), runs at the start of every
// parse: it lets a test make the parser panic.
var testHookParse func(raw []byte)

func parse(raw []byte, maxAttachment int64) (Parsed, error) {
	if testHookParse != nil {
		testHookParse(raw)
	}
	var p Parsed
	hdr, body, problems := readTopHeader(raw)
	p.Problems = append(p.Problems, problems...)

	p.From = firstAddress(hdr, "From", "Sender", "Reply-To", "Return-Path")
	if p.From.Address == "" {
		return p, ErrNoSender
	}
	p.To = addressList(hdr.Get("To"))
	p.Cc = addressList(hdr.Get("Cc"))
	p.ReplyTo = addressList(hdr.Get("Reply-To"))
	p.Subject = decodeHeaderText(hdr.Get("Subject"))

	if ids := msgIDs(hdr.Get("Message-Id")); len(ids) > 0 {
		p.MessageID = ids[0]
	} else {
		sum := sha256.Sum256(raw)
		p.MessageID = "<" + hex.EncodeToString(sum[:]) + "@" + generatedIDs + ">"
		p.MessageIDGenerated = true
	}
	p.InReplyTo = msgIDs(hdr.Get("In-Reply-To"))
	p.References = msgIDs(strings.Join(hdr.Values("References"), " "))
	p.Date = parseDate(hdr.Get("Date"))

	w := &walker{maxAttachment: maxAttachment}
	c := w.walk(hdr, body, 0)
	p.Problems = append(p.Problems, w.problems...)
	p.Attachments = w.attachments

	p.Text = strings.TrimSpace(strings.Join(c.text, "\n\n"))
	rawHTML := strings.Join(c.html, "\n")
	if strings.TrimSpace(rawHTML) != "" {
		p.HTML = strings.TrimSpace(SanitizeHTML(rawHTML))
		if p.Text == "" {
			p.Text = HTMLToText(rawHTML)
		}
	}

	p.Auto, p.AutoReason, p.Bulk = detectAuto(hdr, p.From.Address)
	p.NewThread = IsForwarded(p.Subject)
	p.SubjectToken = SubjectToken(p.Subject)
	return p, nil
}

// readTopHeader reads the message header leniently: an mbox "From " line and lines
// that are not header fields are dropped (and noted) instead of failing the message.
func readTopHeader(raw []byte) (textproto.Header, []byte, []string) {
	var problems []string
	headEnd, bodyStart := headerEnd(raw)
	head := raw[:headEnd]
	var clean bytes.Buffer
	clean.Grow(len(head) + 2)
	lines := bytes.SplitAfter(head, []byte("\n"))
	dropping := false
	for i, line := range lines {
		trimmed := bytes.TrimRight(line, "\r\n")
		if len(trimmed) == 0 {
			continue
		}
		if trimmed[0] == ' ' || trimmed[0] == '\t' {
			if dropping || clean.Len() == 0 {
				continue
			}
			clean.Write(trimmed)
			clean.WriteString("\r\n")
			continue
		}
		dropping = false
		colon := bytes.IndexByte(trimmed, ':')
		if colon <= 0 || !validKey(trimmed[:colon]) {
			if !(i == 0 && bytes.HasPrefix(trimmed, []byte("From "))) {
				problems = append(problems, fmt.Sprintf("dropped malformed header line %q", truncate(string(trimmed), 60)))
			}
			dropping = true
			continue
		}
		clean.Write(trimmed)
		clean.WriteString("\r\n")
	}
	clean.WriteString("\r\n")
	h, err := textproto.ReadHeader(bufio.NewReader(&clean))
	if err != nil && err != io.EOF {
		problems = append(problems, "header: "+err.Error())
	}
	return h, raw[bodyStart:], problems
}

// headerEnd finds the blank line that ends the header: it returns the end of the header
// and the start of the body. A message that is all header has an empty body.
func headerEnd(raw []byte) (int, int) {
	for i := 0; i < len(raw); {
		j := bytes.IndexByte(raw[i:], '\n')
		if j < 0 {
			return len(raw), len(raw)
		}
		line := raw[i : i+j]
		next := i + j + 1
		if len(bytes.TrimRight(line, "\r")) == 0 {
			return i, next
		}
		i = next
	}
	return len(raw), len(raw)
}

func validKey(k []byte) bool {
	k = bytes.TrimRight(k, " \t")
	if len(k) == 0 {
		return false
	}
	for _, c := range k {
		if c <= ' ' || c >= 127 || c == ':' {
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// content is the readable body found under one MIME entity.
type content struct {
	text, html []string
}

type walker struct {
	maxAttachment int64
	attachments   []connectors.Attachment
	problems      []string
	parts         int
}

func (w *walker) problem(format string, args ...any) {
	if len(w.problems) < 20 {
		w.problems = append(w.problems, fmt.Sprintf(format, args...))
	}
}

// walk visits one entity: multiparts recursively, leaves as body text or attachments.
func (w *walker) walk(h textproto.Header, body []byte, depth int) content {
	w.parts++
	mediaType, params := contentType(h)
	if strings.HasPrefix(mediaType, "multipart/") {
		if depth >= maxDepth || w.parts > maxParts {
			w.problem("multipart nested too deep or too many parts; kept as an attachment")
			w.attach(h, body, "application/octet-stream", params)
			return content{}
		}
		boundary := params["boundary"]
		if boundary == "" {
			w.problem("%s without a boundary; read as text", mediaType)
			return w.leaf(h, body, "text/plain", params)
		}
		return w.multipart(mediaType, boundary, body, depth)
	}
	return w.leaf(h, body, mediaType, params)
}

func (w *walker) multipart(mediaType, boundary string, body []byte, depth int) content {
	mr := textproto.NewMultipartReader(bytes.NewReader(body), boundary)
	var children []content
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			if len(children) == 0 {
				// Nothing under the declared boundary. Mailers that get it wrong
				// still write boundary lines: use the one the body has, or else
				// show the raw body rather than an empty ticket.
				if b := sniffBoundary(body); b != "" && b != boundary && depth < maxDepth {
					w.problem("%s: boundary %q not found; using %q", mediaType, boundary, b)
					return w.multipart(mediaType, b, body, depth+1)
				}
				w.problem("%s: no part found (%v); read as text", mediaType, err)
				return w.leaf(textproto.Header{}, body, "text/plain", nil)
			}
			w.problem("%s: %v; kept the %d parts before it", mediaType, err, len(children))
			break
		}
		data, err := io.ReadAll(part)
		if err != nil {
			w.problem("%s: part %d: %v (final boundary missing?); kept what was read", mediaType, len(children)+1, err)
		}
		children = append(children, w.walk(part.Header, data, depth+1))
		if err != nil {
			break
		}
		if w.parts > maxParts {
			w.problem("more than %d MIME parts; ignored the rest", maxParts)
			break
		}
	}
	var out content
	if mediaType == "multipart/alternative" {
		// The alternatives say the same thing: take the plainest text and the richest
		// HTML (the last one), not all of them.
		for _, c := range children {
			if len(out.text) == 0 && len(c.text) > 0 {
				out.text = c.text
			}
			if len(c.html) > 0 {
				out.html = c.html
			}
		}
		return out
	}
	for _, c := range children {
		out.text = append(out.text, c.text...)
		out.html = append(out.html, c.html...)
	}
	return out
}

var boundaryLineRe = regexp.MustCompile(`(?m)^--([0-9A-Za-z'()+_,./:=?-]{1,70}?)(--)?[ \t]*\r?$`)

// sniffBoundary finds the first line that looks like a multipart boundary.
func sniffBoundary(body []byte) string {
	if len(body) > 64<<10 {
		body = body[:64<<10]
	}
	if m := boundaryLineRe.FindSubmatch(body); m != nil {
		return string(m[1])
	}
	return ""
}

// leaf decodes one non-multipart entity into body text or an attachment.
func (w *walker) leaf(h textproto.Header, body []byte, mediaType string, params map[string]string) content {
	disposition, _, _ := mime.ParseMediaType(h.Get("Content-Disposition"))
	disposition = strings.ToLower(disposition)
	name := filename(h)
	isBody := (mediaType == "text/plain" || mediaType == "text/html") &&
		disposition != "attachment" && name == ""
	if !isBody {
		w.attach(h, body, mediaType, params)
		return content{}
	}
	data := decodeTransfer(h.Get("Content-Transfer-Encoding"), body)
	label := params["charset"]
	if label == "" && mediaType == "text/html" {
		label = metaCharset(data)
	}
	text, ok := decodeCharset(label, data)
	if !ok && label != "" {
		w.problem("unknown charset %q; guessed", label)
	}
	text = strings.ReplaceAll(text, "\r\n", "\n")
	text = strings.ReplaceAll(text, "\x00", "")
	if mediaType == "text/html" {
		return content{html: []string{text}}
	}
	if strings.EqualFold(params["format"], "flowed") {
		text = unflow(text, strings.EqualFold(params["delsp"], "yes"))
	}
	return content{text: []string{text}}
}

func (w *walker) attach(h textproto.Header, body []byte, mediaType string, params map[string]string) {
	data := body
	if !strings.HasPrefix(mediaType, "multipart/") {
		data = decodeTransfer(h.Get("Content-Transfer-Encoding"), body)
	}
	a := connectors.Attachment{
		Filename:    filename(h),
		ContentType: mediaType,
		Size:        int64(len(data)),
		ContentID:   contentID(h.Get("Content-Id")),
	}
	if a.Filename == "" {
		a.Filename = defaultFilename(mediaType, len(w.attachments)+1)
	}
	if w.maxAttachment > 0 && a.Size > w.maxAttachment {
		a.TooLarge = true
		w.problem("attachment %q is %d bytes, over the %d-byte limit; not kept", a.Filename, a.Size, w.maxAttachment)
	} else {
		a.Data = data
	}
	w.attachments = append(w.attachments, a)
}

// contentType parses Content-Type; a missing one is text/plain (RFC 2045). When the
// parameters are broken (duplicates, bad quoting), they are salvaged one by one so that
// a boundary or charset is not lost with them.
func contentType(h textproto.Header) (string, map[string]string) {
	v := h.Get("Content-Type")
	if strings.TrimSpace(v) == "" {
		return "text/plain", map[string]string{}
	}
	t, params, err := mime.ParseMediaType(v)
	if err == nil {
		return t, params
	}
	if t == "" {
		t = strings.ToLower(strings.TrimSpace(strings.SplitN(v, ";", 2)[0]))
	}
	if !strings.Contains(t, "/") {
		t = "text/plain"
	}
	params = map[string]string{}
	for _, seg := range splitParams(v)[1:] {
		if k, val, ok := strings.Cut(seg, "="); ok {
			k = strings.ToLower(strings.TrimSpace(k))
			if _, dup := params[k]; !dup {
				params[k] = strings.Trim(strings.TrimSpace(val), `"`)
			}
		}
	}
	return t, params
}

// filename finds an attachment's name in Content-Disposition or Content-Type, decoding
// RFC 2231 (any charset) and the RFC 2047 words many mailers put there instead.
func filename(h textproto.Header) string {
	for _, field := range [][2]string{{"Content-Disposition", "filename"}, {"Content-Type", "name"}} {
		raw := h.Get(field[0])
		if raw == "" {
			continue
		}
		_, params, _ := mime.ParseMediaType(raw)
		name := params[field[1]]
		if name == "" {
			name = rfc2231Param(raw, field[1])
		}
		if name == "" {
			continue
		}
		if n := cleanFilename(decodeHeaderText(name)); n != "" {
			return n
		}
	}
	return ""
}

// cleanFilename keeps the base name only and drops control characters, so a stored
// attachment can never name a path.
func cleanFilename(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
	s = strings.ReplaceAll(s, "\\", "/")
	s = path.Base(s)
	s = strings.TrimSpace(s)
	if s == "." || s == "/" || s == ".." {
		return ""
	}
	return truncate(s, 255)
}

func defaultFilename(mediaType string, n int) string {
	switch mediaType {
	case "message/delivery-status":
		return "delivery-status.txt"
	case "text/rfc822-headers":
		return "original-headers.txt"
	case "message/rfc822":
		return "message-" + strconv.Itoa(n) + ".eml"
	}
	ext := map[string]string{
		"image/png": ".png", "image/jpeg": ".jpg", "image/gif": ".gif", "image/webp": ".webp",
		"application/pdf": ".pdf", "message/rfc822": ".eml", "text/plain": ".txt",
		"text/html": ".html", "message/delivery-status": ".txt", "text/rfc822-headers": ".txt",
		"text/calendar": ".ics",
	}[mediaType]
	if ext == "" {
		ext = ".bin"
	}
	return "part-" + strconv.Itoa(n) + ext
}

func contentID(v string) string {
	v = strings.TrimSpace(v)
	v = strings.TrimPrefix(v, "<")
	v = strings.TrimSuffix(v, ">")
	return strings.TrimSpace(v)
}

var metaCharsetRe = regexp.MustCompile(`(?i)<meta[^>]+charset\s*=\s*["']?([a-zA-Z0-9_.:-]+)`)

// metaCharset finds the charset an HTML part declares inside itself.
func metaCharset(b []byte) string {
	head := b
	if len(head) > 4096 {
		head = head[:4096]
	}
	if m := metaCharsetRe.FindSubmatch(head); m != nil {
		return string(m[1])
	}
	return ""
}

// unflow undoes format=flowed (RFC 3676): a line ending in a space continues on the
// next line of the same quote depth. Quote markers and space-stuffing are normalised
// to "> ".
func unflow(s string, delsp bool) string {
	var out []string
	var cur strings.Builder
	depth, open := 0, false
	flush := func() {
		if open {
			out = append(out, quotePrefix(depth)+cur.String())
			cur.Reset()
			open = false
		}
	}
	for _, l := range strings.Split(s, "\n") {
		d := 0
		for d < len(l) && l[d] == '>' {
			d++
		}
		text := strings.TrimPrefix(l[d:], " ") // space-stuffing
		soft := strings.HasSuffix(text, " ") && text != "-- "
		if open && d != depth {
			flush()
		}
		if soft && delsp {
			text = text[:len(text)-1]
		}
		cur.WriteString(text)
		depth, open = d, true
		if !soft {
			flush()
		}
	}
	flush()
	return strings.Join(out, "\n")
}

func quotePrefix(depth int) string {
	if depth == 0 {
		return ""
	}
	return strings.Repeat(">", depth) + " "
}

// Address headers.

func firstAddress(h textproto.Header, keys ...string) Address {
	for _, k := range keys {
		if l := addressList(h.Get(k)); len(l) > 0 {
			return l[0]
		}
	}
	return Address{}
}

var bareAddrRe = regexp.MustCompile(`[^\s<>"',;:()\[\]]+@[^\s<>"',;:()\[\]]+`)

// addressList parses an address header with net/mail and, where real mail breaks the
// grammar, falls back to picking out what looks like addresses.
func addressList(v string) []Address {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil
	}
	if !utf8.ValidString(v) {
		v, _ = decodeCharset("", []byte(v))
	}
	v = fixWordCharsets(v)
	parser := mail.AddressParser{WordDecoder: wordDecoder}
	if list, err := parser.ParseList(v); err == nil {
		out := make([]Address, 0, len(list))
		for _, a := range list {
			out = append(out, Address{Name: cleanName(a.Name), Address: a.Address})
		}
		return out
	}
	var out []Address
	for _, seg := range splitAddresses(v) {
		if a, err := parser.Parse(seg); err == nil {
			out = append(out, Address{Name: cleanName(a.Name), Address: a.Address})
			continue
		}
		addr := bareAddrRe.FindString(seg)
		if addr == "" {
			continue
		}
		name := seg
		if i := strings.IndexByte(seg, '<'); i >= 0 {
			name = seg[:i]
		} else {
			name = strings.Replace(seg, addr, "", 1)
		}
		name = strings.Trim(strings.TrimSpace(decodeHeaderText(name)), `"' `)
		out = append(out, Address{Name: name, Address: addr})
		if len(out) >= 500 {
			break
		}
	}
	return out
}

func cleanName(s string) string {
	return strings.Join(strings.Fields(strings.ToValidUTF8(s, "\uFFFD")), " ")
}

// splitAddresses splits at commas outside quotes and angle brackets.
func splitAddresses(v string) []string {
	var out []string
	depth, inQuote, start := 0, false, 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '\\':
			i++
		case c == '"':
			inQuote = !inQuote
		case inQuote:
		case c == '<':
			depth++
		case c == '>':
			if depth > 0 {
				depth--
			}
		case (c == ',' || c == ';') && depth == 0:
			out = append(out, v[start:i])
			start = i + 1
		}
	}
	return append(out, v[start:])
}

// msgIDs extracts message ids in order, with angle brackets, without duplicates. It
// accepts the broken forms seen in the wild: missing brackets, commas between ids.
func msgIDs(v string) []string {
	if strings.TrimSpace(v) == "" {
		return nil
	}
	var out []string
	seen := map[string]bool{}
	add := func(id string) {
		id = strings.TrimSpace(id)
		if id == "" || len(id) > maxIDLen || seen[id] || len(out) >= maxIDs {
			return
		}
		seen[id] = true
		out = append(out, "<"+id+">")
	}
	rest := v
	for {
		i := strings.IndexByte(rest, '<')
		if i < 0 {
			break
		}
		j := strings.IndexByte(rest[i+1:], '>')
		if j < 0 {
			break
		}
		add(strings.Join(strings.Fields(rest[i+1:i+1+j]), ""))
		rest = rest[i+1+j+1:]
	}
	if len(out) == 0 {
		for _, f := range strings.FieldsFunc(v, func(r rune) bool { return unicode.IsSpace(r) || r == ',' }) {
			if strings.Contains(f, "@") {
				add(strings.Trim(f, "<>"))
			}
		}
	}
	return out
}

var dateLayouts = []string{
	"Mon, 2 Jan 2006 15:04:05 -0700",
	"Mon, 2 Jan 2006 15:04:05 MST",
	"2 Jan 2006 15:04:05 -0700",
	"Mon, 2 Jan 2006 15:04 -0700",
	"Mon, 2 Jan 06 15:04:05 -0700",
	"Mon, 2 Jan 2006 15:04:05",
	"Mon Jan 2 15:04:05 2006",
	"Mon Jan 2 15:04:05 MST 2006",
	time.RFC3339,
}

// parseDate reads the Date header; an unreadable date is the zero time (the store then
// uses the time of receipt).
func parseDate(v string) time.Time {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}
	}
	if t, err := mail.ParseDate(v); err == nil {
		return t.UTC()
	}
	if i := strings.IndexByte(v, '('); i > 0 {
		v = strings.TrimSpace(v[:i])
	}
	v = strings.Join(strings.Fields(v), " ")
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, v); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}
