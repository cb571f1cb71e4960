package store

import (
	"bytes"
	"encoding/json"
	"mime"
	"net/mail"
	"strings"

	"kibo/connectors/mailaddr"
)

// A raw source never linked to a message (a quarantined e-mail, a webhook body not yet
// processed) belongs to a person's export and erasure when it names them: when one of
// the addresses in its address headers is theirs, or one of the sender and recipient
// ids in a webhook body is one of their channel ids. Names are compared whole and
// normalised, never as substrings: other.person@corp.com is not person@corp.com, and
// id 12345 is not 912345.

// rawSourceCandidates narrows the raw sources never linked to a message to those whose
// bytes contain one of the needles (any case); personKeys.names then decides, on the
// parsed source, which of them really name the person.
const rawSourceCandidates = `(message_id IS NULL AND contact_id IS NULL
	AND EXISTS (SELECT 1 FROM json_each(?) n WHERE instr(lower(CAST(body AS TEXT)), n.value) > 0))`

// personKeys are a person's e-mail addresses and channel ids, by the raw source kind
// they can appear in.
type personKeys struct {
	emails map[string]bool
	// ids by raw source kind ("messenger-webhook", "x-webhook")
	ids map[string]map[string]bool
}

// webhookKind is the kind of the raw webhook bodies that carry the ids of a channel's
// identities: the server stores a body as "<kind>-webhook" (server/webhooks.go).
func webhookKind(identityKind string) string { return identityKind + "-webhook" }

// newPersonKeys collects the keys of a contact: its e-mail address and its identities
// as (kind, external id) pairs.
func newPersonKeys(email string, identities [][2]string) personKeys {
	k := personKeys{emails: map[string]bool{}, ids: map[string]map[string]bool{}}
	addEmail := func(a string) {
		if a = mailaddr.Normalize(a); strings.Contains(a, "@") {
			k.emails[a] = true
		}
	}
	addEmail(email)
	for _, id := range identities {
		kind, ext := id[0], strings.TrimSpace(id[1])
		switch {
		case ext == "":
		case kind == "email":
			addEmail(ext)
		default:
			raw := webhookKind(kind)
			if k.ids[raw] == nil {
				k.ids[raw] = map[string]bool{}
			}
			k.ids[raw][ext] = true
		}
	}
	return k
}

// needles is the JSON list rawSourceCandidates takes: every key, lower-cased the way
// SQLite's lower() does (ASCII only), so the filter never misses a source.
func (k personKeys) needles() string {
	out := []string{}
	for a := range k.emails {
		out = append(out, asciiLower(a))
	}
	for _, ids := range k.ids {
		for id := range ids {
			out = append(out, asciiLower(id))
		}
	}
	b, _ := json.Marshal(out)
	return string(b)
}

func asciiLower(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'A' && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, s)
}

// names tells whether a raw source of the given kind names the person.
func (k personKeys) names(kind string, body []byte) bool {
	if kind == "email" {
		if len(k.emails) == 0 {
			return false
		}
		for _, a := range mailAddresses(body) {
			if k.emails[a] {
				return true
			}
		}
		return false
	}
	ids := k.ids[kind]
	if len(ids) == 0 {
		return false
	}
	for id := range webhookIDs(body) {
		if ids[id] {
			return true
		}
	}
	return false
}

// addressHeaders are the header fields of a mail that name its people.
var addressHeaders = map[string]bool{
	"from": true, "sender": true, "reply-to": true, "to": true, "cc": true, "bcc": true, "return-path": true,
	"resent-from": true, "resent-sender": true, "resent-to": true, "resent-cc": true, "resent-bcc": true,
	"x-failed-recipients": true,
	// a bounce's delivery status, which may stand at the top of a broken one
	"final-recipient": true, "original-recipient": true,
}

// dsnFields are the delivery-status fields that name the recipient a bounce is about;
// they stand in a part of their own, so they are looked for on every line.
var dsnFields = []string{"final-recipient:", "original-recipient:"}

// mailAddresses returns the normalised addresses in a raw mail's address headers (and
// in the delivery-status fields of a bounce). It reads the header block leniently, as
// quarantined mail is often malformed: an unparseable field still yields the tokens in
// it that are whole addresses.
func mailAddresses(raw []byte) []string {
	var out []string
	header, _ := splitHeader(raw)
	for _, f := range unfoldFields(header) {
		if addressHeaders[f.name] {
			out = append(out, addressesIn(f.value)...)
		}
	}
	for _, line := range bytes.Split(raw, []byte("\n")) {
		low := strings.ToLower(string(bytes.TrimSpace(line)))
		for _, field := range dsnFields {
			if v, ok := strings.CutPrefix(low, field); ok {
				out = append(out, addressesIn(v)...)
			}
		}
	}
	return out
}

// splitHeader returns the header block of a mail: everything up to the first empty line.
func splitHeader(raw []byte) (header, body []byte) {
	for i := 0; i < len(raw); {
		j := bytes.IndexByte(raw[i:], '\n')
		if j < 0 {
			return raw, nil
		}
		line := bytes.TrimRight(raw[i:i+j], "\r")
		if len(line) == 0 {
			return raw[:i], raw[i+j+1:]
		}
		i += j + 1
	}
	return raw, nil
}

type headerField struct{ name, value string }

// unfoldFields reads "Name: value" fields with their continuation lines; lines that are
// neither are skipped.
func unfoldFields(header []byte) []headerField {
	var out []headerField
	for _, line := range strings.Split(string(header), "\n") {
		line = strings.TrimRight(line, "\r")
		if line == "" {
			continue
		}
		if (line[0] == ' ' || line[0] == '\t') && len(out) > 0 {
			out[len(out)-1].value += " " + strings.TrimSpace(line)
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || strings.ContainsAny(name, " \t") {
			continue
		}
		out = append(out, headerField{strings.ToLower(name), strings.TrimSpace(value)})
	}
	return out
}

var wordDecoder = &mime.WordDecoder{}

// addressesIn parses an address list properly (so a display name that looks like an
// address is not taken for one); when that fails, it takes the tokens that are whole
// addresses.
func addressesIn(value string) []string {
	var out []string
	if list, err := (&mail.AddressParser{WordDecoder: wordDecoder}).ParseList(value); err == nil {
		for _, a := range list {
			out = append(out, mailaddr.Normalize(a.Address))
		}
		return out
	}
	for _, tok := range strings.FieldsFunc(value, func(r rune) bool { return strings.ContainsRune(" \t\r\n,;<>()\"'[]:", r) }) {
		if i := strings.LastIndexByte(tok, '@'); i > 0 && i < len(tok)-1 {
			out = append(out, mailaddr.Normalize(tok))
		}
	}
	return out
}

// webhookIDs returns the people's ids a webhook body carries: Messenger's sender.id and
// recipient.id, X's sender_id, recipient_id and the keys and ids of its users map. A
// body that is not JSON yields its runs of digits and letters.
func webhookIDs(body []byte) map[string]bool {
	out := map[string]bool{}
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		for _, tok := range strings.FieldsFunc(string(body), func(r rune) bool {
			return !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '-' || r == '_')
		}) {
			out[tok] = true
		}
		return out
	}
	var walk func(v any, parent, key string)
	walk = func(v any, parent, key string) {
		switch x := v.(type) {
		case map[string]any:
			for k, child := range x {
				if k == "users" {
					if users, ok := child.(map[string]any); ok {
						for id := range users {
							out[id] = true
						}
					}
				}
				walk(child, key, k)
			}
		case []any:
			for _, child := range x {
				walk(child, parent, key)
			}
		case string, json.Number:
			s := ""
			if n, ok := x.(json.Number); ok {
				s = n.String()
			} else {
				s = x.(string)
			}
			switch {
			case key == "sender_id" || key == "recipient_id":
				out[s] = true
			case key == "id" && (parent == "sender" || parent == "recipient"):
				out[s] = true
			}
		}
	}
	walk(v, "", "")
	return out
}
