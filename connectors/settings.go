package connectors

import (
	"context"
	"fmt"
	"strings"

	"kibo/connectors/netguard"
)

// Settings are an inbox's settings as an admin saved them: the JSON object of its
// kind (docs/CHANNELS.md), decoded. The helpers read it leniently (a missing or
// mistyped value is empty), which suits a channel's Validate and Connect: Validate
// says what is missing.
type Settings map[string]any

// String is the trimmed text at key.
func (s Settings) String(key string) string {
	v, _ := s[key].(string)
	return strings.TrimSpace(v)
}

// Section is the nested object at key (e-mail's "imap"), or nil.
func (s Settings) Section(key string) Settings {
	m, _ := s[key].(map[string]any)
	return m
}

// Require says which of keys is missing or empty, the first it finds.
func (s Settings) Require(keys ...string) error {
	for _, k := range keys {
		if s.String(k) == "" {
			return fmt.Errorf("%s is missing", k)
		}
	}
	return nil
}

// CheckURL checks the base URL at key, when set, against the hosts policy: the same
// refusal the connector meets when it connects, given when the settings are saved.
func (s Settings) CheckURL(ctx context.Context, hosts netguard.Policy, key string) error {
	if u := s.String(key); u != "" {
		if err := hosts.CheckURL(ctx, u); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
	}
	return nil
}
