package email

import (
	"html"
	"net/url"
	"regexp"
	"strings"

	"github.com/microcosm-cc/bluemonday"
	xhtml "golang.org/x/net/html"
)

// policy is the sanitiser for inbound HTML. It starts from what bluemonday's UGCPolicy
// allows for text, links, lists, tables and images, and differs where mail shown inside
// the agents' inbox needs it:
//   - no relative URLs: an <img src="/api/..."> would make the agent's browser call
//     Kibo itself with the agent's cookies;
//   - "cid:" image sources, which the server rewrites to stored inline attachments;
//   - no id or class attributes (they could clobber the inbox's own DOM and styles);
//   - a small CSS subset (colours, fonts, alignment, padding, borders), never position,
//     z-index, display, margins or backgrounds with URLs, so mail cannot lay itself
//     over the inbox's UI;
//   - the presentational attributes old mail uses (bgcolor, align, <font>);
//   - no <style>, <script>, <form>, <iframe>, <object>, event handlers or javascript:
//     URLs (none of them is allowed, and the content of script, style and iframe is
//     dropped with the tag).
//
// A bluemonday.Policy is safe for concurrent use once built.
var policy = newPolicy()

func newPolicy() *bluemonday.Policy {
	p := bluemonday.NewPolicy()
	p.AllowAttrs("title").Matching(bluemonday.Paragraph).Globally()
	p.AllowAttrs("dir").Matching(bluemonday.Direction).Globally()
	p.AllowAttrs("lang").Matching(regexp.MustCompile(`^[a-zA-Z]{2,20}(-[a-zA-Z0-9]{1,20})*$`)).Globally()

	p.RequireParseableURLs(true)
	p.AllowRelativeURLs(false)
	p.AllowURLSchemes("mailto", "http", "https", "tel")
	p.AllowURLSchemeWithCustomPolicy("cid", func(*url.URL) bool { return true })
	p.RequireNoFollowOnLinks(true)
	p.RequireNoReferrerOnLinks(true)
	p.AddTargetBlankToFullyQualifiedLinks(true)

	p.AllowElements("article", "aside", "figure", "figcaption", "section", "summary",
		"details", "h1", "h2", "h3", "h4", "h5", "h6", "hgroup", "br", "div", "hr", "p",
		"span", "wbr", "abbr", "acronym", "cite", "code", "dfn", "em", "mark", "s", "samp",
		"strong", "sub", "sup", "var", "b", "i", "pre", "small", "strike", "tt", "u",
		"center", "address", "blockquote", "q", "del", "ins", "big", "font")
	p.AllowAttrs("href").OnElements("a")
	p.AllowAttrs("color").Matching(regexp.MustCompile(`^#?[a-zA-Z0-9]{1,20}$`)).OnElements("font")
	p.AllowAttrs("face").Matching(regexp.MustCompile(`^[a-zA-Z0-9 ,'"-]{1,100}$`)).OnElements("font")
	p.AllowAttrs("size").Matching(regexp.MustCompile(`^[+-]?[1-7]$`)).OnElements("font")
	p.AllowAttrs("align").Matching(regexp.MustCompile(`(?i)^(left|right|center|justify)$`)).
		OnElements("p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "table", "td", "th", "tr")
	p.AllowAttrs("bgcolor").Matching(regexp.MustCompile(`^#?[a-zA-Z0-9]{1,20}$`)).
		OnElements("table", "td", "th", "tr")
	p.AllowAttrs("border", "cellpadding", "cellspacing").Matching(bluemonday.Integer).OnElements("table")
	p.AllowLists()
	p.AllowTables()
	p.AllowImages()
	p.AllowDataURIImages()
	// AllowImages turns relative URLs back on: off again, last.
	p.AllowRelativeURLs(false)

	p.AllowStyles("color", "background-color", "font-family", "font-size", "font-style",
		"font-weight", "text-align", "text-decoration", "vertical-align", "line-height",
		"padding", "padding-left", "padding-right", "padding-top", "padding-bottom",
		"border", "border-left", "border-right", "border-top", "border-bottom",
		"border-collapse", "white-space").Globally()
	// Margins only without a minus sign: a negative margin pulls content out of the
	// message's box over the inbox around it.
	p.AllowStyles("margin", "margin-left", "margin-right", "margin-top", "margin-bottom").
		Matching(regexp.MustCompile(`^(auto|0|[0-9]{1,4}(\.[0-9]{1,3})?(px|em|ex|rem|pt|%)?)(\s+(auto|0|[0-9]{1,4}(\.[0-9]{1,3})?(px|em|ex|rem|pt|%)?)){0,3}$`)).Globally()
	return p
}

// SanitizeHTML makes inbound HTML safe to show in the agents' inbox (see policy).
func SanitizeHTML(s string) string {
	return policy.Sanitize(s)
}

// HTMLToText renders HTML as readable plain text: block elements become line breaks,
// list items get dashes, links keep their address, script and style disappear.
func HTMLToText(s string) string {
	z := xhtml.NewTokenizer(strings.NewReader(s))
	var t textBuilder
	skip := 0
	type link struct {
		href  string
		start int
	}
	var links []link
	for {
		tt := z.Next()
		switch tt {
		case xhtml.ErrorToken:
			return tidyText(t.b.String())
		case xhtml.TextToken:
			if skip == 0 {
				t.text(string(z.Text()))
			}
		case xhtml.StartTagToken, xhtml.SelfClosingTagToken, xhtml.EndTagToken:
			name, hasAttr := z.TagName()
			tag := string(name)
			end := tt == xhtml.EndTagToken
			switch tag {
			case "script", "style", "head", "title", "noscript", "template", "iframe", "object", "svg":
				if tt == xhtml.StartTagToken {
					skip++
				} else if end && skip > 0 {
					skip--
				}
			case "br":
				t.newline(1)
			case "p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "ul", "ol", "table", "hr":
				t.newline(2)
			case "div", "tr", "section", "article", "header", "footer", "dt", "dd", "center":
				t.newline(1)
			case "li":
				if !end {
					t.newline(1)
					t.b.WriteString("- ")
				}
			case "td", "th":
				t.b.WriteByte(' ')
			case "a":
				if !end {
					href := ""
					for hasAttr {
						var k, v []byte
						k, v, hasAttr = z.TagAttr()
						if string(k) == "href" {
							href = string(v)
						}
					}
					links = append(links, link{href, t.b.Len()})
				} else if len(links) > 0 {
					l := links[len(links)-1]
					links = links[:len(links)-1]
					web := strings.HasPrefix(l.href, "http://") || strings.HasPrefix(l.href, "https://")
					if web && l.start <= t.b.Len() && !strings.Contains(t.b.String()[l.start:], l.href) {
						t.b.WriteString(" (" + l.href + ")")
					}
				}
			case "img":
				for hasAttr {
					var k, v []byte
					k, v, hasAttr = z.TagAttr()
					if string(k) == "alt" && len(v) > 0 {
						t.text("[" + string(v) + "]")
					}
				}
			}
		}
	}
}

// textBuilder collects text with collapsed whitespace and counted line breaks.
type textBuilder struct {
	b        strings.Builder
	newlines int // line breaks at the end of b
}

func (t *textBuilder) text(s string) {
	collapsed := strings.Join(strings.Fields(s), " ")
	if collapsed == "" {
		if t.newlines == 0 && t.b.Len() > 0 {
			t.b.WriteByte(' ')
		}
		return
	}
	if startsWithSpace(s) && t.newlines == 0 && t.b.Len() > 0 {
		t.b.WriteByte(' ')
	}
	t.b.WriteString(collapsed)
	if endsWithSpace(s) {
		t.b.WriteByte(' ')
	}
	t.newlines = 0
}

func (t *textBuilder) newline(n int) {
	if t.b.Len() == 0 {
		return
	}
	for ; t.newlines < n; t.newlines++ {
		t.b.WriteByte('\n')
	}
}

func endsWithSpace(s string) bool   { return s != "" && isSpaceByte(s[len(s)-1]) }
func startsWithSpace(s string) bool { return s != "" && isSpaceByte(s[0]) }

func isSpaceByte(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' }

// tidyText trims each line and keeps at most one blank line in a row.
func tidyText(s string) string {
	lines := strings.Split(s, "\n")
	out := make([]string, 0, len(lines))
	blank := 0
	for _, l := range lines {
		l = strings.Join(strings.Fields(strings.ReplaceAll(l, "\u00a0", " ")), " ")
		if l == "" {
			blank++
			if blank > 1 {
				continue
			}
		} else {
			blank = 0
		}
		out = append(out, l)
	}
	return strings.TrimSpace(strings.Join(out, "\n"))
}

// TextToHTML renders an agent's plain-text reply as HTML: escaped, paragraphs at blank
// lines, line breaks kept, and web addresses made into links.
func TextToHTML(text string) string {
	text = strings.ReplaceAll(text, "\r\n", "\n")
	var b strings.Builder
	b.WriteString("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head><body>\n")
	for _, para := range paragraphRe.Split(strings.TrimSpace(text), -1) {
		if para == "" {
			continue
		}
		lines := strings.Split(para, "\n")
		for i, l := range lines {
			lines[i] = linkify(html.EscapeString(l))
		}
		b.WriteString("<p>" + strings.Join(lines, "<br>\n") + "</p>\n")
	}
	b.WriteString("</body></html>\n")
	return b.String()
}

var paragraphRe = regexp.MustCompile(`\n\s*\n`)

var urlRe = regexp.MustCompile(`https?://[^\s<>"']+[^\s<>"'.,;:!?)]`)

// linkify links web addresses in already escaped text.
func linkify(escaped string) string {
	return urlRe.ReplaceAllStringFunc(escaped, func(u string) string {
		return `<a href="` + u + `">` + u + `</a>`
	})
}
