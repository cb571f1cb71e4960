// Data requests page: every GDPR request by what is due first, with the days left (red
// when overdue, amber within 7 days) and the rule that made the date; suggestions Kibo
// found in messages on top, to confirm or dismiss; and the work on a request: assign,
// verify identity, extend (with the notice to the customer), complete, refuse, export,
// erase. Built on window.K (app.js); customer data reaches the DOM only as text.
'use strict';
(function () {
  const K = window.K, h = K.h;
  const listEl = document.getElementById('dr-list');
  const sugEl = document.getElementById('dr-suggested');
  const statusSel = document.getElementById('dr-status');
  const typeSel = document.getElementById('dr-type');
  const summary = document.getElementById('dr-summary');
  const isAdmin = K.me && K.me.role === 'admin';
  const TYPES = {
    access: 'Access (Art. 15)', rectification: 'Rectification (Art. 16)', erasure: 'Erasure (Art. 17)',
    restriction: 'Restriction (Art. 18)', portability: 'Portability (Art. 20)', objection: 'Objection (Art. 21)', other: 'Other',
  };
  const SHORT = { access: 'Access', rectification: 'Rectification', erasure: 'Erasure', restriction: 'Restriction', portability: 'Portability', objection: 'Objection', other: 'Other' };
  const STATUS = { suggested: 'Suggested', open: 'Open', verifying: 'Verifying identity', extended: 'Extended', completed: 'Completed', refused: 'Refused', dismissed: 'Dismissed' };
  let agents = {};
  let target = 0; // a request to show (from a notification link: #dr-12)

  // ---- filters in the URL: #status=active&type=erasure, or #dr-12 ---------------------

  function readHash() {
    const hs = location.hash.slice(1);
    const m = /^dr-(\d+)$/.exec(hs);
    if (m) { target = Number(m[1]); statusSel.value = ''; return; }
    const p = new URLSearchParams(hs);
    if (p.has('status')) statusSel.value = p.get('status');
    if (p.has('type')) typeSel.value = p.get('type');
  }
  function writeHash() {
    const p = new URLSearchParams();
    p.set('status', statusSel.value);
    if (typeSel.value) p.set('type', typeSel.value);
    history.replaceState(null, '', '#' + p.toString());
  }
  function markNav() {
    for (const a of document.querySelectorAll('.nav-item[data-status]')) {
      a.classList.toggle('active', a.dataset.status === statusSel.value);
    }
  }

  // ---- loading ------------------------------------------------------------------------

  let loading = null, again = false;
  async function load() {
    if (loading) { again = true; return loading; }
    loading = (async () => {
      try {
        const type = typeSel.value;
        const q = (status) => '/data-requests?limit=500&status=' + encodeURIComponent(status) + (type ? '&type=' + encodeURIComponent(type) : '');
        const status = statusSel.value;
        const [sug, list, counts] = await Promise.all([
          K.api('GET', q('suggested')),
          status === 'suggested' ? Promise.resolve({ data_requests: [] }) : K.api('GET', q(status)),
          K.api('GET', '/data-requests/counts'),
        ]);
        renderCounts(counts);
        renderSuggested(sug.data_requests || []);
        renderList(status === 'suggested' ? [] : (list.data_requests || []).filter((d) => d.status !== 'suggested'), status);
      } catch (e) {
        K.clear(listEl).appendChild(h('div', { class: 'alert alert-error' }, e.message || String(e)));
      } finally {
        loading = null;
        if (again) { again = false; load(); }
      }
    })();
    return loading;
  }
  let reloadTimer = 0;
  const reloadSoon = () => { clearTimeout(reloadTimer); reloadTimer = setTimeout(load, 250); };

  function renderCounts(c) {
    const set = (id, n) => { const el = document.getElementById(id); if (el) el.textContent = n ? String(n) : ''; };
    set('count-active', c.active);
    set('count-suggested', c.suggested);
    if (K.setDataRequestCounts) K.setDataRequestCounts(c);
    const parts = [];
    if (c.overdue) parts.push(c.overdue + ' overdue');
    if (c.due_soon) parts.push(c.due_soon + ' due within 7 days');
    parts.push(c.active + ' active');
    if (c.suggested) parts.push(c.suggested + ' to confirm');
    summary.textContent = parts.join(' · ');
  }

  // ---- what a request shows -------------------------------------------------------------

  function daysLabel(d) {
    if (d.days_left == null) return null;
    const n = d.days_left;
    let text = n < 0 ? (-n === 1 ? '1 day overdue' : -n + ' days overdue') : n === 0 ? 'due today' : n === 1 ? '1 day left' : n + ' days left';
    return h('span', { class: ['badge', n < 0 ? 'badge-err' : n <= 7 ? 'badge-warn' : 'badge-ok'] }, text);
  }
  function dueCell(d) {
    const due = d.extended_due_at || d.due_at;
    return h('td', { class: 'dr-due' },
      h('time', { datetime: due, title: 'Due by ' + K.time.full(due) + ' (your time)' }, K.time.full(due)), ' ', daysLabel(d),
      h('span', { class: 'dr-rule' }, d.extended_due_at
        ? 'extended from ' + K.time.full(d.due_at) + ' (' + d.due_rule + ')'
        : d.due_rule + ' after receipt on ' + K.time.full(d.received_at)));
  }
  function who(d) {
    if (!d.contact) return h('span', { class: 'muted', title: d.subject_ref || '' }, 'erased');
    const label = d.contact.name || d.contact.email || 'Contact ' + d.contact.id;
    return h('span', { class: 'dr-who' },
      h('a', { href: '/contacts/' + d.contact.id }, label),
      d.contact.name && d.contact.email ? h('span', { class: 'muted' }, ' · ' + d.contact.email) : null);
  }
  function convLink(d) {
    if (!d.conversation_id) return h('span', { class: 'muted' }, '—');
    return h('a', { href: '/inbox#c/' + d.conversation_id }, '#' + (d.conversation_number || d.conversation_id));
  }

  // ---- suggestions ----------------------------------------------------------------------

  function renderSuggested(list) {
    K.clear(sugEl);
    if (!list.length) return;
    const block = h('section', { class: 'dr-suggested-block', 'aria-label': 'Suggested data requests' },
      h('h2', { class: 'muted', style: { fontSize: '13px', margin: '0 0 8px' } }, 'Kibo thinks these messages are data requests: confirm or dismiss'));
    for (const d of list) {
      const typeSelect = h('select', { 'aria-label': 'Type of request' },
        Object.entries(TYPES).map(([v, label]) => h('option', { value: v, selected: v === d.type }, label)));
      block.appendChild(h('div', { class: 'card dr-suggest', id: 'dr-' + d.id },
        h('div', { class: 'card-body' },
          h('div', null,
            h('div', null, h('strong', null, (TYPES[d.type] || d.type) + '?'), ' ',
              h('span', { class: 'muted' }, Math.round((d.confidence || 0) * 100) + '% sure · '), who(d), ' · ', convLink(d)),
            d.evidence ? h('p', { class: 'dr-evidence' }, '“' + d.evidence + '”') : null,
            h('div', { class: 'muted' }, 'Received ', K.time.full(d.received_at), ' · due ', K.time.full(d.due_at), ' ', daysLabel(d))),
          h('div', { class: 'conv-actions' },
            typeSelect,
            h('button', { type: 'button', class: 'btn btn-primary btn-sm', onclick: (e) => patch(e.currentTarget, d, { status: 'open', type: typeSelect.value }, 'Confirmed: the deadline runs from the message') }, 'Confirm'),
            h('button', { type: 'button', class: 'btn btn-secondary btn-sm', onclick: (e) => patch(e.currentTarget, d, { status: 'dismissed' }, 'Dismissed') }, 'Dismiss')))));
    }
    sugEl.appendChild(block);
  }

  // ---- the list -------------------------------------------------------------------------

  function renderList(list, status) {
    K.clear(listEl);
    if (!list.length) {
      listEl.appendChild(h('div', { class: 'empty' }, h('p', null,
        status === 'active' ? 'No open data requests. Requests Kibo finds in messages appear above for you to confirm; open one from any conversation.' : 'Nothing here.')));
      return;
    }
    const rows = list.map((d) => {
      const n = d.days_left;
      const tr = h('tr', { id: 'dr-' + d.id, class: ['dr-row', n != null && n < 0 && 'dr-overdue', n != null && n >= 0 && n <= 7 && 'dr-soon', d.id === target && 'dr-target'] },
        dueCell(d),
        h('td', { title: TYPES[d.type] || d.type }, SHORT[d.type] || d.type),
        h('td', null, who(d)),
        h('td', null, convLink(d)),
        h('td', null, h('span', { class: 'badge' }, STATUS[d.status] || d.status)),
        h('td', null, d.assignee_id ? (agents[d.assignee_id] ? agents[d.assignee_id].name : 'Agent ' + d.assignee_id) : h('span', { class: 'muted' }, 'nobody')),
        h('td', { class: 'actions' }, actionsButton(d)));
      return tr;
    });
    listEl.appendChild(h('div', { class: 'card dr-table-wrap' }, h('table', { class: 'table dr-table' },
      h('thead', null, h('tr', null, h('th', null, 'Due'), h('th', null, 'Type'), h('th', null, 'Person'), h('th', null, 'Conversation'),
        h('th', null, 'State'), h('th', null, 'Handled by'), h('th', null, h('span', { class: 'muted' }, '')))),
      h('tbody', null, rows))));
    if (target) {
      const el = document.getElementById('dr-' + target);
      if (el) el.scrollIntoView({ block: 'center' });
    }
  }

  function actionsButton(d) {
    const b = h('button', { type: 'button', class: 'btn btn-secondary btn-sm', 'aria-haspopup': 'menu' }, 'Actions', K.icon('chevronDown'));
    b.addEventListener('click', () => {
      const open = d.status !== 'completed' && d.status !== 'refused' && d.status !== 'dismissed';
      const items = [];
      if (open) {
        if (!K.me || d.assignee_id !== K.me.id) items.push({ label: 'Assign to me', icon: 'user', onSelect: () => patch(null, d, { assignee_id: K.me.id }, 'Assigned to you') });
        if (d.status !== 'verifying') items.push({ label: 'Waiting for identity verification', icon: 'clock', onSelect: () => patch(null, d, { status: 'verifying' }, 'Marked as verifying: the deadline does not move') });
        if (d.status === 'verifying') items.push({ label: d.extended_due_at ? 'Back to extended' : 'Identity verified', icon: 'check', onSelect: () => patch(null, d, { status: d.extended_due_at ? 'extended' : 'open' }) });
        if (!d.extended_due_at && !(d.days_left < 0)) items.push({ label: 'Extend…', icon: 'clock', onSelect: () => extendDialog(d) });
        items.push({ label: 'Complete', icon: 'checkCircle', onSelect: () => patch(null, d, { status: 'completed' }, 'Completed') });
        items.push({ label: 'Refuse', icon: 'close', onSelect: () => refuse(d) });
      } else {
        items.push({ label: 'Reopen', icon: 'retry', onSelect: () => patch(null, d, { status: 'open' }, 'Reopened') });
      }
      items.push('sep');
      items.push({ label: 'History', icon: 'note', onSelect: () => historyDialog(d) });
      if (d.contact) {
        items.push({ label: 'Export their data (ZIP)', icon: 'external', onSelect: () => { location.href = '/api/v1/contacts/' + d.contact.id + '/export?format=zip'; } });
        if (isAdmin) items.push({ label: 'Erase this person…', icon: 'trash', danger: true, onSelect: () => eraseDialog(d) });
      }
      K.menu(b, items, { alignRight: true, keyboard: true });
    });
    return b;
  }

  async function patch(button, d, body, ok) {
    const r = await K.run(button, () => K.api('PATCH', '/data-requests/' + d.id, body), ok);
    if (r) load();
    return r;
  }

  async function refuse(d) {
    if (await K.confirm('Refuse this request?', 'Refuse only when the request is manifestly unfounded or excessive (Art. 12(5) GDPR), and tell the person why and that they may complain to a supervisory authority.', 'Refuse', true)) {
      patch(null, d, { status: 'refused' }, 'Refused');
    }
  }

  // ---- dialogs ------------------------------------------------------------------------

  function extendDialog(d) {
    const months = h('select', null, h('option', { value: '2' }, 'by 2 months'), h('option', { value: '1' }, 'by 1 month'));
    const reason = h('textarea', { rows: 3, placeholder: 'Why it takes longer: the customer reads this', required: true });
    const notify = h('input', { type: 'checkbox', checked: true });
    const preview = h('div', { class: 'dr-preview' }, 'Write the reason to see the message.');
    let timer = 0;
    const refresh = () => {
      clearTimeout(timer);
      timer = setTimeout(async () => {
        try {
          const r = await K.api('GET', '/data-requests/' + d.id + '/draft?kind=extension&months=' + months.value + '&reason=' + encodeURIComponent(reason.value));
          preview.textContent = r.text;
        } catch (e) { preview.textContent = e.message; }
      }, 250);
    };
    reason.addEventListener('input', refresh);
    months.addEventListener('change', refresh);
    refresh();
    K.dialog({
      title: 'Extend the deadline', wide: true,
      body: h('div', { class: 'dr-dialog' },
        h('p', { class: 'dialog-text' }, 'Art. 12(3) GDPR allows one extension of up to two further months, only before the first deadline, and the person must be told why. Due now: ' + K.time.full(d.due_at) + '.'),
        K.field('Extend', months),
        K.field('Reason', reason),
        h('label', { class: 'dr-check' }, notify, 'Send this message to the customer on their channel'),
        preview),
      actions: [
        { label: 'Cancel' },
        {
          label: 'Extend', primary: true, submit: true, onClick: async (btn) => {
            if (!reason.value.trim()) { K.toast('Give the reason: the customer must be told why.'); reason.focus(); return false; }
            const r = await patch(btn, d, { status: 'extended', extend_reason: reason.value.trim(), extend_months: Number(months.value), notify: notify.checked }, 'Extended');
            return r ? undefined : false;
          },
        },
      ],
    });
  }

  async function historyDialog(d) {
    const full = await K.run(null, () => K.api('GET', '/data-requests/' + d.id));
    if (!full) return;
    K.dialog({
      title: 'Request ' + d.id + ': history', wide: true,
      body: h('ol', { class: 'dr-history' }, (full.history || []).map((e) => h('li', null,
        h('span', { class: 'muted' }, K.time.full(e.at) + ' · ' + (e.agent_name || (e.agent_id ? 'Agent ' + e.agent_id : 'Kibo')) + ': '), e.change))),
    });
  }

  function eraseDialog(d) {
    const name = (d.contact && d.contact.name || '').trim();
    const input = h('input', { type: 'text', autocomplete: 'off', spellcheck: 'false', placeholder: name ? name + ' or ERASE' : 'ERASE' });
    const notify = h('input', { type: 'checkbox', checked: !!d.conversation_id });
    let go = null;
    const matches = () => input.value.trim() === 'ERASE' || (name !== '' && input.value.trim() === name);
    input.addEventListener('input', () => { if (go) go.disabled = !matches(); });
    const dlg = K.dialog({
      title: 'Erase this person', wide: true,
      body: h('div', { class: 'dr-dialog' },
        h('div', { class: 'alert alert-error' }, 'This deletes the contact, every identity, conversation and message on every channel, their attachments, the search index entries and raw e-mails and webhook bodies. It cannot be undone. The audit log keeps that an erasure happened, under a pseudonym.'),
        d.type !== 'erasure' ? h('p', { class: 'dialog-text' }, 'This request is for ' + (TYPES[d.type] || d.type) + ', not erasure: the request stays open.') : null,
        h('label', { class: 'dr-check' }, notify, 'First send the customer the confirmation that their data is erased (sent before anything is deleted)'),
        K.field(name ? 'Type their name, “' + name + '”, or ERASE to confirm' : 'Type ERASE to confirm', input)),
      actions: [
        { label: 'Cancel' },
        {
          label: 'Erase', danger: true, submit: true, onClick: async (btn) => {
            if (!matches()) { input.focus(); return false; }
            const body = { confirm: true, notify: notify.checked };
            if (d.type === 'erasure') body.data_request_id = d.id;
            const r = await K.run(btn, () => K.api('POST', '/contacts/' + d.contact.id + '/erase', body), 'Erased. The request is kept, under a pseudonym.');
            if (!r) return false;
            load();
            return undefined;
          },
        },
      ],
    });
    go = dlg.el.querySelector('.btn-danger');
    if (go) go.disabled = true;
    input.focus();
  }

  // ---- start ----------------------------------------------------------------------------

  readHash();
  markNav();
  statusSel.addEventListener('change', () => { target = 0; writeHash(); markNav(); load(); });
  typeSel.addEventListener('change', () => { target = 0; writeHash(); load(); });
  addEventListener('hashchange', () => { readHash(); markNav(); load(); });
  K.api('GET', '/agents').then((r) => {
    for (const a of (r && r.agents) || []) agents[a.id] = a;
    load();
  }, () => load());
  K.live({
    onEvent(ev) {
      if (ev.type === 'data_request.updated' || ev.type === 'contact.erased' || ev.type === 'resync') reloadSoon();
    },
    onOpen() { reloadSoon(); },
  });
  setInterval(load, 5 * 60 * 1000); // days left change at midnight
})();
