-- Only what is signed is trusted. An identity keeps the e-mail address it came with and
-- says whether that address and its name were signed (a widget JWT's claims) or are the
-- channel's own (an e-mail identity's address); an address or name passed unsigned
-- beside a widget hash is shown to agents as unverified and never used to find or join
-- a contact. A contact's flags are 0 when its address or name is only what the person
-- typed or a page passed unsigned.
ALTER TABLE contacts ADD COLUMN email_verified INTEGER NOT NULL DEFAULT 1;
ALTER TABLE contacts ADD COLUMN name_verified INTEGER NOT NULL DEFAULT 1;
ALTER TABLE identities ADD COLUMN email TEXT NOT NULL DEFAULT '';
ALTER TABLE identities ADD COLUMN email_verified INTEGER NOT NULL DEFAULT 0;
ALTER TABLE identities ADD COLUMN name_verified INTEGER NOT NULL DEFAULT 1;

-- What the old code trusted wrongly: a widget identity proved by its id alone joined the
-- contact of the e-mail address sent beside it, and made an e-mail identity for that
-- address in the same statement (same contact, same created_at). A hash and a JWT
-- can't be told apart afterwards, so every such address becomes an unverified
-- attribute of the widget identity. The e-mail identity goes unless mail from that
-- address was since filed under the contact (then replies still need it).
UPDATE identities SET email = external_id, email_verified = 1 WHERE kind = 'email';
UPDATE identities SET name_verified = 0 WHERE kind = 'chat_user';
UPDATE identities SET email = e.external_id, email_verified = 0
FROM identities e
WHERE identities.kind = 'chat_user' AND e.kind = 'email' AND e.scope = ''
  AND e.contact_id = identities.contact_id AND e.created_at = identities.created_at;
DELETE FROM identities WHERE kind = 'email' AND scope = '' AND EXISTS (
    SELECT 1 FROM identities u WHERE u.kind = 'chat_user' AND u.contact_id = identities.contact_id AND u.created_at = identities.created_at
) AND NOT EXISTS (
    SELECT 1 FROM conversations c JOIN inboxes i ON i.id = c.inbox_id WHERE c.contact_id = identities.contact_id AND i.kind = 'email'
);
-- A contact's address is verified when it is one of its e-mail identities, or when no
-- widget identity brought it with the contact (it came by e-mail or from an agent).
UPDATE contacts SET email_verified = 0 WHERE email <> ''
  AND NOT EXISTS (SELECT 1 FROM identities i WHERE i.contact_id = contacts.id AND i.kind = 'email' AND i.scope = '' AND i.external_id = lower(contacts.email))
  AND EXISTS (SELECT 1 FROM identities i WHERE i.contact_id = contacts.id AND i.kind = 'chat_user' AND i.created_at = contacts.created_at);
-- and its name when the widget identity brought it with the contact
UPDATE contacts SET name_verified = 0 WHERE name <> ''
  AND EXISTS (SELECT 1 FROM identities i WHERE i.contact_id = contacts.id AND i.kind = 'chat_user' AND i.created_at = contacts.created_at AND i.name = contacts.name);
