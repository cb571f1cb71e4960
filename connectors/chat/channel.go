package chat

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"kibo/connectors"
	"kibo/connectors/netguard"
)

// Kind is the channel kind of the website chat.
const Kind = "chat"

// Channel describes the website chat to Kibo (docs/CHANNELS.md, "Chat"). It has no
// connector of its own per inbox: the widget's socket is one of Kibo's own routes, so
// the server hosts the one chat Server for every chat inbox. A reply is pushed to the
// visitor's open widgets as soon as it is stored (Replies.Direct): a widget that is not
// open reads it from the store when it opens, so there is nothing to retry.
func Channel() connectors.Channel {
	return connectors.Channel{
		Kind:      Kind,
		Name:      "the chat widget",
		Title:     "Chat",
		Color:     "#2f6fed",
		Secrets:   []string{"identity_secret"},
		Generated: []string{"identity_secret"},
		Validate:  validateSettings,
		Snippet: func(baseURL, publicKey string) string {
			return fmt.Sprintf(`<script src="%s/widget.js" data-inbox="%s" async></script>`, baseURL, publicKey)
		},
		ReuseOpen: true,
		Replies:   connectors.Replies{Direct: true},
	}
}

// validateSettings checks the origins and the colour; the greeting is free text.
func validateSettings(_ context.Context, s connectors.Settings, _ netguard.Policy) error {
	if v, ok := s["allowed_origins"]; ok && v != nil {
		list, ok := v.([]any)
		if !ok {
			return errors.New("allowed_origins must be a list of origins like https://example.com")
		}
		for _, o := range list {
			origin, _ := o.(string)
			if !strings.HasPrefix(origin, "http://") && !strings.HasPrefix(origin, "https://") {
				return fmt.Errorf("allowed origin %v must start with http:// or https://", o)
			}
		}
	}
	if c := s.String("brand_color"); c != "" && (len(c) != 7 || c[0] != '#') {
		return errors.New("brand_color must look like #2f6fed")
	}
	return nil
}

// ParseInbox reads a chat inbox's settings into what the chat needs of it. What they
// leave out is the widget's own default (its colour, its greeting).
func ParseInbox(id int64, name string, s connectors.Settings) *Inbox {
	ci := &Inbox{ID: id, Name: name}
	if list, ok := s["allowed_origins"].([]any); ok {
		for _, o := range list {
			if origin, ok := o.(string); ok && origin != "" {
				ci.AllowedOrigins = append(ci.AllowedOrigins, origin)
			}
		}
	}
	ci.IdentitySecret, _ = s["identity_secret"].(string)
	ci.BrandColor, _ = s["brand_color"].(string)
	ci.Greeting, _ = s["greeting"].(string)
	return ci
}
