// Package messenger connects a Facebook Page's Messenger conversations to a Kibo inbox.
//
// Facebook pushes every message to a webhook and takes replies through the Send API, so
// this package has no connection to keep open: it is the part of the channel that needs
// no server. The HTTP handler (in server) answers the verification handshake, checks the
// signature over the raw body, stores the body and then calls ParseWebhook; everything
// here works on bytes and url.Values so it can be tested against the platform's recorded
// payloads without Fiber or a database.
//
// Messenger only lets a page answer within 24 hours of the customer's last message (7
// days with the HUMAN_AGENT tag). Send checks that window itself before calling Facebook,
// because an agent should be told "the customer must write first" as a permanent answer,
// not after the outbox has spent its retries on a refusal Facebook was always going to
// give. Graph API errors are sorted the same way: rate limits and outages are retried,
// everything else becomes a sentence the agent can act on.
package messenger
