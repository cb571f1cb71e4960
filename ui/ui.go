// Package ui holds the agent web app and the chat widget, embedded in the binary: the
// server-rendered page shells (html/template), the stylesheet and the plain JavaScript
// that drives them. There is no build step; what is in static/ is what browsers get.
//
// Asset URLs carry a hash of the file's content (/static/app.3f9a1c2b.js), so the server
// can let browsers cache them forever and a new binary can never be served a stale file.
// Every file is also compressed with gzip once, the first time anything asks, so the
// server sends the smaller copy to browsers that take it without compressing per
// request. The package knows nothing of HTTP frameworks: the server asks it for
// templates and bytes.
package ui

import (
	"bytes"
	"compress/gzip"
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

// File is a static file as the server sends it: its bytes; the same compressed with
// gzip (nil where that saves too little to matter); its Content-Type; and an ETag made
// from its content (the gzip copy is another representation: its ETag ends in "-gz").
type File struct {
	Body        []byte
	Gzip        []byte
	ContentType string
	ETag        string
	GzipETag    string
}

// asset is one static file and the hashed name it is served under.
type asset struct {
	File
	hashed string // "app.3f9a1c2b.js"
}

// assetTable maps both the plain and the hashed name of every static file to it.
type assetTable struct {
	byName map[string]*asset
}

// compress is body gzipped at the best level, or nil when that saves less than a tenth
// (or 100 bytes): such a file is sent as it is.
func compress(body []byte) []byte {
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	zw.Write(body)
	zw.Close()
	if saved := len(body) - b.Len(); saved < 100 || saved < len(body)/10 {
		return nil
	}
	return b.Bytes()
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
		tag := hex.EncodeToString(sum[:12])
		a := &asset{File: File{Body: body, Gzip: compress(body), ContentType: contentType(ext), ETag: `"` + tag + `"`, GzipETag: `"` + tag + `-gz"`},
			hashed: strings.TrimSuffix(name, ext) + "." + hex.EncodeToString(sum[:4]) + ext}
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

// Asset is a static file, asked for by its hashed name (as AssetPath gives it) or its
// plain name.
func Asset(name string) (*File, bool) {
	a, ok := assets().byName[name]
	if !ok {
		return nil, false
	}
	return &a.File, true
}

// WidgetJS is the chat widget, served at the fixed URL /widget.js that embed snippets
// carry.
func WidgetJS() *File {
	f, _ := Asset("widget.js")
	return f
}

// Templates parses every page template. Pages are executed by file name
// ("inbox.html") with a Page; layout.html holds the shared "top" and "bottom".
func Templates() (*template.Template, error) {
	return template.New("").Funcs(template.FuncMap{
		"asset": AssetPath,
	}).ParseFS(files, "templates/*.html")
}
