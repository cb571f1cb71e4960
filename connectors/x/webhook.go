package x

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"kibo/connectors"
)

// Kind is the channel kind of this connector and of the identities it creates.
const Kind = "x"

// SignatureHeader is the header X signs Account Activity webhook bodies with.
const SignatureHeader = "x-twitter-webhooks-signature"

// CRCResponse answers X's challenge-response check (GET ?crc_token=T): the handler
// replies {"response_token": CRCResponse(secret, T)}. It signs whatever it is given:
// the handler must check the token with ValidCRCToken first.
func CRCResponse(consumerSecret, crcToken string) string {
	return "sha256=" + base64.StdEncoding.EncodeToString(hmacSHA256(consumerSecret, []byte(crcToken)))
}

// MaxCRCTokenLength is the longest crc_token answered. X's tokens are a few dozen
// characters.
const MaxCRCTokenLength = 255

// ValidCRCToken tells whether a crc_token looks like one of X's: a short opaque string
// of letters, digits and the base64 and base64url punctuation (+ / = - _).
//
// The CRC answer and a body's signature are the same construction, base64(HMAC-SHA256(
// consumer secret, bytes)), so whoever may choose the token may have Kibo sign anything,
// and a token that is a JSON body would come back as that body's valid signature. What
// keeps the two apart is what each side accepts: a token can never hold '{', '"' or a
// space, and a body must be a JSON object (ParseWebhook), so no CRC answer ever signs a
// body Kibo would take.
func ValidCRCToken(token string) bool {
	if token == "" || len(token) > MaxCRCTokenLength {
		return false
	}
	for i := 0; i < len(token); i++ {
		switch c := token[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '+' || c == '/' || c == '=' || c == '-' || c == '_':
		default:
			return false
		}
	}
	return true
}

// VerifySignature reports whether header ("sha256=<base64>") is the HMAC-SHA256 of body
// keyed with the consumer secret. A missing or malformed header, or an empty secret,
// never verifies.
func VerifySignature(consumerSecret, header string, body []byte) bool {
	if consumerSecret == "" {
		return false
	}
	b64, found := strings.CutPrefix(strings.TrimSpace(header), "sha256=")
	if !found {
		return false
	}
	got, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(got) != sha256.Size {
		return false
	}
	return hmac.Equal(got, hmacSHA256(consumerSecret, body))
}

func hmacSHA256(secret string, data []byte) []byte {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(data)
	return mac.Sum(nil)
}

// malformed says a body is not a X event Kibo can take: a
// *connectors.MalformedError, which the webhook answers with 400, storing nothing.
func malformed(reason string, err error) error {
	return &connectors.MalformedError{What: "X webhook", Reason: reason, Err: err}
}

type activity struct {
	ForUserID           string              `json:"for_user_id"`
	DirectMessageEvents []json.RawMessage   `json:"direct_message_events"`
	Users               map[string]wireUser `json:"users"`
}

type wireUser struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	ScreenName string `json:"screen_name"`
}

// dmEvent is a DM event as both the webhook and events/list carry it.
type dmEvent struct {
	Type          string `json:"type"`
	ID            string `json:"id"`
	CreatedAt     string `json:"created_timestamp"`
	MessageCreate *struct {
		Target struct {
			RecipientID string `json:"recipient_id"`
		} `json:"target"`
		SenderID    string      `json:"sender_id"`
		SourceAppID string      `json:"source_app_id"`
		MessageData messageData `json:"message_data"`
	} `json:"message_create"`
}

type messageData struct {
	Text     string `json:"text"`
	Entities *struct {
		URLs []struct {
			URL         string `json:"url"`
			ExpandedURL string `json:"expanded_url"`
		} `json:"urls"`
	} `json:"entities"`
	Attachment *struct {
		Type  string    `json:"type"`
		Media wireMedia `json:"media"`
	} `json:"attachment"`
}

type wireMedia struct {
	// URL is the t.co link X appends to the text.
	URL           string `json:"url"`
	MediaURLHTTPS string `json:"media_url_https"`
	Type          string `json:"type"`
	VideoInfo     struct {
		Variants []struct {
			Bitrate     int    `json:"bitrate"`
			ContentType string `json:"content_type"`
			URL         string `json:"url"`
		} `json:"variants"`
	} `json:"video_info"`
}

// ParseWebhook reads one Account Activity body (already signature-checked) into the
// direct messages it carries. Messages the account sent itself (from X's own apps, or
// Kibo's replies coming back) are Echo, with the customer they went to as Identity.
// Every body must be a JSON object naming the account in for_user_id (X always sends
// it); when ownUserID is set it must be that account, otherwise for_user_id says whose
// account this is. Activity other than direct messages (follows, typing, reads) yields
// nothing.
func ParseWebhook(inboxID int64, ownUserID string, body []byte) ([]connectors.Inbound, error) {
	var act activity
	if err := json.Unmarshal(body, &act); err != nil {
		return nil, malformed("body is not valid JSON", err)
	}
	if body = bytes.TrimSpace(body); len(body) == 0 || body[0] != '{' {
		return nil, malformed("body is not a JSON object", nil)
	}
	if act.ForUserID == "" {
		return nil, malformed("for_user_id is missing: the body does not say which account it is for", nil)
	}
	if ownUserID != "" && act.ForUserID != ownUserID {
		return nil, malformed(fmt.Sprintf("the event is for user %s, not this inbox's user %s", act.ForUserID, ownUserID), nil)
	}
	own := act.ForUserID
	user := func(id string) (name, handle string) {
		u := act.Users[id]
		return u.Name, u.ScreenName
	}
	var out []connectors.Inbound
	for _, raw := range act.DirectMessageEvents {
		var ev dmEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, malformed("a direct message event has an unexpected shape", err)
		}
		if ev.Type != "message_create" {
			continue
		}
		in, err := toInbound(inboxID, own, bytes.Clone(raw), ev, user)
		if err != nil {
			return nil, malformed(err.Error(), nil)
		}
		out = append(out, in)
	}
	return out, nil
}

// toInbound turns one message_create event into an Inbound; user names the customer.
func toInbound(inboxID int64, own string, raw []byte, ev dmEvent, user func(id string) (name, handle string)) (connectors.Inbound, error) {
	mc := ev.MessageCreate
	switch {
	case ev.ID == "":
		return connectors.Inbound{}, errors.New("a direct message event has no id")
	case mc == nil || mc.SenderID == "":
		return connectors.Inbound{}, fmt.Errorf("direct message %s has no sender", ev.ID)
	}
	customer, echo := mc.SenderID, mc.SenderID == own
	if echo {
		customer = mc.Target.RecipientID
		if customer == "" {
			return connectors.Inbound{}, fmt.Errorf("direct message %s has no recipient", ev.ID)
		}
	}
	var sentAt time.Time
	if ev.CreatedAt != "" {
		ms, err := strconv.ParseInt(ev.CreatedAt, 10, 64)
		if err != nil || ms < 0 {
			return connectors.Inbound{}, fmt.Errorf("direct message %s has created_timestamp %q, not milliseconds", ev.ID, ev.CreatedAt)
		}
		sentAt = time.UnixMilli(ms).UTC()
	}
	name, handle := user(customer)
	in := connectors.Inbound{
		InboxID: inboxID,
		Identity: connectors.Identity{
			Kind:       Kind,
			ExternalID: customer,
			Name:       name,
			Handle:     handle,
		},
		ExternalID: ev.ID,
		Text:       messageText(mc.MessageData),
		Echo:       echo,
		Raw:        raw,
		SentAt:     sentAt,
	}
	if a := mc.MessageData.Attachment; a != nil {
		if att, ok := mediaAttachment(a.Media); ok {
			in.Attachments = []connectors.Attachment{att}
		}
	}
	if mc.SourceAppID != "" {
		// Tells Kibo's own replies from ones typed in X's apps.
		in.Metadata = map[string]string{"source_app_id": mc.SourceAppID}
	}
	return in, nil
}

// messageText is the text as the customer wrote it: without the t.co link X appends for
// the media, and with the other t.co links expanded.
func messageText(d messageData) string {
	text := d.Text
	if d.Attachment != nil && d.Attachment.Media.URL != "" {
		text = strings.TrimSpace(strings.Replace(text, d.Attachment.Media.URL, "", 1))
	}
	if d.Entities != nil {
		for _, u := range d.Entities.URLs {
			if u.URL != "" && u.ExpandedURL != "" {
				text = strings.ReplaceAll(text, u.URL, u.ExpandedURL)
			}
		}
	}
	return text
}

// mediaAttachment links the file of a DM: the photo, or the best MP4 of a video or GIF.
// The URLs need the account's OAuth signature to download.
func mediaAttachment(m wireMedia) (connectors.Attachment, bool) {
	link, contentType := m.MediaURLHTTPS, ""
	if m.Type == "video" || m.Type == "animated_gif" {
		best := -1
		for _, v := range m.VideoInfo.Variants {
			if v.ContentType == "video/mp4" && v.URL != "" && v.Bitrate > best {
				best, link, contentType = v.Bitrate, v.URL, v.ContentType
			}
		}
	}
	if link == "" {
		return connectors.Attachment{}, false
	}
	u, err := url.Parse(link)
	if err != nil {
		return connectors.Attachment{}, false
	}
	name := path.Base(u.Path)
	if contentType == "" {
		contentType, _, _ = strings.Cut(mime.TypeByExtension(strings.ToLower(path.Ext(name))), ";")
		if !strings.HasPrefix(contentType, "image/") {
			contentType = "image/jpeg"
		}
	}
	if path.Ext(name) == "" {
		name = ""
	}
	return connectors.Attachment{URL: link, ContentType: contentType, Filename: name}, true
}
