package email

import (
	"bytes"
	"io"
	"mime"
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message/charset" // also registers every charset with go-message
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/simplifiedchinese"
)

// encodingFor maps a MIME charset label to a decoder. It corrects the labels that mail
// software gets wrong in practice, the way browsers do: text declared ISO-8859-1 or
// US-ASCII is very often Windows-1252 (smart quotes, the euro sign), and GB2312 text
// often uses characters only GBK/GB18030 have. nil means UTF-8 (no conversion).
func encodingFor(label string) (encoding.Encoding, bool) {
	l := strings.ToLower(strings.Trim(strings.TrimSpace(label), `"'`))
	switch l {
	case "", "utf-8", "utf8", "unicode-1-1-utf-8", "x-unicode20utf8":
		return nil, true
	case "us-ascii", "ascii", "iso-8859-1", "iso8859-1", "iso_8859-1", "latin1", "latin-1",
		"l1", "cp819", "ibm819", "iso-ir-100", "csisolatin1", "windows-1252", "cp1252",
		"x-cp1252", "cswindows1252", "ansi_x3.4-1968", "iso-8859-15-windows":
		return charmap.Windows1252, true
	case "gb2312", "gbk", "gb18030", "cp936", "x-gbk", "euc-cn", "csgb2312", "chinese", "hz-gb-2312-8bit":
		return simplifiedchinese.GB18030, true
	}
	return nil, false
}

// charsetReader is the CharsetReader for RFC 2047 words; it applies the same corrections
// as body decoding.
func charsetReader(label string, input io.Reader) (io.Reader, error) {
	if enc, ok := encodingFor(label); ok {
		if enc == nil {
			return input, nil
		}
		return enc.NewDecoder().Reader(input), nil
	}
	return charset.Reader(label, input)
}

// wordDecoder decodes RFC 2047 encoded words with our charset corrections. It holds no
// state, so one value serves every goroutine.
var wordDecoder = &mime.WordDecoder{CharsetReader: charsetReader}

// decodeCharset converts text in the named charset to valid UTF-8. It never fails: an
// unknown label falls back to UTF-8 when the bytes are valid UTF-8, else to Windows-1252;
// whatever is left invalid becomes U+FFFD. The bool reports whether the label was
// understood.
func decodeCharset(label string, b []byte) (string, bool) {
	enc, known := encodingFor(label)
	if !known {
		if r, err := charset.Reader(label, bytes.NewReader(b)); err == nil {
			if out, err := io.ReadAll(r); err == nil {
				return strings.ToValidUTF8(string(out), "\uFFFD"), true
			}
		}
	}
	if enc == nil {
		if utf8.Valid(b) {
			return string(b), known
		}
		if known && label != "" {
			// Declared UTF-8 with a few broken bytes: keep the rest as it is.
			return strings.ToValidUTF8(string(b), "\uFFFD"), true
		}
		// No label, or one we do not know, and not UTF-8: mail like that is nearly
		// always Windows-1252.
		enc = charmap.Windows1252
	}
	out, err := enc.NewDecoder().Bytes(b)
	if err != nil {
		return strings.ToValidUTF8(string(b), "\uFFFD"), false
	}
	return strings.ToValidUTF8(string(out), "\uFFFD"), known
}

// decodeHeaderText turns a raw header value into readable UTF-8: raw 8-bit bytes (not
// allowed, common anyway) are read as UTF-8 or else Windows-1252, then RFC 2047 words are
// decoded, then folding whitespace is collapsed.
func decodeHeaderText(v string) string {
	if !utf8.ValidString(v) {
		v, _ = decodeCharset("", []byte(v))
	}
	if strings.Contains(v, "=?") {
		v = fixWordCharsets(v)
		if d, err := wordDecoder.DecodeHeader(v); err == nil {
			v = d
		} else {
			v = decodeWordsLoosely(v)
		}
	}
	return strings.ToValidUTF8(strings.Join(strings.Fields(v), " "), "\uFFFD")
}

var latinWordRe = regexp.MustCompile(`(?i)=\?(iso-8859-1|us-ascii|latin1)((?:\*[^?]*)?\?[bq]\?)`)

// fixWordCharsets relabels ISO-8859-1 and US-ASCII encoded words as Windows-1252:
// mime.WordDecoder decodes those two itself and would never ask our CharsetReader.
func fixWordCharsets(v string) string {
	if !strings.Contains(v, "=?") {
		return v
	}
	return latinWordRe.ReplaceAllString(v, "=?windows-1252$2")
}

// decodeWordsLoosely decodes each encoded word on its own, keeping the ones that fail as
// they are, for headers where DecodeHeader gives up on the first bad word.
func decodeWordsLoosely(v string) string {
	fields := strings.Fields(v)
	for i, f := range fields {
		if strings.HasPrefix(f, "=?") && strings.HasSuffix(f, "?=") {
			if d, err := wordDecoder.Decode(f); err == nil {
				fields[i] = d
			}
		}
	}
	return strings.Join(fields, " ")
}

// rfc2231Param finds an RFC 2231 parameter (name*=charset'lang'%xx, possibly split into
// name*0*=, name*1*=, ...) in a raw Content-Type or Content-Disposition value and decodes
// it in any charset. mime.ParseMediaType only handles UTF-8 and US-ASCII and drops the
// parameter otherwise; Latin-1 and Shift-JIS filenames are common in real mail.
func rfc2231Param(raw, name string) string {
	parts := map[int]string{}
	encoded := map[int]bool{}
	var single string
	haveSingle := false
	for _, seg := range splitParams(raw) {
		k, v, ok := strings.Cut(seg, "=")
		if !ok {
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		v = strings.TrimSpace(v)
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = strings.ReplaceAll(v[1:len(v)-1], `\"`, `"`)
		}
		if !strings.HasPrefix(k, name+"*") {
			continue
		}
		rest := k[len(name)+1:]
		if rest == "" {
			single, haveSingle = v, true
			continue
		}
		isEnc := strings.HasSuffix(rest, "*")
		rest = strings.TrimSuffix(rest, "*")
		n := 0
		for _, c := range rest {
			if c < '0' || c > '9' || n > 1000 {
				n = -1
				break
			}
			n = n*10 + int(c-'0')
		}
		if n < 0 {
			continue
		}
		parts[n] = v
		encoded[n] = isEnc
	}
	var cs, value string
	var buf []byte
	switch {
	case haveSingle:
		cs, value = splitCharset(single)
		buf = percentDecode(value)
	case len(parts) > 0:
		for i := 0; ; i++ {
			v, ok := parts[i]
			if !ok {
				break
			}
			if i == 0 && encoded[0] {
				cs, v = splitCharset(v)
			}
			if encoded[i] {
				buf = append(buf, percentDecode(v)...)
			} else {
				buf = append(buf, v...)
			}
		}
	default:
		return ""
	}
	s, _ := decodeCharset(cs, buf)
	return s
}

func splitCharset(v string) (cs, value string) {
	first := strings.IndexByte(v, '\'')
	if first < 0 {
		return "", v
	}
	second := strings.IndexByte(v[first+1:], '\'')
	if second < 0 {
		return "", v
	}
	return v[:first], v[first+1+second+1:]
}

func percentDecode(s string) []byte {
	if u, err := url.PathUnescape(s); err == nil {
		return []byte(u)
	}
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			out = append(out, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			continue
		}
		out = append(out, s[i])
	}
	return out
}

// splitParams splits a header value at semicolons outside quotes.
func splitParams(v string) []string {
	var out []string
	inQuote := false
	start := 0
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '\\':
			i++
		case '"':
			inQuote = !inQuote
		case ';':
			if !inQuote {
				out = append(out, v[start:i])
				start = i + 1
			}
		}
	}
	return append(out, v[start:])
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}
