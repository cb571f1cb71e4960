package server

import (
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"path"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"kibo/connectors"
)

// Files an agent attaches to a reply or a note (POST /api/v1/conversations/{id}/messages
// as multipart/form-data). The limits keep one reply under what mail servers commonly
// take (25 MB before base64); the server's body limit (32 MB) is above them, so a
// request over them gets the clear 413 from here.
const (
	maxReplyFile  = 20 << 20
	maxReplyFiles = 25 << 20
)

// replyBody is what postMessage takes, from JSON or from a multipart form.
type replyBody struct {
	Text    string `json:"text"`
	Private bool   `json:"private"`
	// Tag asks for a platform message tag where a reply window has closed
	// (Messenger's HUMAN_AGENT).
	Tag   string                  `json:"tag"`
	Files []connectors.Attachment `json:"-"`
}

func isMultipart(c *fiber.Ctx) bool {
	t, _, _ := mime.ParseMediaType(c.Get(fiber.HeaderContentType))
	return t == "multipart/form-data"
}

// readReplyForm reads the fields text, private ("true"/"false"), tag and the "file"
// parts of a multipart reply.
func readReplyForm(c *fiber.Ctx) (replyBody, error) {
	var b replyBody
	form, err := c.MultipartForm()
	if err != nil {
		return b, errBadRequest("the multipart form cannot be read: %v", err)
	}
	defer form.RemoveAll()
	field := func(name string) string {
		if v := form.Value[name]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	b.Text, b.Tag = field("text"), field("tag")
	if p := field("private"); p != "" {
		if b.Private, err = strconv.ParseBool(p); err != nil {
			return b, errBadRequest("private must be true or false, not %q", p)
		}
	}
	for name := range form.File {
		if name != "file" {
			return b, errBadRequest("files go in parts named \"file\", not %q", name)
		}
	}
	var total int64
	for _, fh := range form.File["file"] {
		if fh.Size > maxReplyFile {
			return b, errTooLarge("%q is %s: a file may be at most %s", fh.Filename, humanBytes(fh.Size), humanBytes(maxReplyFile))
		}
		total += fh.Size
	}
	if total > maxReplyFiles {
		return b, errTooLarge("the files come to %s: together they may be at most %s", humanBytes(total), humanBytes(maxReplyFiles))
	}
	for _, fh := range form.File["file"] {
		f, err := readFormFile(fh)
		if err != nil {
			return b, err
		}
		b.Files = append(b.Files, f)
	}
	return b, nil
}

func readFormFile(fh *multipart.FileHeader) (connectors.Attachment, error) {
	r, err := fh.Open()
	if err != nil {
		return connectors.Attachment{}, err
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, maxReplyFile+1))
	if err != nil {
		return connectors.Attachment{}, err
	}
	if len(data) > maxReplyFile {
		return connectors.Attachment{}, errTooLarge("%q is over %s", fh.Filename, humanBytes(maxReplyFile))
	}
	return connectors.Attachment{
		Filename:    cleanUploadName(fh.Filename),
		ContentType: uploadType(fh.Header.Get(fiber.HeaderContentType), data),
		Size:        int64(len(data)),
		Data:        data,
	}, nil
}

// cleanUploadName keeps the last path element of a browser's file name, without
// control characters, at most 200 bytes.
func cleanUploadName(name string) string {
	name = strings.ReplaceAll(name, `\`, "/")
	name = path.Base(strings.TrimSpace(name))
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, name)
	name = strings.TrimSpace(name)
	for len(name) > 200 {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	if name == "" || name == "." || name == "/" {
		name = "attachment"
	}
	return name
}

// uploadType is the part's declared media type when it parses, else a sniffed one.
func uploadType(declared string, data []byte) string {
	if t, params, err := mime.ParseMediaType(declared); err == nil && strings.Contains(t, "/") && t != "application/octet-stream" {
		return mime.FormatMediaType(t, params)
	}
	return http.DetectContentType(data)
}

func errTooLarge(format string, args ...any) error {
	return &apiError{fiber.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf(format, args...)}
}

func humanBytes(n int64) string {
	f := func(v float64, unit string) string {
		return strings.TrimSuffix(strconv.FormatFloat(v, 'f', 1, 64), ".0") + " " + unit
	}
	switch {
	case n >= 1<<20:
		return f(float64(n)/(1<<20), "MB")
	case n >= 1<<10:
		return f(float64(n)/(1<<10), "KB")
	}
	return strconv.FormatInt(n, 10) + " bytes"
}
