package messenger

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"mime"
	"net/url"
	"path"
	"strings"
	"time"

	"kibo/connectors"
)

// Kind is the channel kind of this connector and of the identities it creates.
const Kind = "messenger"

// SignatureHeader is the header Facebook signs webhook bodies with.
const SignatureHeader = "X-Hub-Signature-256"

// VerifyChallenge answers Facebook's subscription handshake
// (GET ?hub.mode=subscribe&hub.verify_token=T&hub.challenge=C). ok is true only when the
// mode is subscribe, T equals cfg.VerifyToken and C looks like Facebook's challenge (see
// validChallenge); the handler then answers 200 with challenge as the body, and 403
// otherwise.
func VerifyChallenge(cfg Config, query url.Values) (challenge string, ok bool) {
	if cfg.VerifyToken == "" || query.Get("hub.mode") != "subscribe" {
		return "", false
	}
	token := query.Get("hub.verify_token")
	if subtle.ConstantTimeCompare([]byte(token), []byte(cfg.VerifyToken)) != 1 {
		return "", false
	}
	challenge = query.Get("hub.challenge")
	if !validChallenge(challenge) {
		return "", false
	}
	return challenge, true
}

// maxChallengeLength bounds hub.challenge; Facebook's is a number of about ten digits.
const maxChallengeLength = 128

// validChallenge keeps the handshake from echoing anything but a short opaque token:
// whoever knows the verify token (it is typed into Facebook's dashboard, not a signing
// key) could otherwise make Kibo's origin answer with a body of their choosing.
func validChallenge(c string) bool {
	if c == "" || len(c) > maxChallengeLength {
		return false
	}
	for i := 0; i < len(c); i++ {
		switch b := c[i]; {
		case b >= 'a' && b <= 'z', b >= 'A' && b <= 'Z', b >= '0' && b <= '9', b == '-', b == '_', b == '.':
		default:
			return false
		}
	}
	return true
}

// VerifySignature reports whether header ("sha256=<hex>") is the HMAC-SHA256 of body
// keyed with the app secret. A missing or malformed header, or an empty secret, never
// verifies.
func VerifySignature(appSecret string, header string, body []byte) bool {
	if appSecret == "" {
		return false
	}
	hexSum, found := strings.CutPrefix(strings.TrimSpace(header), "sha256=")
	if !found {
		return false
	}
	got, err := hex.DecodeString(hexSum)
	if err != nil || len(got) != sha256.Size {
		return false
	}
	mac := hmac.New(sha256.New, []byte(appSecret))
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

// malformed says a body is not a Messenger event Kibo can take: a
// *connectors.MalformedError, which the webhook answers with 400, storing nothing.
func malformed(reason string, err error) error {
	return &connectors.MalformedError{What: "Messenger webhook", Reason: reason, Err: err}
}

// Events is what one webhook body carried. Each item stands alone: Facebook may batch
// several, deliver them late, out of order or twice, and the sink's dedupe by mid and the
// watermarks of receipts make the order irrelevant.
type Events struct {
	// Messages are the customers' messages and, with Echo set, the page's own.
	Messages []connectors.Inbound
	// Receipts are delivery and read notices for messages the page sent.
	Receipts []Receipt
}

// Receipt says the customer's Messenger received ("delivery") or read ("read") the
// page's messages up to Watermark. MIDs lists the delivered messages when Facebook names
// them; it is always empty for reads.
type Receipt struct {
	Kind      string // "delivery" or "read"
	PageID    string
	PSID      string
	MIDs      []string
	Watermark time.Time
	// Raw is the JSON of the one messaging item.
	Raw []byte
}

type webhookBody struct {
	Object string         `json:"object"`
	Entry  []webhookEntry `json:"entry"`
}

type webhookEntry struct {
	ID        string            `json:"id"`
	Time      int64             `json:"time"`
	Messaging []json.RawMessage `json:"messaging"`
	// Standby carries the messages of conversations another app (a handover protocol
	// primary receiver) controls; they are the page's conversations all the same.
	Standby []json.RawMessage `json:"standby"`
}

type idField struct {
	ID string `json:"id"`
}

type messagingItem struct {
	Sender    idField      `json:"sender"`
	Recipient idField      `json:"recipient"`
	Timestamp int64        `json:"timestamp"`
	Message   *wireMessage `json:"message"`
	Delivery  *struct {
		MIDs      []string `json:"mids"`
		Watermark int64    `json:"watermark"`
	} `json:"delivery"`
	Read *struct {
		Watermark int64 `json:"watermark"`
	} `json:"read"`
}

type wireMessage struct {
	MID         string           `json:"mid"`
	Text        string           `json:"text"`
	IsEcho      bool             `json:"is_echo"`
	AppID       json.RawMessage  `json:"app_id"`
	Metadata    string           `json:"metadata"`
	Attachments []wireAttachment `json:"attachments"`
	ReplyTo     *struct {
		MID string `json:"mid"`
	} `json:"reply_to"`
	QuickReply *struct {
		Payload string `json:"payload"`
	} `json:"quick_reply"`
}

type wireAttachment struct {
	Type string `json:"type"`
	// Title and URL are where older fallback attachments (shared links) put them.
	Title string `json:"title"`
	URL   string `json:"url"`
	// Payload differs by type (a URL for media, a template, coordinates), so it is read
	// leniently: a shape Kibo does not know must not reject the whole webhook.
	Payload json.RawMessage `json:"payload"`
}

type attachmentPayload struct {
	URL   string `json:"url"`
	Title string `json:"title"`
}

// ParseWebhook reads one webhook body (already signature-checked) into the messages and
// receipts it carries. A body that is not JSON, not a page event, or carries a message
// without its ids is a *connectors.MalformedError. Item kinds Kibo does not handle
// (postbacks, reactions, optins, ...) are skipped.
func ParseWebhook(inboxID int64, body []byte) (Events, error) {
	var ev Events
	var wb webhookBody
	if err := json.Unmarshal(body, &wb); err != nil {
		return ev, malformed("body is not valid JSON", err)
	}
	if wb.Object != "page" {
		return ev, malformed(fmt.Sprintf("object is %q, not \"page\"", wb.Object), nil)
	}
	for _, entry := range wb.Entry {
		items := append(append([]json.RawMessage(nil), entry.Messaging...), entry.Standby...)
		for _, raw := range items {
			if err := parseItem(inboxID, entry, raw, &ev); err != nil {
				return Events{}, err
			}
		}
	}
	return ev, nil
}

func parseItem(inboxID int64, entry webhookEntry, raw json.RawMessage, ev *Events) error {
	var it messagingItem
	if err := json.Unmarshal(raw, &it); err != nil {
		return malformed("a messaging item has an unexpected shape", err)
	}
	raw = bytes.Clone(raw)
	switch {
	case it.Message != nil:
		in, err := parseMessage(inboxID, entry, it, raw)
		if err != nil {
			return err
		}
		ev.Messages = append(ev.Messages, in)
	case it.Delivery != nil:
		if it.Sender.ID == "" {
			return malformed("a delivery has no sender id", nil)
		}
		ev.Receipts = append(ev.Receipts, Receipt{
			Kind:      "delivery",
			PageID:    firstNonEmpty(entry.ID, it.Recipient.ID),
			PSID:      it.Sender.ID,
			MIDs:      it.Delivery.MIDs,
			Watermark: fromMillis(it.Delivery.Watermark),
			Raw:       raw,
		})
	case it.Read != nil:
		if it.Sender.ID == "" {
			return malformed("a read receipt has no sender id", nil)
		}
		ev.Receipts = append(ev.Receipts, Receipt{
			Kind:      "read",
			PageID:    firstNonEmpty(entry.ID, it.Recipient.ID),
			PSID:      it.Sender.ID,
			Watermark: fromMillis(it.Read.Watermark),
			Raw:       raw,
		})
	}
	return nil
}

func parseMessage(inboxID int64, entry webhookEntry, it messagingItem, raw []byte) (connectors.Inbound, error) {
	m := it.Message
	if m.MID == "" {
		return connectors.Inbound{}, malformed("a message has no mid", nil)
	}
	// The customer is the sender of a message and the recipient of an echo; the page is
	// the other side.
	customer, page := it.Sender.ID, it.Recipient.ID
	if m.IsEcho {
		customer, page = it.Recipient.ID, it.Sender.ID
	}
	if customer == "" {
		return connectors.Inbound{}, malformed(fmt.Sprintf("message %s has no customer id", m.MID), nil)
	}
	sentAt := it.Timestamp
	if sentAt == 0 {
		sentAt = entry.Time
	}
	in := connectors.Inbound{
		InboxID: inboxID,
		Identity: connectors.Identity{
			Kind:       Kind,
			Scope:      firstNonEmpty(entry.ID, page),
			ExternalID: customer,
		},
		ExternalID:  m.MID,
		Text:        m.Text,
		Attachments: attachments(m.Attachments),
		Echo:        m.IsEcho,
		Raw:         raw,
		SentAt:      fromMillis(sentAt),
	}
	if m.ReplyTo != nil && m.ReplyTo.MID != "" {
		in.ThreadRefs = []string{m.ReplyTo.MID}
	}
	meta := map[string]string{}
	if appID := strings.Trim(string(m.AppID), `"`); appID != "" && appID != "null" {
		// Tells an echo of Kibo's own Send API call from a reply typed in Facebook's UI.
		meta["app_id"] = appID
	}
	if m.Metadata != "" {
		meta["metadata"] = m.Metadata
	}
	if m.QuickReply != nil && m.QuickReply.Payload != "" {
		meta["quick_reply_payload"] = m.QuickReply.Payload
	}
	if len(meta) > 0 {
		in.Metadata = meta
	}
	return in, nil
}

func attachments(wire []wireAttachment) []connectors.Attachment {
	var out []connectors.Attachment
	seen := map[string]bool{}
	for _, a := range wire {
		var p attachmentPayload
		if len(a.Payload) > 0 {
			// Lenient on purpose: see wireAttachment.Payload.
			_ = json.Unmarshal(a.Payload, &p)
		}
		link := firstNonEmpty(p.URL, a.URL)
		// Templates, locations and unsupported shares carry no file to keep.
		if link == "" || seen[link] {
			continue
		}
		// A sticker comes twice while Facebook moves stickers from "image" to "sticker".
		seen[link] = true
		att := connectors.Attachment{URL: link, ContentType: guessContentType(a.Type, link)}
		if a.Type == "fallback" {
			att.Filename = firstNonEmpty(p.Title, a.Title)
		} else {
			att.Filename = fileName(link)
		}
		out = append(out, att)
	}
	return out
}

// guessContentType names a media type for an attachment from its Messenger type, refined
// by the URL's extension when that agrees (Facebook's CDN names files .jpg, .png, .mp4).
func guessContentType(kind, link string) string {
	ext, byExt := "", ""
	if u, err := url.Parse(link); err == nil {
		ext = strings.ToLower(path.Ext(u.Path))
	}
	if ext != "" {
		byExt, _, _ = strings.Cut(mime.TypeByExtension(ext), ";")
	}
	switch kind {
	case "image", "sticker", "video", "audio":
		major := map[string]string{"image": "image/", "sticker": "image/", "video": "video/", "audio": "audio/"}[kind]
		if strings.HasPrefix(byExt, major) {
			return byExt
		}
		if kind == "audio" && ext == ".mp4" {
			// Voice clips come as .mp4 files that hold only sound.
			return "audio/mp4"
		}
		return map[string]string{"image": "image/jpeg", "sticker": "image/png", "video": "video/mp4", "audio": "audio/mpeg"}[kind]
	case "fallback":
		// A shared link: the URL is a web page.
		return "text/html"
	}
	if byExt != "" {
		return byExt
	}
	return "application/octet-stream"
}

func fileName(link string) string {
	u, err := url.Parse(link)
	if err != nil {
		return ""
	}
	base := path.Base(u.Path)
	if path.Ext(base) == "" {
		return ""
	}
	return base
}

func fromMillis(ms int64) time.Time {
	if ms <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
