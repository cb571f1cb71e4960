package ui

import (
	"bytes"
	"compress/gzip"
	"io"
	"regexp"
	"strings"
	"testing"
)

type testAgent struct {
	ID    int64  `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
	Role  string `json:"role"`
}

func TestAssetPathHashesContent(t *testing.T) {
	for _, name := range []string{"app.js", "app.css", "inbox.js", "settings.js", "contact.js", "favicon.svg"} {
		p := AssetPath(name)
		base := strings.TrimSuffix(name, name[strings.LastIndex(name, "."):])
		if !regexp.MustCompile(`^/static/` + regexp.QuoteMeta(base) + `\.[0-9a-f]{8}\.`).MatchString(p) {
			t.Errorf("AssetPath(%q) = %q, want a hashed name", name, p)
		}
		hashed := strings.TrimPrefix(p, "/static/")
		f1, ok1 := Asset(hashed)
		f2, ok2 := Asset(name)
		if !ok1 || !ok2 || !bytes.Equal(f1.Body, f2.Body) || f1.ContentType != f2.ContentType || len(f1.Body) == 0 || f1.ETag != f2.ETag {
			t.Errorf("Asset(%q) and Asset(%q) differ or are missing", hashed, name)
		}
	}
	if f, _ := Asset("app.js"); !strings.HasPrefix(f.ContentType, "text/javascript") {
		t.Errorf("app.js content type %q", f.ContentType)
	}
	if _, ok := Asset("../ui.go"); ok {
		t.Error("Asset served a file outside static/")
	}
	if _, ok := Asset("app.00000000.js"); ok {
		t.Error("Asset served a wrong hash")
	}
	if p := AssetPath("nope.js"); p != "/static/nope.js" {
		t.Errorf("unknown asset path %q", p)
	}
}

func TestPagesRender(t *testing.T) {
	tmpl, err := Templates()
	if err != nil {
		t.Fatal(err)
	}
	agent := testAgent{ID: 7, Name: `</script><script>alert(1)</script>`, Email: "sam@example.com", Role: "admin"}
	pages := []struct {
		name string
		page Page
		want []string
	}{
		{"login.html", Page{Title: "Sign in", Data: map[string]any{"Error": "Wrong e-mail address or password.", "Email": `a"b@example.com`, "Next": "/inbox"}},
			[]string{`action="/login"`, `name="email"`, `name="password"`, "Wrong e-mail address", `value="a&#34;b@example.com"`, `id="kibo-boot">{"me": null ,`}},
		{"inbox.html", Page{Title: "Inbox", Agent: agent, CSRF: "tok123"}, []string{`content="tok123"`, AssetPath("inbox.js"), AssetPath("app.css"), `id="list"`, `id="conv"`}},
		{"settings.html", Page{Title: "Settings", Agent: agent, CSRF: "tok"}, []string{AssetPath("settings.js"), `data-tab="tokens"`}},
		{"contact.html", Page{Title: "Contact", Agent: agent, CSRF: "tok", Data: map[string]any{"ContactID": int64(42)}}, []string{`data-contact-id="42"`, AssetPath("contact.js")}},
		{"datarequests.html", Page{Title: "Data requests", Agent: agent, CSRF: "tok"}, []string{AssetPath("datarequests.js"), `id="count-active"`}},
		{"incidents.html", Page{Title: "Incidents", Agent: agent, CSRF: "tok"}, []string{AssetPath("incidents.js"), `id="incident-list"`}},
	}
	for _, p := range pages {
		var buf bytes.Buffer
		if err := tmpl.ExecuteTemplate(&buf, p.name, p.page); err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
		out := buf.String()
		for _, w := range p.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: missing %q", p.name, w)
			}
		}
		if strings.Contains(out, "<script>alert(1)") {
			t.Errorf("%s: agent name not escaped", p.name)
		}
		// the pages' policy allows no inline script: every one is a file or data
		for _, tag := range regexp.MustCompile(`<script\b[^>]*>`).FindAllString(out, -1) {
			if !strings.Contains(tag, " src=") && !strings.Contains(tag, `type="application/json"`) {
				t.Errorf("%s: inline script %s", p.name, tag)
			}
		}
	}
}

// Every agent page has the same sidebar: the links between the pages (the public
// status page in a new tab), the one for the page itself marked, and the bell.
func TestSidebarIsShared(t *testing.T) {
	tmpl, err := Templates()
	if err != nil {
		t.Fatal(err)
	}
	agent := testAgent{ID: 7, Name: "Sam", Email: "sam@example.com", Role: "agent"}
	pages := map[string]string{"inbox.html": "Inbox", "settings.html": "Settings", "contact.html": "Contact", "datarequests.html": "Data requests", "incidents.html": "Incidents"}
	for name, title := range pages {
		var buf bytes.Buffer
		if err := tmpl.ExecuteTemplate(&buf, name, Page{Title: title, Agent: agent, CSRF: "tok", Data: map[string]any{"ContactID": int64(1)}}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out := buf.String()
		for _, w := range []string{`id="app-nav"`, `href="/data-requests"`, `id="app-count-dr"`, `id="app-overdue-dr"`, `href="/incidents"`, `href="/reports"`,
			`href="/status" target="_blank" rel="noopener"`, `id="notif-button"`, `id="notif-count"`, `id="me-button"`, `id="logout-form"`} {
			if !strings.Contains(out, w) {
				t.Errorf("%s: missing %q", name, w)
			}
		}
		if strings.Count(out, `<aside class="sidebar">`) != 1 || strings.Count(out, `</aside>`) != 1 {
			t.Errorf("%s: the sidebar is not opened and closed once", name)
		}
		if title != "Contact" && !strings.Contains(out, `aria-current="page"`) {
			t.Errorf("%s: no link marked as the current page", name)
		}
	}
	var buf bytes.Buffer
	if err := tmpl.ExecuteTemplate(&buf, "settings.html", Page{Title: "Settings", Agent: agent}); err != nil {
		t.Fatal(err)
	}
	for _, tab := range []string{"sla", "alerts", "company"} {
		if !strings.Contains(buf.String(), `data-tab="`+tab+`"`) {
			t.Errorf("settings: no %s tab", tab)
		}
	}
}

// Every file is compressed once, and the copy is the same file: the widget must stay
// within 12 KiB on the wire (it is what a visitor downloads on every site).
func TestAssetsAreCompressedOnce(t *testing.T) {
	for _, name := range []string{"widget.js", "app.js", "inbox.js", "app.css"} {
		f, ok := Asset(name)
		if !ok || f.Gzip == nil {
			t.Fatalf("%s has no compressed copy", name)
		}
		zr, err := gzip.NewReader(bytes.NewReader(f.Gzip))
		if err != nil {
			t.Fatal(err)
		}
		plain, err := io.ReadAll(zr)
		if err != nil || !bytes.Equal(plain, f.Body) {
			t.Fatalf("%s: the gzip copy is not the file (%v)", name, err)
		}
		if f.ETag == "" || f.GzipETag == "" || f.ETag == f.GzipETag {
			t.Errorf("%s: ETags %q and %q", name, f.ETag, f.GzipETag)
		}
	}
	if w := WidgetJS(); len(w.Gzip) > 12*1024 {
		t.Errorf("widget.js is %d bytes gzipped, more than 12 KiB", len(w.Gzip))
	}
	if again, _ := Asset("widget.js"); &again.Gzip[0] != &WidgetJS().Gzip[0] {
		t.Error("the widget is compressed again for each caller")
	}
}

// linkRule is the block between "// linkify:begin" and "// linkify:end" of a script.
func linkRule(t *testing.T, name string) string {
	t.Helper()
	f, ok := Asset(name)
	if !ok {
		t.Fatalf("no %s", name)
	}
	s := string(f.Body)
	i, j := strings.Index(s, "// linkify:begin"), strings.Index(s, "// linkify:end")
	if i < 0 || j < i {
		t.Fatalf("%s has no linkify:begin ... linkify:end block", name)
	}
	return s[i:j]
}

// The widget and the inbox can't share code (the widget stands alone on other sites),
// so they carry the same rule for links, letter for letter: a link a visitor sees is
// the link the agent sees. server/browser_linkify_test.go runs the rule's cases.
func TestWidgetAndInboxLinkTheSameWay(t *testing.T) {
	if w, in := linkRule(t, "widget.js"), linkRule(t, "inbox.js"); w != in {
		t.Errorf("the link rules differ:\nwidget.js:\n%s\ninbox.js:\n%s", w, in)
	}
}
