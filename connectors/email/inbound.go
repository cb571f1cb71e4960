package email

import (
	"strings"

	"kibo/connectors"
)

// Keys this package puts into connectors.Inbound.Metadata (all values are strings).
const (
	// MetaMailbox is the IMAP folder the message came from.
	MetaMailbox = "imap_mailbox"
	// MetaMessageIDGenerated is "true" when the message had no Message-ID and
	// ExternalID is the "<sha256@kibo.invalid>" stand-in.
	MetaMessageIDGenerated = "email_message_id_generated"
	// MetaAutoReason says why Auto is set ("bounce: Return-Path <>").
	MetaAutoReason = "email_auto_reason"
	// MetaTo, MetaCc and MetaReplyTo list the recipients, comma-separated, lower-case
	// addresses: the sink needs them to decide who takes part in a conversation.
	MetaTo      = "email_to"
	MetaCc      = "email_cc"
	MetaReplyTo = "email_reply_to"
	// MetaProblems lists what was wrong with the MIME structure, "; "-separated.
	MetaProblems = "email_parse_problems"
)

// ToInbound maps a parsed message to what the sink stores. ThreadRefs are In-Reply-To
// followed by References from the most recent to the oldest, without duplicates: the
// sink matches them in that order. List and bulk mail (Parsed.Bulk) carries neither
// references nor a subject token and opens a conversation of its own, marked Auto: a
// list message that answers a customer's mail is not the customer's, and must never
// land in their ticket.
func ToInbound(inboxID int64, p Parsed, raw []byte) connectors.Inbound {
	addr := strings.ToLower(p.From.Address)
	meta := map[string]string{}
	if p.MessageIDGenerated {
		meta[MetaMessageIDGenerated] = "true"
	}
	if p.Auto {
		meta[MetaAutoReason] = p.AutoReason
	}
	if s := joinAddresses(p.To); s != "" {
		meta[MetaTo] = s
	}
	if s := joinAddresses(p.Cc); s != "" {
		meta[MetaCc] = s
	}
	if s := joinAddresses(p.ReplyTo); s != "" {
		meta[MetaReplyTo] = s
	}
	if len(p.Problems) > 0 {
		meta[MetaProblems] = strings.Join(p.Problems, "; ")
	}
	refs, token, newThread := threadRefs(p), p.SubjectToken, p.NewThread
	if p.Bulk {
		refs, token, newThread = nil, 0, true
	}
	return connectors.Inbound{
		InboxID: inboxID,
		Identity: connectors.Identity{
			Kind:       "email",
			ExternalID: addr,
			Name:       p.From.Name,
			Email:      addr,
		},
		ExternalID:   p.MessageID,
		ThreadRefs:   refs,
		SubjectToken: token,
		NewThread:    newThread,
		Subject:      p.Subject,
		Text:         p.Text,
		HTML:         p.HTML,
		Attachments:  p.Attachments,
		Auto:         p.Auto || p.Bulk,
		Raw:          raw,
		SentAt:       p.Date,
		Metadata:     meta,
	}
}

func threadRefs(p Parsed) []string {
	seen := map[string]bool{p.MessageID: true}
	var out []string
	add := func(id string) {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	for _, id := range p.InReplyTo {
		add(id)
	}
	for i := len(p.References) - 1; i >= 0; i-- {
		add(p.References[i])
	}
	return out
}

func joinAddresses(l []Address) string {
	s := make([]string, 0, len(l))
	for _, a := range l {
		if a.Address != "" {
			s = append(s, strings.ToLower(a.Address))
		}
	}
	return strings.Join(s, ",")
}
