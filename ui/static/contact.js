// Kibo contact page: one person across channels, every identity and every
// conversation, editing the name and e-mail, and merging a duplicate into this contact.
'use strict';
(function () {
  const { h, icon, api } = K;
  const root = document.getElementById('contact');
  const $body = document.getElementById('contact-body');
  const id = Number(root.dataset.contactId);
  const STATUS = { open: 'Open', pending: 'Pending', snoozed: 'Snoozed', resolved: 'Resolved' };
  const displayName = (c) => c.name || c.email || 'Contact ' + c.id;
  const plural = (n, one, many) => n + ' ' + (n === 1 ? one : many);

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
        h('h1', { id: 'contact-name' }, displayName(c)),
        h('span', { class: 'person-sub', id: 'contact-email' }, c.email || 'No e-mail address'),
        h('span', { class: 'person-sub' }, plural(convs.length, 'conversation', 'conversations') + (channels.length ? ' on ' + channels.map(K.channelName).join(', ') : '') + (c.created_at ? ' · known since ' + K.time.full(c.created_at).split(' at ')[0] : ''))),
      h('div', { class: 'edit-inline' },
        h('button', { type: 'button', class: 'btn btn-secondary', id: 'edit-contact', onclick: () => edit(c) }, icon('edit'), 'Edit'),
        h('button', { type: 'button', class: 'btn btn-secondary', id: 'merge-contact', onclick: () => merge(c) }, icon('merge'), 'Merge with…'))));

    const identCard = h('div', { class: 'card', id: 'identities' },
      h('div', { class: 'card-head' }, h('h2', null, 'Identities'), h('span', { class: 'muted' }, String(idents.length))),
      idents.length ? idents.map((i) => h('div', { class: 'ident', 'data-kind': i.kind },
        K.channelIcon(chan(i.kind)),
        h('div', { class: 'ident-text' },
          h('span', null, i.handle || i.name || i.external_id),
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
          h('span', { class: 'person-name' }, displayName(o)), h('span', { class: 'person-sub' }, o.email || 'No e-mail'))))
          : [h('div', { class: 'menu-empty' }, 'No other contact matches.')]));
      }, 220);
    });
    const d = K.dialog({
      title: 'Merge another contact into ' + displayName(c),
      body: h('div', null, h('p', { class: 'dialog-text', style: { marginBottom: '12px' } }, 'Pick the duplicate. Its identities and conversations move here, and it disappears.'), q, results),
      actions: [{ label: 'Cancel' }],
    });
  }

  async function confirmMerge(c, other) {
    let o = other;
    try { o = await api('GET', '/contacts/' + other.id); } catch (e) { K.toast(e.message); return; }
    const ni = (o.identities || []).length, nc = (o.conversations || []).length;
    const text = displayName(o) + '’s ' + plural(ni, 'identity', 'identities') + ' and ' + plural(nc, 'conversation', 'conversations') + ' move to ' + displayName(c) + '; this can’t be undone.';
    K.dialog({
      title: 'Merge ' + displayName(o) + '?',
      body: h('p', { class: 'dialog-text', id: 'merge-confirm-text' }, text),
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
