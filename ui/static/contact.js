// Kibo contact page: one person across channels, every identity and every
// conversation, editing the name and e-mail, merging a duplicate into this contact, and
// the GDPR work on the person: export everything (ZIP) and, for admins, erase them.
'use strict';
(function () {
  const { h, icon, api } = K;
  const root = document.getElementById('contact');
  const $body = document.getElementById('contact-body');
  const id = Number(root.dataset.contactId);
  const STATUS = { open: 'Open', pending: 'Pending', snoozed: 'Snoozed', resolved: 'Resolved' };
  const displayName = (c) => c.name || c.email || 'Contact ' + c.id;
  const plural = (n, one, many) => n + ' ' + (n === 1 ? one : many);
  const isAdmin = K.me && K.me.role === 'admin';
  const exportURL = (cid) => '/api/v1/contacts/' + cid + '/export?format=zip';

  async function load() {
    let c;
    try { c = await api('GET', '/contacts/' + id); } catch (e) {
      $body.replaceChildren(h('div', { class: 'empty' }, h('div', { class: 'empty-art' }, icon('alert')), h('p', null, e.message)));
      return;
    }
    render(c);
  }

  function render(c) {
    document.title = displayName(c) + ' · Kibo';
    const idents = c.identities || [];
    const convs = (c.conversations || []).slice().sort((a, b) => (Date.parse(b.last_message_at) || 0) - (Date.parse(a.last_message_at) || 0));
    const chan = (k) => (k === 'visitor' || k === 'chat_user' ? 'chat' : k);
    const channels = Array.from(new Set(idents.map((i) => chan(i.kind))));

    const hero = h('div', { class: 'card' }, h('div', { class: 'contact-hero', id: 'contact-hero' },
      K.avatar(displayName(c), { seed: c.id, size: 'lg' }),
      h('div', { class: 'person-text' },
        h('h1', { id: 'contact-name' }, displayName(c), c.name && c.name_verified === false ? K.unverified('name') : null),
        h('span', { class: 'person-sub', id: 'contact-email' }, c.email || 'No e-mail address', c.email && c.email_verified === false ? K.unverified('address') : null),
        h('span', { class: 'person-sub' }, plural(convs.length, 'conversation', 'conversations') + (channels.length ? ' on ' + channels.map(K.channelName).join(', ') : '') + (c.created_at ? ' · known since ' + K.time.full(c.created_at).split(' at ')[0] : ''))),
      h('div', { class: 'edit-inline' },
        h('button', { type: 'button', class: 'btn btn-secondary', id: 'edit-contact', onclick: () => edit(c) }, icon('edit'), 'Edit'),
        h('button', { type: 'button', class: 'btn btn-secondary', id: 'merge-contact', onclick: () => merge(c) }, icon('merge'), 'Merge with…'),
        h('a', { class: 'btn btn-secondary', id: 'export-contact', href: exportURL(c.id), download: 'kibo-contact-' + c.id + '.zip', title: 'Everything Kibo holds about this person, as a ZIP of JSON files, attachments and a readable summary (GDPR Art. 15/20)', onclick: () => K.toast('Preparing the export… the download starts in a moment.', 'info') }, icon('download'), 'Export'),
        isAdmin ? h('button', { type: 'button', class: 'btn btn-secondary btn-danger-text', id: 'erase-contact', title: 'Erase this person everywhere (GDPR Art. 17)', onclick: () => erase(c) }, icon('trash'), 'Erase…') : null)));

    const identCard = h('div', { class: 'card', id: 'identities' },
      h('div', { class: 'card-head' }, h('h2', null, 'Identities'), h('span', { class: 'muted' }, String(idents.length))),
      idents.length ? idents.map((i) => h('div', { class: 'ident', 'data-kind': i.kind },
        K.channelIcon(chan(i.kind)),
        h('div', { class: 'ident-text' },
          h('span', null, i.handle || i.name || i.external_id, i.name && i.name_verified === false && !i.handle ? K.unverified('name') : null),
          i.email && i.kind !== 'email' ? h('span', { class: 'ident-id' }, i.email, i.email_verified === false ? K.unverified('address') : null) : null,
          h('span', { class: 'ident-id', title: i.external_id }, (i.kind === 'visitor' ? 'Chat visitor (anonymous)' : i.kind === 'chat_user' ? 'Chat, signed in as ' + i.external_id : K.channelName(i.kind) + (i.external_id && i.external_id !== (i.handle || i.name) ? ' · ' + i.external_id : ''))))))
        : h('div', { class: 'empty' }, h('p', null, 'No channel identities.')));

    const convCard = h('div', { class: 'card', id: 'contact-conversations' },
      h('div', { class: 'card-head' }, h('h2', null, 'Conversations'), h('span', { class: 'muted' }, 'every channel')),
      convs.length ? convs.map((v) => h('a', { class: 'cconv', href: '/inbox#c/' + v.id, 'data-id': v.id },
        K.channelIcon(v.channel),
        h('div', { class: 'cconv-main' },
          h('div', { class: 'cconv-subject' }, h('span', { class: 'conv-num' }, '#' + v.number), (v.subject || '').trim() || (v.preview || '').trim() || 'No subject'),
          v.subject && v.preview ? h('div', { class: 'cconv-preview' }, v.preview) : null),
        h('span', { class: 'badge st-' + v.status }, STATUS[v.status] || v.status),
        K.relTime(v.last_message_at)))
        : h('div', { class: 'empty' }, h('p', null, 'No conversations yet.')));

    $body.replaceChildren(hero, h('div', { class: 'contact-grid' }, identCard, convCard));
  }

  function edit(c) {
    const name = h('input', { id: 'contact-edit-name', value: c.name || '', autofocus: true });
    const email = h('input', { id: 'contact-edit-email', type: 'email', value: c.email || '' });
    K.dialog({
      title: 'Edit contact',
      body: h('div', null, K.field('Name', name), K.field('E-mail', email, 'Replies by e-mail go to this address.')),
      actions: [{ label: 'Cancel' }, {
        label: 'Save', primary: true, submit: true, onClick: async (b) => {
          const r = await K.run(b, () => api('PATCH', '/contacts/' + c.id, { name: name.value.trim(), email: email.value.trim() }), 'Saved');
          if (!r) return false;
          load();
          return true;
        },
      }],
    });
  }

  function merge(c) {
    const q = h('input', { type: 'search', id: 'merge-search', placeholder: 'Search by name or e-mail…', autocomplete: 'off', autofocus: true });
    const results = h('div', { class: 'pick-list', id: 'merge-results' }, h('div', { class: 'menu-empty' }, 'Type to find the duplicate contact.'));
    let timer = 0, seq = 0;
    q.addEventListener('input', () => {
      clearTimeout(timer);
      timer = setTimeout(async () => {
        const s = ++seq, text = q.value.trim();
        if (!text) { results.replaceChildren(h('div', { class: 'menu-empty' }, 'Type to find the duplicate contact.')); return; }
        let r;
        try { r = await api('GET', '/contacts?q=' + encodeURIComponent(text)); } catch (e) { K.toast(e.message); return; }
        if (s !== seq) return;
        const list = (r.contacts || []).filter((o) => o.id !== c.id);
        results.replaceChildren(...(list.length ? list.map((o) => h('button', {
          type: 'button', class: 'pick', 'data-id': o.id, onclick: () => { d.close(); confirmMerge(c, o); },
        }, K.avatar(displayName(o), { seed: o.id, size: 'sm' }), h('div', { class: 'person-text' },
          h('span', { class: 'person-name' }, displayName(o)), h('span', { class: 'person-sub' }, o.email || 'No e-mail', o.email && o.email_verified === false ? K.unverified('address') : null))))
          : [h('div', { class: 'menu-empty' }, 'No other contact matches.')]));
      }, 220);
    });
    const d = K.dialog({
      title: 'Merge another contact into ' + displayName(c),
      body: h('div', null, h('p', { class: 'dialog-text', style: { marginBottom: '12px' } }, 'Pick the duplicate. Its identities and conversations move here, and it disappears.'), q, results),
      actions: [{ label: 'Cancel' }],
    });
  }

  // ---- erasure

  async function erase(c) {
    // an open erasure request of this person is completed by the erasure
    let req = null;
    try {
      const r = await api('GET', '/data-requests?contact=' + c.id + '&status=active&type=erasure&limit=5');
      req = (r.data_requests || [])[0] || null;
    } catch (e) { /* erase without completing a request */ }
    const name = (c.name || '').trim();
    const convs = (c.conversations || []).length, idents = (c.identities || []).length;
    const input = h('input', { type: 'text', id: 'erase-confirm', autocomplete: 'off', spellcheck: 'false', placeholder: name ? name + ' or ERASE' : 'ERASE' });
    const notify = h('input', { type: 'checkbox', id: 'erase-notify', checked: !!req, disabled: !convs });
    const ok = () => input.value.trim() === 'ERASE' || (name !== '' && input.value.trim() === name);
    let go = null;
    input.addEventListener('input', () => { if (go) go.disabled = !ok(); });
    const d = K.dialog({
      title: 'Erase ' + displayName(c) + '?', wide: true,
      body: h('div', { class: 'erase-dialog' },
        h('div', { class: 'alert alert-error' }, h('b', null, 'This can’t be undone. '),
          'Kibo deletes the contact, ' + plural(idents, 'identity', 'identities') + ', ' + plural(convs, 'conversation', 'conversations') +
          ' with every message on every channel, their attachments on disk, the search index entries, queued outgoing messages, and the raw e-mails and webhook bodies they came in. The audit log keeps that an erasure happened, when and by whom, under a pseudonym, without the personal data.'),
        h('p', { class: 'dialog-text' }, 'Need a copy first? ', h('a', { href: exportURL(c.id), download: '' }, 'Export their data'), ' before you erase.'),
        req ? h('p', { class: 'dialog-text', id: 'erase-request' }, 'This completes their erasure request #' + req.id + ', due ' + K.time.full(req.effective_due_at || req.due_at) + '.') : null,
        h('label', { class: 'check-row' }, notify, h('span', null, 'First send them the confirmation that their data is erased', convs ? null : h('span', { class: 'muted' }, ' (no conversation to send it on)'))),
        K.field(name ? 'Type their name, “' + name + '”, or ERASE to confirm' : 'Type ERASE to confirm', input)),
      actions: [{ label: 'Cancel' }, {
        label: 'Erase for good', danger: true, submit: true, onClick: async (b) => {
          if (!ok()) { input.focus(); return false; }
          const body = { confirm: true };
          if (notify.checked && convs) body.notify = true;
          if (req) body.data_request_id = req.id;
          const r = await K.run(b, () => api('POST', '/contacts/' + c.id + '/erase', body));
          if (!r) return false;
          erased(c, r);
          return true;
        },
      }],
    });
    go = d.el.querySelector('.btn-danger');
    if (go) go.disabled = true;
    input.focus();
  }

  // erased shows what went, then goes back to the inbox: the page has no one to show.
  function erased(c, r) {
    const rows = [
      ['Conversations', r.conversations], ['Messages', r.messages], ['Identities', r.identities],
      ['Attachments', r.attachments], ['Files deleted from disk', r.files_deleted], ['Raw e-mails and webhook bodies', r.raw_sources], ['Queued outgoing messages', r.outbox],
    ];
    K.put($body, h('div', { class: 'card', id: 'erase-result' },
      h('div', { class: 'card-head' }, h('h2', null, 'Erased'), h('span', { class: 'badge badge-ok' }, icon('check'), 'Done')),
      h('div', { class: 'card-body' },
        h('p', { style: { margin: '0 0 12px' } }, 'The person is gone from Kibo. The audit log records the erasure as ', h('code', { class: 'mono' }, r.pseudonym || 'a pseudonym'), '.'),
        h('table', { class: 'table erase-table' }, h('tbody', null, rows.map(([k, v]) => h('tr', null, h('td', null, k), h('td', { class: 'num' }, String(v || 0)))))),
        (r.data_requests || []).length ? h('p', { class: 'muted', style: { margin: '12px 0 0' } }, 'Their data requests are kept under the pseudonym: ', h('a', { href: '/data-requests' }, 'see data requests'), '.') : null),
      h('div', { class: 'card-foot' }, h('a', { class: 'btn btn-primary', href: '/inbox', id: 'erase-back' }, 'Back to the inbox'))));
    document.title = 'Erased · Kibo';
    K.toast('Erased. Going back to the inbox…', 'ok', { ms: 4000 });
    setTimeout(() => { location.href = '/inbox'; }, 6000);
  }

  async function confirmMerge(c, other) {
    let o = other;
    try { o = await api('GET', '/contacts/' + other.id); } catch (e) { K.toast(e.message); return; }
    const ni = (o.identities || []).length, nc = (o.conversations || []).length;
    const text = displayName(o) + '’s ' + plural(ni, 'identity', 'identities') + ' and ' + plural(nc, 'conversation', 'conversations') + ' move to ' + displayName(c) + '; this can’t be undone.';
    K.dialog({
      title: 'Merge ' + displayName(o) + '?',
      body: h('div', null, h('p', { class: 'dialog-text', id: 'merge-confirm-text' }, text),
        [c, o].some((x) => x.email && x.email_verified === false)
          ? h('p', { class: 'dialog-text', id: 'merge-unverified' }, K.unverified('address'), ' An address a visitor typed proves nothing: merge only when you know these are the same person, or they will see each other’s chats.')
          : null),
      actions: [{ label: 'Cancel' }, {
        label: 'Merge', danger: true, onClick: async (b) => {
          const r = await K.run(b, () => api('POST', '/contacts/' + c.id + '/merge', { other_id: o.id }), 'Merged ' + displayName(o) + ' into ' + displayName(c));
          if (!r) return false;
          load();
          return true;
        },
      }],
    });
  }

  load();
})();
