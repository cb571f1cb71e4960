package store

import "unicode/utf8"

// Limits on what people and programs type into Kibo, in characters: room for any real
// value, and no room for a megabyte in a name that every list, page and event then
// carries.
const (
	MaxNameLen     = 200      // names of agents, contacts, inboxes and API tokens; titles
	MaxEmailLen    = 254      // an address, as SMTP allows
	MaxTagLen      = 64       // a tag
	MaxTags        = 50       // tags on one conversation
	MaxNoteLen     = 4000     // an incident's message or update, an extension's reason
	MaxSettingsLen = 64 << 10 // an inbox's settings, as JSON bytes
)

// CheckLen refuses a value longer than max characters, naming the field; the message
// does not repeat the value, which may be the megabyte it refuses.
func CheckLen(field, v string, max int) error {
	if len(v) > max && utf8.RuneCountInString(v) > max {
		return invalid("%s is longer than %d characters", field, max)
	}
	return nil
}
