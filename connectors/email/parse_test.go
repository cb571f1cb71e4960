package email

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	xhtml "golang.org/x/net/html"
)

type corpusCase struct {
	text       []string // substrings of Text
	notText    []string
	html       []string // substrings of HTML
	subject    string
	from       Address
	id         string
	inReplyTo  []string
	refs       []string
	auto       string // substring of AutoReason; "" means not Auto
	bulk       bool
	newThread  bool
	token      int64
	atts       []string // "filename|content-type|size|cid"
	problems   bool
	quoteBody  string // QuoteSplit(Text) body, trimmed; "" means no check
	generateID bool
}

var corpus = map[string]corpusCase{
	"latin1-qp.eml": {
		text:    []string{"La facture “F-2024-17” indique 49,90 € au lieu de 39,90 €.", "Merci d’avance,\nHélène"},
		subject: "Problème de facture €",
		from:    Address{"Hélène Dupré", "helene@example.fr"},
		id:      "<latin1-qp.1@example.fr>",
	},
	"windows1252-8bit.eml": {
		text:    []string{"The “Pro” plan costs €12 – is that per seat?", "Thanks …"},
		subject: "Pricing question",
		from:    Address{"O'Brien, Sean", "sean@example.ie"},
	},
	"iso-2022-jp.eml": {
		text:    []string{"お世話になっております。", "注文番号 1234 の配送状況を教えてください。"},
		subject: "配送について",
		from:    Address{"山田太郎", "taro@example.jp"},
	},
	"gb2312-base64.eml": {
		text:    []string{"我的订单还没有发货，请帮忙查一下。"},
		subject: "订单问题",
		from:    Address{"王小明", "xiaoming@example.cn"},
	},
	"utf8-base64.eml": {
		text:    []string{"Hi team 👋", "tap “Export”. Straße, naïve, æøå."},
		subject: "App crashes 💥 on export",
		from:    Address{"Jørgen Müller", "jorgen@example.de"},
	},
	"nested-multipart.eml": {
		text: []string{"Please see the screenshot.\nAnd the attached résumé – it is long enough to need a soft line break in quoted-printable encoding, really."},
		html: []string{`<img src="cid:shot1@example.org" alt="screenshot">`, "<b>screenshot</b>"},
		atts: []string{"part-1.png|image/png|70|shot1@example.org", "résumé détaillé.pdf|application/pdf|77|"},
	},
	"rfc2047-rfc2231-filenames.eml": {
		text:    []string{"Two files attached."},
		subject: "Dateien für Sie",
		atts:    []string{"Rechnung März.pdf|application/pdf|77|", "Übersicht der Bestellungen €.csv|text/csv|16|"},
	},
	"outlook-reply.eml": {
		text:      []string{"It still does not print after the update.", "From: Kibo Support <support@example.com>"},
		html:      []string{"<p>It still does not print after the update.</p>"},
		subject:   "RE: Printer broken [#1042]",
		id:        "<DB9PR01MB1234ABCD@DB9PR01MB1234.eurprd01.prod.exchangelabs.com>",
		inReplyTo: []string{"<kibo.out.77@example.com>"},
		refs:      []string{"<orig.1@example.com>", "<kibo.out.77@example.com>"},
		token:     1042,
		quoteBody: "Hi,\n\nIt still does not print after the update.\n\nKarl",
	},
	"applemail-reply.eml": {
		text:      []string{"This line is long enough that Apple Mail wraps it with a flowed soft break.", "> We have issued the refund."},
		id:        "<8A1B2C3D-4E5F-6071-8293-A4B5C6D7E8F9@example.org>",
		inReplyTo: []string{"<kibo.out.88@example.com>"},
		refs:      []string{"<kibo.out.88@example.com>"},
		token:     77,
		quoteBody: "Thanks, the refund arrived. This line is long enough that Apple Mail wraps it with a flowed soft break.\n\nAnn",
	},
	"gmail-french-reply.eml": {
		text:      []string{"Merci, c'est réglé !"},
		html:      []string{"Pouvez-vous réessayer ?"},
		token:     55,
		quoteBody: "Merci, c'est réglé !",
	},
	"german-reply.eml": {
		text:      []string{"das Problem besteht weiterhin. Grüße\nJürgen"},
		from:      Address{"Jürgen Köhler", "juergen@example.de"},
		refs:      []string{"<orig.1@example.com>", "<kibo.out.77@example.com>"},
		token:     1042,
		quoteBody: "Hallo,\n\ndas Problem besteht weiterhin. Grüße\nJürgen",
	},
	"auto-reply.eml": {
		text:  []string{"nicht im Büro"},
		auto:  "auto-reply: Auto-Submitted: auto-replied",
		token: 1042,
	},
	"bounce.eml": {
		text: []string{"could not\nbe delivered"},
		auto: "bounce: Content-Type multipart/report",
		atts: []string{"delivery-status.txt|message/delivery-status|224|", "original-headers.txt|text/rfc822-headers|133|"},
	},
	"list.eml": {
		text: []string{"Widgets of the week"},
		auto: "list: Precedence: list",
		bulk: true,
	},
	// someone on a mailing list answering a customer who wrote to the list and to us
	"list-reply.eml": {
		text:      []string{`my printer is stuck on "offline" too`},
		from:      Address{"Dana Reed", "dana.reed@example.net"},
		subject:   "Re: [users] Printer broken [#1042]",
		inReplyTo: []string{"<orig.1@example.com>"},
		refs:      []string{"<orig.1@example.com>"},
		auto:      "list: List-Id",
		bulk:      true,
		token:     1042,
	},
	"forwarded.eml": {
		text:      []string{"Could you look at this one", "The invoice total is wrong."},
		newThread: true,
		token:     1042,
		quoteBody: "", // forwarded content is not folded away: checked below
	},
	"no-message-id.eml": {
		text:       []string{"This message has no Message-ID header."},
		generateID: true,
	},
	"broken-boundary.eml": {
		text:     []string{"First part survives.", "Second part was being written when the relay gave up"},
		problems: true,
	},
	"html-xss.eml": {
		text:    []string{"Hello support, please click here or here.", "Real order number: 5521", "help page (https://example.org/help)"},
		notText: []string{"fetch(", "alert", "display:none"},
		html:    []string{"Real order number: 5521", `<a href="https://example.org/help" rel="nofollow noreferrer noopener" target="_blank">help page</a>`, "&lt;script&gt;escaped text stays text&lt;/script&gt;"},
	},
	"inline-cid.eml": {
		text: []string{"Our logo renders like this:"},
		html: []string{`<img src="cid:logo.123@example.com" width="120" height="40" alt="logo">`},
		atts: []string{"logo.png|image/png|70|logo.123@example.com"},
	},
	"mbox-malformed-header.eml": {
		text:     []string{"Body after a broken header."},
		subject:  "Malformed but readable",
		auto:     "list: Precedence: bulk",
		bulk:     true,
		problems: true,
	},
}

// Every file of the corpus becomes a readable ticket, and the one thing each file is
// about comes out right.
func TestParseCorpus(t *testing.T) {
	files, err := filepath.Glob("testdata/corpus/*.eml")
	if err != nil || len(files) < 20 {
		t.Fatalf("corpus: %d files, %v", len(files), err)
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			p, err := Parse(raw, 10<<20)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			checkReadable(t, p)
			want, ok := corpus[name]
			if !ok {
				t.Fatalf("no expectations for %s", name)
			}
			for _, s := range want.text {
				if !strings.Contains(p.Text, s) {
					t.Errorf("text lacks %q:\n%s", s, p.Text)
				}
			}
			for _, s := range want.notText {
				if strings.Contains(p.Text, s) {
					t.Errorf("text contains %q", s)
				}
			}
			for _, s := range want.html {
				if !strings.Contains(p.HTML, s) {
					t.Errorf("html lacks %q:\n%s", s, p.HTML)
				}
			}
			if want.subject != "" && p.Subject != want.subject {
				t.Errorf("subject %q, want %q", p.Subject, want.subject)
			}
			if want.from.Address != "" && p.From != want.from {
				t.Errorf("from %+v, want %+v", p.From, want.from)
			}
			if want.id != "" && p.MessageID != want.id {
				t.Errorf("Message-ID %q, want %q", p.MessageID, want.id)
			}
			if want.inReplyTo != nil && !slices.Equal(p.InReplyTo, want.inReplyTo) {
				t.Errorf("In-Reply-To %q, want %q", p.InReplyTo, want.inReplyTo)
			}
			if want.refs != nil && !slices.Equal(p.References, want.refs) {
				t.Errorf("References %q, want %q", p.References, want.refs)
			}
			if p.Auto != (want.auto != "") || !strings.Contains(p.AutoReason, want.auto) {
				t.Errorf("Auto %v %q, want %q", p.Auto, p.AutoReason, want.auto)
			}
			if p.Bulk != want.bulk {
				t.Errorf("Bulk %v, want %v", p.Bulk, want.bulk)
			}
			if p.NewThread != want.newThread {
				t.Errorf("NewThread %v", p.NewThread)
			}
			if p.SubjectToken != want.token {
				t.Errorf("SubjectToken %d, want %d", p.SubjectToken, want.token)
			}
			var atts []string
			for _, a := range p.Attachments {
				atts = append(atts, fmt.Sprintf("%s|%s|%d|%s", a.Filename, a.ContentType, a.Size, a.ContentID))
				if int64(len(a.Data)) != a.Size || a.TooLarge {
					t.Errorf("attachment %q: %d bytes of data for size %d", a.Filename, len(a.Data), a.Size)
				}
			}
			if !slices.Equal(atts, want.atts) {
				t.Errorf("attachments %q, want %q", atts, want.atts)
			}
			if (len(p.Problems) > 0) != want.problems {
				t.Errorf("problems %q", p.Problems)
			}
			if p.MessageIDGenerated != want.generateID {
				t.Errorf("MessageIDGenerated %v", p.MessageIDGenerated)
			}
			body, quoted := QuoteSplit(p.Text)
			if body+quoted != p.Text {
				t.Errorf("QuoteSplit lost text")
			}
			if want.quoteBody != "" && strings.TrimSpace(body) != want.quoteBody {
				t.Errorf("QuoteSplit body %q, want %q (quoted %q)", body, want.quoteBody, quoted)
			}
		})
	}
}

// checkReadable is what every parse must give: some valid UTF-8 text and HTML with no
// way to run script or leave its box.
func checkReadable(t *testing.T, p Parsed) {
	t.Helper()
	if strings.TrimSpace(p.Text) == "" {
		t.Error("no readable text")
	}
	for _, s := range []string{p.Text, p.HTML, p.Subject, p.From.Name} {
		if !utf8.ValidString(s) || strings.ContainsRune(s, utf8.RuneError) {
			t.Errorf("not clean UTF-8: %q", s)
		}
	}
	checkSafeHTML(t, p.HTML)
}

// htmlViolations reads sanitised HTML as a browser would and lists what could run
// script, load from Kibo's own origin, or lay content over the inbox.
func htmlViolations(s string) []string {
	var bad []string
	z := xhtml.NewTokenizer(strings.NewReader(s))
	for {
		tt := z.Next()
		if tt == xhtml.ErrorToken {
			return bad
		}
		if tt != xhtml.StartTagToken && tt != xhtml.SelfClosingTagToken {
			continue
		}
		name, more := z.TagName()
		switch string(name) {
		case "script", "style", "iframe", "frame", "form", "object", "embed", "svg", "math", "meta", "base", "link", "input", "button", "textarea", "select":
			bad = append(bad, "<"+string(name)+">")
		}
		for more {
			var k, v []byte
			k, v, more = z.TagAttr()
			key, val := string(k), strings.ToLower(strings.TrimSpace(string(v)))
			switch {
			case strings.HasPrefix(key, "on"), key == "id", key == "class", key == "srcdoc", key == "formaction":
				bad = append(bad, key+"=")
			case key == "href" || key == "src" || key == "action" || key == "cite" || key == "background":
				if strings.HasPrefix(val, "javascript:") || strings.HasPrefix(val, "vbscript:") ||
					strings.HasPrefix(val, "data:text") || !strings.Contains(val, ":") {
					bad = append(bad, key+"="+val)
				}
			case key == "style":
				if regexp.MustCompile(`(position|z-index|display|visibility|opacity|transform|url\(|expression|margin[a-z-]*:\s*-)`).MatchString(val) {
					bad = append(bad, "style="+val)
				}
			}
		}
	}
}

func checkSafeHTML(t testing.TB, html string) {
	t.Helper()
	if bad := htmlViolations(html); len(bad) > 0 {
		t.Errorf("sanitised HTML still has %q:\n%s", bad, html)
	}
}

// largeAttachmentMail is a mail carrying data as a base64 attachment, as a mail client
// sends it.
func largeAttachmentMail(data []byte) []byte {
	var raw bytes.Buffer
	raw.WriteString("From: Big Sender <big@example.com>\r\nTo: support@example.com\r\nSubject: Logs\r\n" +
		"Message-ID: <big.1@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"big\"\r\n\r\n" +
		"--big\r\nContent-Type: text/plain\r\n\r\nThe logs you asked for.\r\n" +
		"--big\r\nContent-Type: application/gzip\r\nContent-Disposition: attachment; filename=\"logs.tar.gz\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n")
	enc := base64.StdEncoding.EncodeToString(data)
	for len(enc) > 76 {
		raw.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	raw.WriteString(enc + "\r\n--big--\r\n")
	return raw.Bytes()
}

func twentyMegabytes() []byte {
	data := make([]byte, 20<<20)
	for i := range data {
		data[i] = byte(i*7 + i>>11)
	}
	return data
}

// BenchmarkParseLargeAttachment: a mail with 20 MB of attachment, kept.
//
//	go test -run '^$' -bench ParseLargeAttachment ./connectors/email/
func BenchmarkParseLargeAttachment(b *testing.B) {
	raw := largeAttachmentMail(twentyMegabytes())
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := Parse(raw, 25<<20); err != nil {
			b.Fatal(err)
		}
	}
}

func TestParseLargeAttachment(t *testing.T) {
	t.Parallel()
	data := twentyMegabytes()
	raw := bytes.NewBuffer(largeAttachmentMail(data))

	p, err := Parse(raw.Bytes(), 10<<20)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Attachments) != 1 {
		t.Fatalf("%d attachments", len(p.Attachments))
	}
	a := p.Attachments[0]
	if !a.TooLarge || a.Data != nil || a.Size != 20<<20 || a.Filename != "logs.tar.gz" {
		t.Errorf("over the limit: TooLarge %v, %d bytes kept, size %d, %q", a.TooLarge, len(a.Data), a.Size, a.Filename)
	}
	if p.Text != "The logs you asked for." || len(p.Problems) != 1 {
		t.Errorf("text %q, problems %q", p.Text, p.Problems)
	}

	p, err = Parse(raw.Bytes(), 25<<20)
	if err != nil {
		t.Fatal(err)
	}
	a = p.Attachments[0]
	if a.TooLarge || sha256.Sum256(a.Data) != sha256.Sum256(data) {
		t.Errorf("under the limit: the 20 MB did not come through intact")
	}
	// how long it takes is a benchmark's question (BenchmarkParse), not this test's: a
	// timed assertion fails on a busy machine and proves nothing about correctness
}

func TestParseMessageIDFallbackIsStable(t *testing.T) {
	raw := []byte("From: a@example.com\r\nSubject: x\r\n\r\nbody\r\n")
	p1, err1 := Parse(raw, 0)
	p2, err2 := Parse(append([]byte(nil), raw...), 0)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	sum := sha256.Sum256(raw)
	want := fmt.Sprintf("<%x@kibo.invalid>", sum)
	if p1.MessageID != want || p2.MessageID != want || !p1.MessageIDGenerated {
		t.Errorf("fallback ids %q %q, want %q", p1.MessageID, p2.MessageID, want)
	}
	in := ToInbound(1, p1, raw)
	if in.Metadata[MetaMessageIDGenerated] != "true" || in.ExternalID != want {
		t.Errorf("inbound %q %v", in.ExternalID, in.Metadata)
	}
}

func TestParseRejectsMailWithoutSender(t *testing.T) {
	if _, err := Parse([]byte("Subject: hi\r\n\r\nno one sent this\r\n"), 0); err == nil {
		t.Fatal("no error for a message without any sender")
	}
	// Sender, Reply-To or Return-Path stand in for a missing From.
	p, err := Parse([]byte("Sender: Desk <desk@example.com>\r\n\r\nhi\r\n"), 0)
	if err != nil || p.From.Address != "desk@example.com" {
		t.Fatalf("Sender fallback: %+v %v", p.From, err)
	}
}

func TestParseOddStructures(t *testing.T) {
	for _, tc := range []struct {
		name, raw, text string
	}{
		{"no content type", "From: a@b.c\r\n\r\nplain body\r\n", "plain body"},
		{"header only", "From: a@b.c\r\nSubject: only a subject", ""},
		{"wrong boundary", "From: a@b.c\r\nContent-Type: multipart/mixed; boundary=nope\r\n\r\n--other\r\n\r\nbody text\r\n--other--\r\n", "body text"},
		{"multipart without boundary", "From: a@b.c\r\nContent-Type: multipart/mixed\r\n\r\njust text\r\n", "just text"},
		{"bad base64", "From: a@b.c\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8gd29y!!bGQ\r\n", "hello world"},
		{"bad quoted-printable", "From: a@b.c\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n100=% sure =E2=82=AC=\r\n ok=ZZ\r\n", "100=% sure € ok=ZZ"},
		{"unknown charset", "From: a@b.c\r\nContent-Type: text/plain; charset=x-klingon\r\n\r\nqapla\r\n", "qapla"},
		{"undeclared 8-bit", "From: a@b.c\r\n\r\ncaf\xe9 cr\xe8me\r\n", "café crème"},
		{"8-bit header", "From: Ren\xe9 <r@b.c>\r\nSubject: R\xe9sum\xe9\r\n\r\nx\r\n", "x"},
		{"uppercase encoding", "From: a@b.c\r\nContent-Type: TEXT/PLAIN; CHARSET=ISO-8859-1\r\nContent-Transfer-Encoding: QUOTED-PRINTABLE\r\n\r\n=80 5\r\n", "€ 5"},
		{"LF only", "From: a@b.c\nContent-Type: multipart/alternative; boundary=b\n\n--b\nContent-Type: text/plain\n\nlf text\n--b--\n", "lf text"},
		{"deep nesting", "From: a@b.c\r\nContent-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: multipart/alternative; boundary=c\r\n\r\n--c\r\nContent-Type: text/plain\r\n\r\ndeep\r\n--c--\r\n--b--\r\n--a--\r\n", "deep"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse([]byte(tc.raw), 0)
			if err != nil {
				t.Fatal(err)
			}
			if p.Text != tc.text {
				t.Errorf("text %q, want %q", p.Text, tc.text)
			}
			if tc.name == "8-bit header" && (p.Subject != "Résumé" || p.From.Name != "René") {
				t.Errorf("8-bit header: %q %q", p.Subject, p.From.Name)
			}
		})
	}
}

func TestToInbound(t *testing.T) {
	p := Parsed{
		From:       Address{"Ann Lee", "Ann.Lee@Example.ORG"},
		To:         []Address{{"", "Support@example.com"}},
		Cc:         []Address{{"Bob", "bob@example.org"}},
		Subject:    "Re: x [#12]",
		MessageID:  "<m3@example.org>",
		InReplyTo:  []string{"<m2@example.org>"},
		References: []string{"<m0@example.org>", "<m1@example.org>", "<m2@example.org>"},
		Date:       time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC),
		Text:       "hi", HTML: "<p>hi</p>",
		Auto: true, AutoReason: "list: List-Id",
		SubjectToken: 12,
	}
	in := ToInbound(4, p, []byte("raw"))
	if in.InboxID != 4 || in.Identity.Kind != "email" || in.Identity.ExternalID != "ann.lee@example.org" ||
		in.Identity.Name != "Ann Lee" || in.Identity.Email != "ann.lee@example.org" {
		t.Errorf("identity %+v", in.Identity)
	}
	if in.ExternalID != "<m3@example.org>" || !slices.Equal(in.ThreadRefs, []string{"<m2@example.org>", "<m1@example.org>", "<m0@example.org>"}) {
		t.Errorf("ids %q %q", in.ExternalID, in.ThreadRefs)
	}
	if !in.Auto || in.Metadata[MetaAutoReason] != "list: List-Id" || in.Metadata[MetaTo] != "support@example.com" ||
		in.Metadata[MetaCc] != "bob@example.org" || in.SubjectToken != 12 || string(in.Raw) != "raw" || !in.SentAt.Equal(p.Date) {
		t.Errorf("inbound %+v", in)
	}
}

// List mail that answers a customer's message carries their In-Reply-To and their
// ticket's token, but it is the list's traffic: it opens a conversation of its own,
// marked auto, and brings nothing that could thread it into theirs.
func TestListMailOpensItsOwnConversation(t *testing.T) {
	raw, err := os.ReadFile("testdata/corpus/list-reply.eml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := Parse(raw, 0)
	if err != nil {
		t.Fatal(err)
	}
	in := ToInbound(1, p, raw)
	if !in.NewThread || len(in.ThreadRefs) != 0 || in.SubjectToken != 0 || !in.Auto {
		t.Errorf("list mail: NewThread %v, ThreadRefs %q, SubjectToken %d, Auto %v; want a new thread of its own, marked auto",
			in.NewThread, in.ThreadRefs, in.SubjectToken, in.Auto)
	}
	if in.Metadata[MetaAutoReason] != "list: List-Id" {
		t.Errorf("auto reason %q", in.Metadata[MetaAutoReason])
	}
	// the same reply sent to us directly, without the list's headers, threads
	direct := []byte(strings.NewReplacer("List-Id:", "X-Was-List-Id:", "List-Unsubscribe:", "X-Was-List-Unsubscribe:").Replace(string(raw)))
	p, err = Parse(direct, 0)
	if err != nil {
		t.Fatal(err)
	}
	if in := ToInbound(1, p, direct); in.NewThread || !slices.Equal(in.ThreadRefs, []string{"<orig.1@example.com>"}) || in.SubjectToken != 1042 || in.Auto {
		t.Errorf("a direct reply: %+v", in)
	}
}

func TestDetectBulk(t *testing.T) {
	for _, tc := range []struct {
		name, header string
		auto, bulk   bool
	}{
		{"plain", "From: a@b.c\r\n", false, false},
		{"List-Id", "From: a@b.c\r\nList-Id: <x.lists.example.org>\r\n", true, true},
		{"List-Unsubscribe", "From: a@b.c\r\nList-Unsubscribe: <mailto:u@example.org>\r\n", true, true},
		{"Precedence bulk", "From: a@b.c\r\nPrecedence: bulk\r\n", true, true},
		{"Precedence junk", "From: a@b.c\r\nPrecedence: junk\r\n", true, true},
		{"Precedence list", "From: a@b.c\r\nPrecedence: List\r\n", true, true},
		// an out-of-office answer to the customer's own thread, from an old vacation program
		{"vacation", "From: a@b.c\r\nAuto-Submitted: auto-replied\r\nPrecedence: bulk\r\n", true, false},
		// a list's auto-reply is still the list's
		{"list auto-reply", "From: a@b.c\r\nAuto-Submitted: auto-replied\r\nList-Id: <x.lists.example.org>\r\n", true, true},
		{"bounce", "From: MAILER-DAEMON@b.c\r\n", true, false},
	} {
		p, err := Parse([]byte(tc.header+"Subject: s\r\n\r\nbody\r\n"), 0)
		if err != nil {
			t.Fatal(err)
		}
		if p.Auto != tc.auto || p.Bulk != tc.bulk {
			t.Errorf("%s: Auto %v (%s), Bulk %v; want %v, %v", tc.name, p.Auto, p.AutoReason, p.Bulk, tc.auto, tc.bulk)
		}
	}
}

func TestQuoteSplit(t *testing.T) {
	for _, tc := range []struct {
		name, text, body string
	}{
		{"none", "Just a question.\nThanks", "Just a question.\nThanks"},
		{"gmail", "Yes please.\n\nOn Mon, Mar 11, 2024 at 9:00 AM Ann <ann@example.com> wrote:\n> Shall I?\n", "Yes please.\n\n"},
		{"wrapped gmail", "Ok\n\nOn Mon, Mar 11, 2024 at 9:00 AM Kibo Support <\nsupport@example.com> wrote:\n\n> x\n", "Ok\n\n"},
		{"german", "Danke\n\nAm 11.03.2024 um 09:00 schrieb Ann <ann@example.com>:\n> Frage\n", "Danke\n\n"},
		{"french", "Merci\n\nLe lun. 11 mars 2024 à 09:00, Ann <ann@example.com> a écrit :\n> Question\n", "Merci\n\n"},
		{"original message", "See below.\n\n-----Original Message-----\nFrom: Support\nquestion\n", "See below.\n\n"},
		{"outlook", "Fine now.\n\nFrom: Kibo Support <support@example.com>\nSent: Friday, March 15, 2024 4:02 PM\nTo: Karl\nSubject: Re: x\n\nold text\n", "Fine now.\n\n"},
		{"outlook german", "Geht.\n\nVon: Kibo Support <support@example.com>\nGesendet: Freitag, 15. März 2024 16:02\nAn: Karl\n\nalt\n", "Geht.\n\n"},
		{"trailing quote only", "Agreed.\n\n> earlier\n> text\n\n", "Agreed.\n\n"},
		{"inline reply kept", "On Mon, Mar 11, 2024 at 9:00 AM Ann <ann@example.com> wrote:\n> q1\nanswer 1\n> q2\nanswer 2\n", "On Mon, Mar 11, 2024 at 9:00 AM Ann <ann@example.com> wrote:\n> q1\nanswer 1\n> q2\nanswer 2\n"},
		{"inline then trailing", "Hi\n> q1\nanswer 1\n> q2\n> q3\n", "Hi\n> q1\nanswer 1\n"},
		{"only a quote", "> everything is quoted\n", "> everything is quoted\n"},
		{"not an attribution", "On the other hand, as I wrote:\nthe printer is fine.\n", "On the other hand, as I wrote:\nthe printer is fine.\n"},
		{"forwarded", "FYI\n\n---------- Forwarded message ---------\nFrom: Bob <bob@example.org>\nDate: Wed, 20 Mar 2024 at 17:00\n\nbody\n", "FYI\n\n---------- Forwarded message ---------\nFrom: Bob <bob@example.org>\nDate: Wed, 20 Mar 2024 at 17:00\n\nbody\n"},
		{"crlf", "Yes.\r\n\r\nOn Mon, Mar 11, 2024, Ann <a@b.c> wrote:\r\n> q\r\n", "Yes.\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, quoted := QuoteSplit(tc.text)
			if body+quoted != tc.text {
				t.Fatalf("body+quoted != text: %q + %q", body, quoted)
			}
			if body != tc.body {
				t.Errorf("body %q, want %q (quoted %q)", body, tc.body, quoted)
			}
		})
	}
}

func TestSubjectHelpers(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int64
		want string
	}{
		{"Printer broken", 1042, "Re: Printer broken [#1042]"},
		{"Re: Printer broken [#1042]", 1042, "Re: Printer broken [#1042]"},
		{"RE: Re: AW: Printer broken [#1042]", 0, "Re: Printer broken [#1042]"},
		{"Re[2]: Printer [#7] broken [#7]", 7, "Re: Printer broken [#7]"},
		{"Fwd: Invoice", 5, "Re: Fwd: Invoice [#5]"},
		{"", 3, "Re: [#3]"},
		{"Hello [#12]", 0, "Re: Hello [#12]"},
		{"Hello", 0, "Re: Hello"},
	} {
		if got := ReplySubject(tc.in, tc.n); got != tc.want {
			t.Errorf("ReplySubject(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
	for s, want := range map[string]bool{
		"Fwd: x": true, "FW: x": true, "fw:x": true, "WG: x": true, "TR: x": true, "RV: x": true, "Fwd[2]: x": true,
		"Re: Fwd: x": false, "Forward planning": false, "TRansfer": false, "x Fwd: y": false,
	} {
		if IsForwarded(s) != want {
			t.Errorf("IsForwarded(%q) = %v", s, !want)
		}
	}
	for s, want := range map[string]int64{
		"Re: x [#1042]": 1042, "[#1] and [#2]": 2, "#1042": 0, "[# 12]": 0, "[#99999999999999999999]": 0,
	} {
		if got := SubjectToken(s); got != want {
			t.Errorf("SubjectToken(%q) = %d, want %d", s, got, want)
		}
	}
}

func TestSanitizeHTML(t *testing.T) {
	in := `<p onclick="x()">Hi <a href="javascript:alert(1)">a</a> <a href="vbscript:x">b</a>
<a href="https://ok.example/">ok</a> <a href="mailto:a@b.c">mail</a>
<img src="cid:abc@d"> <img src="https://img.example/p.png"> <img src="/local.png"> <img src="data:image/png;base64,iVBORw0KGgo=">
<div style="position:absolute;top:0;color:#f00;margin:-500px;margin-left:10px;background-image:url(https://x/y)">s</div>
<table bgcolor="#eeeeee" border="0"><tr><td align="center">cell</td></tr></table>
<font color="red" face="Arial">old</font><style>*{display:none}</style><script>x</script><noscript>n</noscript>
<p id="csrf_token" class="inbox-header">clobber</p></p>`
	out := SanitizeHTML(in)
	checkSafeHTML(t, out)
	for _, want := range []string{
		`<a href="https://ok.example/" rel="nofollow noreferrer noopener" target="_blank">ok</a>`,
		`<a href="mailto:a@b.c" rel="nofollow noreferrer">mail</a>`,
		`<img src="cid:abc@d">`, `<img src="https://img.example/p.png">`, `src="data:image/png;base64,`,
		`style="color: #f00; margin-left: 10px"`,
		`<table bgcolor="#eeeeee" border="0">`, `<td align="center">`, `<font color="red" face="Arial">old</font>`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("sanitised HTML lacks %q:\n%s", want, out)
		}
	}
	for _, bad := range []string{"vbscript", "/local.png", "margin: -500px", ">x<", ">n<"} {
		if strings.Contains(out, bad) {
			t.Errorf("sanitised HTML keeps %q:\n%s", bad, out)
		}
	}
}

func TestHTMLAndTextConversions(t *testing.T) {
	text := HTMLToText(`<html><head><title>T</title><style>p{}</style></head><body><h1>Title</h1><p>One <b>two</b>
	three</p><ul><li>a</li><li>b</li></ul><div>x</div><div>y</div>line<br>break <a href="https://e.example/p">link</a> <a href="https://e.example/q">https://e.example/q</a><table><tr><td>c1</td><td>c2</td></tr></table></body></html>`)
	want := "Title\n\nOne two three\n\n- a\n- b\n\nx\ny\nline\nbreak link (https://e.example/p) https://e.example/q\n\nc1 c2"
	if text != want {
		t.Errorf("HTMLToText:\n%q\nwant\n%q", text, want)
	}
	h := TextToHTML("Hi <Ann> & co,\n\nsee https://example.com/a?b=1&c=2.\nBye")
	for _, s := range []string{"<p>Hi &lt;Ann&gt; &amp; co,</p>", `<a href="https://example.com/a?b=1&amp;c=2">https://example.com/a?b=1&amp;c=2</a>.<br>`, "Bye</p>"} {
		if !strings.Contains(h, s) {
			t.Errorf("TextToHTML lacks %q:\n%s", s, h)
		}
	}
}

func TestDecoders(t *testing.T) {
	for in, want := range map[string]string{
		"aGVsbG8=":         "hello",
		"aGVsbG8":          "hello",
		"aGVs\r\nbG8=\r\n": "hello",
		"aGVs!!bG8*=":      "hello",
		"aGVsbG8=IQ==":     "hello!",
		"a":                "",
		"":                 "",
	} {
		if got := string(decodeBase64([]byte(in))); got != want {
			t.Errorf("decodeBase64(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"a=3Db":            "a=b",
		"soft=\r\nbreak":   "softbreak",
		"trail   \r\nnext": "trail\nnext",
		"end=":             "end",
		"bad=G1":           "bad=G1",
		"=":                "",
		"x=4":              "x=4",
	} {
		if got := string(decodeQP([]byte(in))); got != want {
			t.Errorf("decodeQP(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzParse: no input makes the parser panic, and whatever it returns is clean UTF-8
// and safe HTML. It calls parse directly, because Parse turns panics into errors.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/corpus/*.eml")
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Add([]byte("From: a@b.c\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n--x--"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		p, err := parse(raw, 1<<20)
		if err != nil {
			return
		}
		for _, s := range []string{p.Text, p.HTML, p.Subject} {
			if !utf8.ValidString(s) {
				t.Fatalf("invalid UTF-8: %q", s)
			}
		}
		if bad := htmlViolations(p.HTML); len(bad) > 0 {
			t.Fatalf("unsafe HTML %q: %q", bad, p.HTML)
		}
		body, quoted := QuoteSplit(p.Text)
		if body+quoted != p.Text {
			t.Fatal("QuoteSplit lost text")
		}
		_ = ToInbound(1, p, raw)
	})
}

func TestParseContainsPanics(t *testing.T) {
	raw := []byte("From: a@b.c\r\nX-Test-Parser-Panic: yes\r\n\r\nboom\r\n")
	p, err := Parse(raw, 0)
	if err == nil || !strings.Contains(err.Error(), "parser panic") || p.Text != "" {
		t.Fatalf("Parse after a panic: %+v, %v", p, err)
	}
}

func TestParseBrokenContentTypeParameters(t *testing.T) {
	raw := "From: a@b.c\r\nContent-Type: multipart/alternative; boundary=\"zz\"; boundary=\"zz\"; charset=utf-8\r\n\r\n" +
		"--zz\r\nContent-Type: text/plain; charset=iso-8859-1; charset=utf-8\r\n\r\nna\xefve\r\n--zz--\r\n"
	p, err := Parse([]byte(raw), 0)
	if err != nil || p.Text != "naïve" {
		t.Fatalf("text %q, %v", p.Text, err)
	}
}
