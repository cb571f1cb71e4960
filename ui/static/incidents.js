// Incidents page: declare an incident (or plan maintenance), post updates, and see how
// far each update reached, per channel, with what failed. Built on window.K (app.js);
// text reaches the DOM only as text nodes.
'use strict';
(function () {
  const K = window.K, h = K.h;
  const list = document.getElementById('incident-list');
  const declareBtn = document.getElementById('declare');
  const isAdmin = K.me && K.me.role === 'admin';
  const STATES = ['investigating', 'identified', 'monitoring', 'resolved'];
  const STATE_WORDS = { investigating: 'Investigating', identified: 'Identified', monitoring: 'Monitoring', resolved: 'Resolved', scheduled: 'Planned maintenance' };
  const CHANNELS = { email: 'E-mail', messenger: 'Messenger', x: 'X', chat: 'Chat' };
  let details = {};

  // datetime-local ↔ RFC 3339
  const toLocalInput = (iso) => {
    if (!iso) return '';
    const d = new Date(iso), p = (n) => String(n).padStart(2, '0');
    return d.getFullYear() + '-' + p(d.getMonth() + 1) + '-' + p(d.getDate()) + 'T' + p(d.getHours()) + ':' + p(d.getMinutes());
  };
  const fromLocalInput = (v) => (v ? new Date(v).toISOString() : null);

  async function load() {
    const data = await K.api('GET', '/incidents');
    const incs = data.incidents || [];
    // delivery figures for what is not long over
    await Promise.all(incs.filter((i) => i.phase !== 'past').slice(0, 10).map(async (i) => {
      try { details[i.id] = await K.api('GET', '/incidents/' + i.id); } catch (e) { /* shown without figures */ }
    }));
    render(incs);
  }

  function render(incs) {
    K.clear(list);
    if (!incs.length) {
      list.appendChild(h('div', { class: 'empty' }, h('p', null, 'No incidents yet. When something breaks, declare one here: customers hear it from you first.')));
      return;
    }
    for (const inc of incs) list.appendChild(card(details[inc.id] || inc));
  }

  function card(inc) {
    const el = h('section', { class: ['card', 'inc', 'inc-' + inc.phase] });
    const eta = inc.eta && inc.state !== 'resolved' ? 'ETA ' + K.time.short(inc.eta) : '';
    const when = inc.scheduled_start ? K.time.short(inc.scheduled_start) + ' – ' + K.time.short(inc.scheduled_end) : 'since ' + K.time.short(inc.created_at);
    el.appendChild(h('div', { class: 'card-body' },
      h('div', { class: 'inc-head' },
        h('h2', { class: 'inc-title' }, inc.title),
        h('span', { class: 'inc-state' }, (STATE_WORDS[inc.state] || inc.state) + (inc.phase === 'upcoming' ? ' (upcoming)' : ''))),
      h('p', { class: 'muted' }, [when, eta, inc.impact, 'audience: ' + inc.audience, (inc.services || []).join(', ')].filter(Boolean).join(' · ')),
      delivery(inc),
      h('ol', { class: 'inc-updates' }, (inc.updates || []).map((u) => h('li', null,
        h('span', { class: 'muted' }, (STATE_WORDS[u.state] || u.state) + ' · ' + K.time.full(u.created_at)),
        h('p', null, u.text)))),
      isAdmin && inc.phase !== 'past' ? h('div', { class: 'inc-actions' },
        h('button', { type: 'button', class: 'btn btn-secondary btn-sm', onclick: () => updateDialog(inc) }, 'Post an update'),
        h('button', { type: 'button', class: 'btn btn-secondary btn-sm', onclick: () => updateDialog(inc, 'resolved') }, 'Resolve'),
        h('a', { class: 'btn btn-ghost btn-sm', href: '/inbox#tag=incident-' + inc.id }, 'Conversations during it')) : null));
    return el;
  }

  function delivery(inc) {
    const d = inc.delivery;
    if (!d) return null;
    const rows = [];
    const head = h('tr', null, h('th', null, 'Channel'), h('th', null, 'Queued'), h('th', null, 'Retrying'), h('th', null, 'Sent'), h('th', null, 'Failed'), h('th', null, 'Skipped'));
    rows.push(h('tr', null, h('td', null, 'Chat widgets (live)'), h('td'), h('td'), h('td', null, String(d.widgets_reached || 0)), h('td'), h('td')));
    for (const ch of Object.keys(d.by_channel || {}).sort()) {
      const c = d.by_channel[ch];
      rows.push(h('tr', null, h('td', null, CHANNELS[ch] || ch), h('td', null, String(c.queued)), h('td', null, String(c.retrying)), h('td', null, String(c.sent)), h('td', null, String(c.failed)), h('td', null, String(c.skipped))));
    }
    const a = d.auto_replies || {};
    if (a.queued || a.sent || a.failed || a.retrying) {
      rows.push(h('tr', null, h('td', null, 'Auto-replies to new tickets'), h('td', null, String(a.queued)), h('td', null, String(a.retrying)), h('td', null, String(a.sent)), h('td', null, String(a.failed)), h('td', null, String(a.skipped))));
    }
    const fails = (d.failures || []).slice(0, 10);
    return h('div', null,
      h('table', { class: 'table inc-delivery' }, h('thead', null, head), h('tbody', null, rows)),
      fails.length ? h('ul', { class: 'inc-failures' }, fails.map((f) => h('li', null,
        (CHANNELS[f.channel] || f.channel) + ' · ', h('a', { href: '/inbox#c/' + f.conversation_id }, 'conversation ' + f.conversation_id), ': ' + f.state + ' — ' + f.error))) : null);
  }

  function declareDialog() {
    const title = h('input', { type: 'text', required: true, maxlength: 200, autofocus: true, placeholder: 'E-mail delivery is delayed' });
    const kind = h('select', null, h('option', { value: 'incident' }, 'An incident, now'), h('option', { value: 'scheduled' }, 'Planned maintenance'));
    const state = h('select', null, STATES.filter((s) => s !== 'resolved').map((s) => h('option', { value: s }, STATE_WORDS[s])));
    const impact = h('select', null, h('option', { value: 'outage' }, 'Outage'), h('option', { value: 'degraded' }, 'Degraded'));
    const message = h('textarea', { rows: 4, required: true, placeholder: 'What customers see: what is affected, what we are doing.' });
    const eta = h('input', { type: 'datetime-local' });
    const start = h('input', { type: 'datetime-local' }), end = h('input', { type: 'datetime-local' });
    const audience = h('select', null, h('option', { value: 'open' }, 'Contacts with an open conversation'), h('option', { value: 'recent' }, 'Contacts active in the last N days'), h('option', { value: 'all' }, 'Every contact'));
    const days = h('input', { type: 'number', min: 1, max: 3650, value: 7 });
    const services = h('input', { type: 'text', placeholder: 'e-mail, API (comma-separated)' });
    const schedFields = h('div', { hidden: true }, K.field('Starts', start), K.field('Ends', end));
    const nowFields = h('div', null, K.field('State', state), K.field('Estimated resolution', eta, 'Optional; customers see it.'));
    const daysField = K.field('Days', days);
    daysField.hidden = true;
    kind.addEventListener('change', () => { schedFields.hidden = kind.value !== 'scheduled'; nowFields.hidden = kind.value === 'scheduled'; });
    audience.addEventListener('change', () => { daysField.hidden = audience.value !== 'recent'; });
    K.dialog({
      title: 'Declare an incident', wide: true,
      body: h('div', null, K.field('Title', title), K.field('Kind', kind), nowFields, schedFields, K.field('Impact', impact),
        K.field('Message to customers', message), K.field('Audience', audience, 'Sent on their own channel (e-mail, Messenger, X); chat visitors see it in the widget.'), daysField,
        K.field('Affected services', services)),
      actions: [{ label: 'Cancel' }, {
        label: 'Declare and send', primary: true, submit: true, onClick: async (b) => {
          const body = {
            title: title.value, message: message.value, impact: impact.value,
            audience: audience.value === 'recent' ? 'recent:' + (parseInt(days.value, 10) || 7) : audience.value,
            services: services.value.split(',').map((s) => s.trim()).filter(Boolean),
          };
          if (kind.value === 'scheduled') {
            body.state = 'scheduled';
            body.scheduled_start = fromLocalInput(start.value);
            body.scheduled_end = fromLocalInput(end.value);
          } else {
            body.state = state.value;
            body.eta = fromLocalInput(eta.value);
          }
          const r = await K.run(b, () => K.api('POST', '/incidents', body), 'Incident declared: customers are being told.');
          if (!r) return false;
          await load();
        },
      }],
    });
  }

  function updateDialog(inc, preset) {
    const state = h('select', null, (inc.state === 'scheduled' ? ['scheduled', 'resolved'] : STATES).map((s) => h('option', { value: s, selected: s === (preset || inc.state) }, STATE_WORDS[s])));
    const text = h('textarea', { rows: 4, required: true, autofocus: true, placeholder: preset === 'resolved' ? 'Everything works again. Thank you for your patience.' : 'What changed.' });
    const eta = h('input', { type: 'datetime-local', value: toLocalInput(inc.eta) });
    K.dialog({
      title: 'Update: ' + inc.title, wide: true,
      body: h('div', null, K.field('State', state), K.field('Message to customers', text), K.field('Estimated resolution', eta, 'Leave empty to remove the estimate.')),
      actions: [{ label: 'Cancel' }, {
        label: 'Post and send', primary: true, submit: true, onClick: async (b) => {
          const r = await K.run(b, () => K.api('POST', '/incidents/' + inc.id + '/updates', { text: text.value, state: state.value, eta: fromLocalInput(eta.value) }), 'Update sent.');
          if (!r) return false;
          await load();
        },
      }],
    });
  }

  if (isAdmin) {
    declareBtn.hidden = false;
    declareBtn.addEventListener('click', declareDialog);
  }
  K.live({
    onEvent(ev) {
      if (ev.type === 'incident.updated' || ev.type === 'resync') load().catch(() => {});
    },
  });
  load().catch((e) => { K.clear(list).appendChild(h('p', { class: 'alert alert-error' }, e.message)); });
})();
