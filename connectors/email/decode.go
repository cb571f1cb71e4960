package email

import (
	"encoding/base64"
	"strings"
)

// decodeTransfer undoes a Content-Transfer-Encoding. The decoders are lenient on
// purpose: the standard library stops at the first bad byte, and real mail has stray
// characters, missing padding and over-long lines; we keep every byte we can decode.
func decodeTransfer(enc string, b []byte) []byte {
	switch strings.ToLower(strings.TrimSpace(enc)) {
	case "base64":
		return decodeBase64(b)
	case "quoted-printable":
		return decodeQP(b)
	default: // 7bit, 8bit, binary, and unknown encodings (x-uuencode...) as they are
		return b
	}
}

// decodeBase64 ignores everything outside the base64 alphabet and decodes what is left,
// including a final partial group. Padding ends a group, so that base64 pieces joined
// one after the other (seen from some gateways) decode as the sequence they are.
func decodeBase64(b []byte) []byte {
	out := make([]byte, 0, len(b)*3/4)
	group := make([]byte, 0, 1024)
	flush := func() {
		// A lone trailing character carries fewer than 8 bits: drop it.
		if len(group)%4 == 1 {
			group = group[:len(group)-1]
		}
		n := len(out)
		out = out[:n+base64.RawStdEncoding.DecodedLen(len(group))]
		m, _ := base64.RawStdEncoding.Decode(out[n:], group) // cannot fail on the cleaned alphabet
		out = out[:n+m]
		group = group[:0]
	}
	for _, c := range b {
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '+', c == '/':
			group = append(group, c)
		case c == '-':
			group = append(group, '+') // URL-safe alphabet, seen from some webmailers
		case c == '_':
			group = append(group, '/')
		case c == '=':
			if len(group)%4 != 0 {
				flush()
			}
			continue
		default:
			continue
		}
		if len(group) == cap(group) {
			flush() // a multiple of 4: decodes cleanly
		}
	}
	flush()
	return out
}

// decodeQP decodes quoted-printable: "=XX" escapes, soft line breaks ("=" at the end of
// a line), trailing whitespace on lines dropped; a malformed "=" stays as it is.
func decodeQP(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for len(b) > 0 {
		// One line at a time, without its line ending.
		end := len(b)
		next := len(b)
		hasNL := false
		for i, c := range b {
			if c == '\n' {
				end, next, hasNL = i, i+1, true
				if i > 0 && b[i-1] == '\r' {
					end = i - 1
				}
				break
			}
		}
		line := b[:end]
		b = b[next:]
		// Transport-added trailing whitespace is not content (RFC 2045 6.7 rule 3).
		for len(line) > 0 && (line[len(line)-1] == ' ' || line[len(line)-1] == '\t') {
			line = line[:len(line)-1]
		}
		soft := false
		for i := 0; i < len(line); i++ {
			c := line[i]
			if c != '=' {
				out = append(out, c)
				continue
			}
			if i == len(line)-1 {
				soft = true
				break
			}
			if i+2 < len(line) && isHex(line[i+1]) && isHex(line[i+2]) {
				out = append(out, unhex(line[i+1])<<4|unhex(line[i+2]))
				i += 2
				continue
			}
			out = append(out, c)
		}
		if hasNL && !soft {
			out = append(out, '\n')
		}
	}
	return out
}
