package server

import (
	"encoding/json"
	"strings"
	"testing"

	"kibo/ui"
)

// The rule for links in message text, run in Chromium from each script that carries
// it: the widget's copy and the inbox's (ui_test.go checks they are the same letter
// for letter). A piece that is a link is written [url→href].
func TestBrowserLinkRule(t *testing.T) {
	cases := []struct{ text, want string }{
		{"see https://example.com.", "see [https://example.com→https://example.com/]."},
		{"(docs at https://example.com/a)", "(docs at [https://example.com/a→https://example.com/a])"},
		{"https://en.wikipedia.org/wiki/Go_(programming_language)", "[https://en.wikipedia.org/wiki/Go_(programming_language)→https://en.wikipedia.org/wiki/Go_(programming_language)]"},
		{"HTTPS://EXAMPLE.COM/X?q=1!", "[HTTPS://EXAMPLE.COM/X?q=1→https://example.com/X?q=1]!"},
		{"two: https://a.example/1, https://b.example/2;", "two: [https://a.example/1→https://a.example/1], [https://b.example/2→https://b.example/2];"},
		{"<https://example.com/x> 'https://example.com/q' `https://example.com/c`", "<[https://example.com/x→https://example.com/x]> '[https://example.com/q→https://example.com/q]' `[https://example.com/c→https://example.com/c]`"},
		{"https://example.com/a_b-c~d#frag.", "[https://example.com/a_b-c~d#frag→https://example.com/a_b-c~d#frag]."},
		{"javascript:alert(1) data:text/html,x mailto:ann@example.com", "javascript:alert(1) data:text/html,x mailto:ann@example.com"},
		{"xhttps://example.com and http://", "xhttps://example.com and http://"},
		{"https://exa mple.com", "[https://exa→https://exa/] mple.com"},
	}
	texts := make([]string, len(cases))
	for i, c := range cases {
		texts[i] = c.text
	}
	in, _ := json.Marshal(texts)
	br := newBrowser(t)
	page := br.tab("rule")
	page.navigate("about:blank")
	for _, script := range []string{"widget.js", "inbox.js"} {
		f, _ := ui.Asset(script)
		src := string(f.Body)
		i, j := strings.Index(src, "// linkify:begin"), strings.Index(src, "// linkify:end")
		if i < 0 || j < i {
			t.Fatalf("%s has no link rule", script)
		}
		got := evalJS[[]string](page, `(function () {
`+src[i:j]+`
			return `+string(in)+`.map(function (t) {
				return linkParts(t).map(function (p) { return typeof p === 'string' ? p : '[' + p.url + '→' + p.href + ']'; }).join('');
			});
		})()`)
		for k, c := range cases {
			if k >= len(got) || got[k] != c.want {
				g := ""
				if k < len(got) {
					g = got[k]
				}
				t.Errorf("%s: %q gave %q, want %q", script, c.text, g, c.want)
			}
		}
	}
}
