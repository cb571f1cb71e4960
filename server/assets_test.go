package server

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"strings"
	"testing"

	"kibo/ui"
)

// The widget and the agent assets go out gzip-compressed (compressed once at start) to
// a browser that takes it, with an ETag from their content; a browser holding this
// version gets 304. /widget.js was 32 KB on the wire even to Accept-Encoding: gzip.
func TestAssetsAreServedCompressedAndCacheable(t *testing.T) {
	k := startKibo(t)
	// a transport that leaves the body compressed, as a byte count on the wire needs
	cl := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	get := func(path string, header ...string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest("GET", k.base+path, nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	for _, path := range []string{"/widget.js", ui.AssetPath("inbox.js"), ui.AssetPath("app.css")} {
		plainResp, plain := get(path)
		if plainResp.StatusCode != 200 || plainResp.Header.Get("Content-Encoding") != "" || len(plain) == 0 {
			t.Fatalf("%s without Accept-Encoding: %d %q", path, plainResp.StatusCode, plainResp.Header.Get("Content-Encoding"))
		}
		resp, wire := get(path, "Accept-Encoding", "gzip, deflate, br")
		if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "gzip" || !strings.Contains(resp.Header.Get("Vary"), "Accept-Encoding") {
			t.Fatalf("%s with Accept-Encoding gzip: %d, Content-Encoding %q, Vary %q", path, resp.StatusCode, resp.Header.Get("Content-Encoding"), resp.Header.Get("Vary"))
		}
		zr, err := gzip.NewReader(bytes.NewReader(wire))
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := io.ReadAll(zr); !bytes.Equal(got, plain) {
			t.Fatalf("%s: the gzip body is not the file", path)
		}
		if path == "/widget.js" && len(wire) > 12*1024 {
			t.Errorf("/widget.js is %d bytes on the wire, more than 12 KiB", len(wire))
		}
		etag := resp.Header.Get("ETag")
		if etag == "" || resp.Header.Get("Cache-Control") == "" {
			t.Errorf("%s: ETag %q, Cache-Control %q", path, etag, resp.Header.Get("Cache-Control"))
		}
		if again, body := get(path, "Accept-Encoding", "gzip", "If-None-Match", etag); again.StatusCode != 304 || len(body) != 0 {
			t.Errorf("%s with its ETag: %d and %d bytes, want 304 and none", path, again.StatusCode, len(body))
		}
		if refused, _ := get(path, "Accept-Encoding", "gzip;q=0, identity"); refused.Header.Get("Content-Encoding") != "" {
			t.Errorf("%s: gzip sent to a client that refused it", path)
		}
	}
}
