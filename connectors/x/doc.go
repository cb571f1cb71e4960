// Package x connects an X (Twitter) account's direct messages to a Kibo inbox.
//
// X offers two ways in, and Kibo uses both because neither is enough alone: the Account
// Activity webhook is immediate but needs a paid subscription and drops events while the
// server is down, and the DM events list (API v1.1, through go-twitter) catches up on
// anything missed but is rate-limited to a few calls a minute. Both feed the same sink,
// and the event id as ExternalID makes the overlap harmless.
//
// The poller is written to be left alone for months: it walks the list's cursor pages
// and delivers oldest first, waits out X's rate-limit window instead of hammering it,
// backs off on errors instead of returning, and tells the settings page through
// Config.OnStatus whether the account looks connected. The webhook parts (CRC, signature,
// parsing) work on bytes so the server stays the only code that knows HTTP routing.
//
// go-twitter's base URL is fixed, so the HTTP client rewrites scheme and host when
// Config.APIBaseURL is set: that is how the tests talk to a local server speaking the
// documented wire format.
package x
