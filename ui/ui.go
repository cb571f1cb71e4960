// Package ui holds the agent web app and the chat widget, embedded in the binary: the
// server-rendered page shells (html/template), the stylesheet and the plain JavaScript
// that drives them. There is no build step; what is in static/ is what browsers get.
//
// Asset URLs carry a hash of the file's content (/static/app.3f9a1c2b.js), so the server
// can let browsers cache them forever and a new binary can never be served a stale file.
// The package knows nothing of HTTP frameworks: the server asks it for templates and
// bytes.
package ui

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"mime"
	"path"
	"strings"
	"sync"
)

//go:embed templates static
var files embed.FS

// Page is what the server hands every agent page template.
//
// Agent is the signed-in agent as {id, name, email, role} (nil on the login page);
// CSRF is the session's token for the X-CSRF-Token header. Data depends on the page:
//
//	login.html     {Error, Email, Next string}
//	inbox.html     nil
//	settings.html  nil
//	contact.html   {ContactID int64}
type Page struct {
	Title string
	Agent any
	CSRF  string
	Data  any
	// Seq is the real-time event seq when the page was rendered: the page's first
	// socket asks for everything since, so nothing between render and connect is lost.
	Seq int64
}

// asset is one static file and the hashed name it is served under.
type asset struct {
	body   []byte
	ctype  string
	hashed string // "app.3f9a1c2b.js"
}

// assetTable maps both the plain and the hashed name of every static file to it.
type assetTable struct {
	byName map[string]*asset
}

// assets hashes every static file once, the first time anything asks.
var assets = sync.OnceValue(func() *assetTable {
	t := &assetTable{byName: map[string]*asset{}}
	_ = fs.WalkDir(files, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(p, "static/")
		sum := sha256.Sum256(body)
		ext := path.Ext(name)
		a := &asset{body: body, ctype: contentType(ext), hashed: strings.TrimSuffix(name, ext) + "." + hex.EncodeToString(sum[:4]) + ext}
		t.byName[name] = a
		t.byName[a.hashed] = a
		return nil
	})
	return t
})

func contentType(ext string) string {
	switch ext {
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	case ".json":
		return "application/json"
	}
	if t := mime.TypeByExtension(ext); t != "" {
		return t
	}
	return "application/octet-stream"
}

// AssetPath is the URL of a static file by its plain name ("app.js"), with the hash of
// its content in the name: "/static/app.3f9a1c2b.js". An unknown name gets its plain
// URL, which will answer 404.
func AssetPath(name string) string {
	if a, ok := assets().byName[name]; ok {
		return "/static/" + a.hashed
	}
	return "/static/" + name
}

// Asset is the body and Content-Type of a static file, asked for by its hashed name (as
// AssetPath gives it) or its plain name.
func Asset(name string) (body []byte, contentType string, ok bool) {
	a, ok := assets().byName[name]
	if !ok {
		return nil, "", false
	}
	return a.body, a.ctype, true
}

// WidgetJS is the chat widget, served at the fixed URL /widget.js that embed snippets
// carry. It is empty if the file is missing.
func WidgetJS() []byte {
	b, _ := files.ReadFile("static/widget.js")
	return b
}

// Templates parses every page template. Pages are executed by file name
// ("inbox.html") with a Page; layout.html holds the shared "top" and "bottom".
func Templates() (*template.Template, error) {
	return template.New("").Funcs(template.FuncMap{
		"asset": AssetPath,
	}).ParseFS(files, "templates/*.html")
}
