// Package email is Kibo's e-mail channel: IMAP in, SMTP out, and the MIME parsing and
// threading hints in between.
//
// Mail is the channel where losing or duplicating a message is easiest and hurts most,
// so the receiver never trusts \Seen flags or "the last N messages": it syncs by UID from
// a cursor (UIDVALIDITY and last UID) that the store commits in the same transaction as
// a message (see connectors.MailState and Inbound.MailCursor). The messages of a
// fetched batch are delivered concurrently, so that the store commits them in groups,
// and the cursor comes only with the batch's last message, after all the others are
// committed: it never passes an uncommitted message. A crash at any
// point resumes after the last committed cursor, and the store recognises by
// Message-ID what it already has; a UIDVALIDITY change re-scans the mailbox the same
// way. A message that cannot be processed goes to quarantine with its raw source
// instead of blocking the ones after it.
//
// Parse turns raw RFC 5322 bytes into text, sanitised HTML, attachments and threading
// hints (Message-ID, In-Reply-To, References, the "[#1042]" subject token, forwarded and
// automatic mail); it is lenient with the broken MIME found in real mail and never
// panics. Send writes replies with the headers that keep threads together in every mail
// client, and sorts SMTP failures into retryable and permanent ones for the outbox.
//
// The package writes no SQL and knows nothing of HTTP: it talks to the rest of Kibo
// through connectors.Sink and connectors.MailState.
package email
