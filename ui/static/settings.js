// Kibo settings: agents, inboxes (channel accounts), API tokens, the agent's own
// profile, service levels (SLA targets and business hours), alerts (the team's outgoing
// webhook) and the company (time zone, data-request deadline rule). Tabs are hash routes
// (#agents, #inboxes, #inboxes/new, #inboxes/3, #tokens, #profile, #sla, #alerts,
// #company). Admin-only controls are not shown to agents; the server checks anyway.
'use strict';
(function () {
  const { h, icon, api } = K;
  const me = K.me || { id: 0, name: '', role: 'agent' };
  const admin = me.role === 'admin';
  const $body = document.getElementById('settings-body');
  const tabLinks = Array.from(document.querySelectorAll('[data-tab]'));
  let agents = new Map();

  function head(title, text, ...actions) {
    return h('div', { class: 'page-head' }, h('div', null, h('h1', null, title), text ? h('p', null, text) : null), actions.length ? h('div', { class: 'edit-inline' }, actions) : null);
  }
  function loading() { K.put($body, h('div', { class: 'loading' }, h('span', { class: 'spinner' }), ' Loading…')); }
  function failed(e) { K.put($body, h('div', { class: 'empty' }, h('div', { class: 'empty-art' }, icon('alert')), h('p', null, e.message))); }
  function copyRow(text, id) {
    const b = h('button', { type: 'button', class: 'btn btn-secondary btn-sm', id, onclick: () => K.copy(text, b) }, icon('copy'), 'Copy');
    return h('div', { class: 'copy-row' }, h('code', { class: 'code' }, text), b);
  }
  const roleBadge = (r) => h('span', { class: 'badge' + (r === 'admin' ? ' st-open' : '') }, r === 'admin' ? 'Admin' : 'Agent');

  async function loadAgents() {
    const r = await api('GET', '/agents');
    agents = new Map((r.agents || []).map((a) => [a.id, a]));
    return r.agents || [];
  }

  // ---- agents -------------------------------------------------------------------------

  async function renderAgents() {
    loading();
    let list;
    try { list = await loadAgents(); } catch (e) { failed(e); return; }
    const rows = list.map((a) => {
      const self = a.id === me.id, disabled = !!a.disabled_at;
      let role = roleBadge(a.role);
      if (admin && !self) {
        role = h('select', {
          'aria-label': 'Role of ' + a.name,
          onchange: async (e) => {
            const sel = e.currentTarget, v = sel.value;
            const r = await K.run(null, () => api('PATCH', '/agents/' + a.id, { role: v }), a.name + ' is now ' + (v === 'admin' ? 'an admin' : 'an agent'));
            if (!r) sel.value = a.role; else a.role = v;
          },
        }, h('option', { value: 'agent', selected: a.role === 'agent' }, 'Agent'), h('option', { value: 'admin', selected: a.role === 'admin' }, 'Admin'));
      }
      return h('tr', { class: disabled ? 'is-disabled' : null, 'data-id': a.id },
        h('td', null, h('div', { class: 'person' }, K.avatar(a.name, { seed: a.id }), h('div', { class: 'person-text' },
          h('span', { class: 'person-name' }, a.name, self ? h('span', { class: 'muted' }, ' (you)') : null), h('span', { class: 'person-sub' }, a.email)))),
        h('td', null, role),
        h('td', null, disabled ? h('span', { class: 'badge' }, 'Disabled') : h('span', { class: 'badge badge-ok' }, h('span', { class: 'dot' }), 'Active')),
        h('td', { class: 'actions' }, admin && !self ? h('button', {
          type: 'button', class: 'btn btn-ghost btn-sm',
          onclick: async (e) => {
            if (!disabled && !(await K.confirm('Disable ' + a.name + '?', a.name + ' will be signed out and can no longer sign in. Their conversations stay as they are.', 'Disable', true))) return;
            const r = await K.run(e.currentTarget, () => api('PATCH', '/agents/' + a.id, { disabled: !disabled }));
            if (r) renderAgents();
          },
        }, disabled ? 'Enable' : 'Disable') : null));
    });
    K.put($body, 
      head('Agents', 'The people who answer conversations. Admins also manage agents and inboxes.',
        admin ? h('button', { type: 'button', class: 'btn btn-primary', id: 'add-agent', onclick: addAgent }, icon('plus'), 'Add agent') : null),
      h('div', { class: 'card' }, h('table', { class: 'table', id: 'agents-table' },
        h('thead', null, h('tr', null, h('th', null, 'Agent'), h('th', null, 'Role'), h('th', null, 'Status'), h('th', null, ''))),
        h('tbody', null, rows))));
  }

  function addAgent() {
    const name = h('input', { name: 'name', required: true, autocomplete: 'off', autofocus: true });
    const email = h('input', { name: 'email', type: 'email', required: true, autocomplete: 'off' });
    const role = h('select', { name: 'role' }, h('option', { value: 'agent' }, 'Agent: answers conversations'), h('option', { value: 'admin' }, 'Admin: also manages agents and inboxes'));
    const pw = h('input', { name: 'password', type: 'password', required: true, minlength: 8, autocomplete: 'new-password' });
    K.dialog({
      title: 'Add an agent',
      body: h('div', null, K.field('Name', name), K.field('E-mail', email), K.field('Role', role), K.field('Initial password', pw, 'At least 8 characters. Share it safely; they can change it under Profile.')),
      actions: [{ label: 'Cancel' }, {
        label: 'Add agent', primary: true, submit: true, onClick: async (b) => {
          if (!name.value.trim() || !email.value.trim() || !pw.value) { K.toast('Name, e-mail and password are needed.'); return false; }
          const r = await K.run(b, () => api('POST', '/agents', { name: name.value.trim(), email: email.value.trim(), role: role.value, password: pw.value }), 'Added ' + name.value.trim());
          if (!r) return false;
          renderAgents();
          return true;
        },
      }],
    });
  }

  // ---- inboxes ------------------------------------------------------------------------

  const KINDS = {
    chat: { name: 'Website chat', text: 'A chat bubble on your site' },
    email: { name: 'E-mail', text: 'IMAP in, SMTP out' },
    messenger: { name: 'Messenger', text: 'A Facebook page' },
    x: { name: 'X', text: 'Direct messages' },
  };
  const TLS = ['tls', 'starttls', 'none'];
  // Settings of each kind (docs/CHANNELS.md). secret: write-only, shown as set/unset.
  const SCHEMA = {
    chat: [
      { k: 'allowed_origins', label: 'Allowed origins', type: 'lines', hint: 'One per line, like https://example.com. The widget refuses to run on other sites. Empty allows any site.' },
      { k: 'brand_color', label: 'Brand colour', type: 'color', def: '#4f5bd5' },
      { k: 'greeting', label: 'Greeting', type: 'textarea', def: 'Hi! How can we help?', hint: 'The first thing visitors see when they open the chat.' },
    ],
    email: [
      { k: 'address', label: 'Support address', type: 'email', placeholder: 'support@example.com' },
      { group: 'imap', legend: 'Incoming mail (IMAP)', fields: [
        { k: 'host', label: 'Server', placeholder: 'imap.example.com', w: 2 }, { k: 'port', label: 'Port', type: 'number', def: 993 }, { k: 'tls', label: 'Security', type: 'tls', def: 'tls' },
        { k: 'username', label: 'Username' }, { k: 'password', label: 'Password', secret: true }, { k: 'mailbox', label: 'Mailbox', def: 'INBOX' }] },
      { group: 'smtp', legend: 'Outgoing mail (SMTP)', fields: [
        { k: 'host', label: 'Server', placeholder: 'smtp.example.com', w: 2 }, { k: 'port', label: 'Port', type: 'number', def: 587 }, { k: 'tls', label: 'Security', type: 'tls', def: 'starttls' },
        { k: 'username', label: 'Username' }, { k: 'password', label: 'Password', secret: true }] },
    ],
    messenger: [
      { k: 'page_id', label: 'Page ID' },
      { k: 'page_access_token', label: 'Page access token', secret: true },
      { k: 'app_secret', label: 'App secret', secret: true, hint: 'Checks the X-Hub-Signature-256 of every webhook call.' },
      { k: 'verify_token', label: 'Verify token', secret: true, hint: 'The same text you enter in the Facebook app’s webhook settings.' },
      { k: 'graph_base_url', label: 'Graph API URL', def: 'https://graph.facebook.com' },
    ],
    x: [
      { k: 'user_id', label: 'Account user ID' },
      { k: 'consumer_key', label: 'API key (consumer key)', secret: true },
      { k: 'consumer_secret', label: 'API secret (consumer secret)', secret: true },
      { k: 'access_token', label: 'Access token', secret: true },
      { k: 'access_secret', label: 'Access token secret', secret: true },
      { k: 'api_base_url', label: 'API URL', def: 'https://api.twitter.com' },
      { k: 'poll_interval', label: 'Poll interval', def: '60s', hint: 'How often to list new direct messages when no webhook arrives, like 60s or 5m.' },
    ],
  };

  function stateBadge(ib) {
    if (ib.state === 'connected') return h('span', { class: 'badge badge-ok', title: 'Connected' }, h('span', { class: 'dot' }), 'Connected');
    if (ib.state === 'error') return h('span', { class: 'badge badge-err', title: ib.last_error || '' }, h('span', { class: 'dot' }), 'Error');
    return h('span', { class: 'badge' }, h('span', { class: 'dot' }), ib.kind === 'chat' ? 'Ready' : 'Not checked yet');
  }
  function inboxSub(ib) {
    const s = ib.settings || {};
    if (ib.kind === 'chat') return (s.allowed_origins && s.allowed_origins.length ? s.allowed_origins.join(', ') : 'Any website') + (ib.public_key ? ' · key ' + ib.public_key : '');
    if (ib.kind === 'email') return s.address || (s.imap && s.imap.username) || 'No address yet';
    if (ib.kind === 'messenger') return s.page_id ? 'Page ' + s.page_id : 'No page yet';
    if (ib.kind === 'x') return s.user_id ? 'User ' + s.user_id : 'No account yet';
    return '';
  }

  async function renderInboxes(sub) {
    if (sub === 'new') { newInbox(); return; }
    if (sub) { editInbox(Number(sub)); return; }
    loading();
    let r;
    try { r = await api('GET', '/inboxes'); } catch (e) { failed(e); return; }
    const list = r.inboxes || [];
    K.put($body, 
      head('Inboxes', 'Each inbox is one channel account: a website chat, a mailbox, a Facebook page or an X account.' + (admin ? '' : ' Only admins can add or change them.'),
        admin ? h('a', { class: 'btn btn-primary', href: '#inboxes/new', id: 'new-inbox' }, icon('plus'), 'New inbox') : null),
      list.length ? h('div', { class: 'card', id: 'inbox-list' }, list.map((ib) => h('div', { class: 'inbox-card', 'data-id': ib.id },
        K.channelIcon(ib.kind),
        h('div', { class: 'inbox-main' },
          h('div', { class: 'inbox-name' }, ib.name, stateBadge(ib)),
          h('div', { class: 'inbox-sub' }, (KINDS[ib.kind] || { name: ib.kind }).name + ' · ' + inboxSub(ib)),
          ib.state === 'error' && ib.last_error ? h('div', { class: 'inbox-err' }, ib.last_error) : null),
        h('a', { class: 'btn btn-secondary btn-sm', href: '#inboxes/' + ib.id }, admin ? icon('edit') : null, admin ? 'Edit' : 'View'))))
        : h('div', { class: 'card' }, h('div', { class: 'empty' }, h('div', { class: 'empty-art' }, icon('inbox')), h('p', null, 'No inboxes yet.'),
          admin ? h('p', { class: 'muted' }, 'Create a website chat first: it takes a minute and gives you a snippet to paste.') : null)));
  }

  // form builds the settings fields of a kind; collect() reads them back, leaving out
  // secrets nobody typed so they stay as they were.
  function settingsForm(kind, current) {
    current = current || {};
    const readers = [];
    const readOnly = !admin;
    function fieldFor(f, cur, path) {
      const v = cur[f.k];
      let control, read;
      const id = 'set-' + path.concat(f.k).join('-');
      if (f.secret) {
        const isSet = v === true || (typeof v === 'string' && v !== '');
        control = h('input', { id, type: 'password', autocomplete: 'new-password', placeholder: isSet ? 'Set: leave empty to keep it' : 'Not set', disabled: readOnly });
        read = () => control.value ? control.value : undefined;
        const label = h('span', null, f.label, h('span', { class: 'secret-state badge ' + (isSet ? 'badge-ok' : 'badge-warn') }, isSet ? 'set' : 'unset'));
        return [K.field(label, control, f.hint), read];
      }
      const val = v != null ? v : (f.def != null ? f.def : '');
      if (f.type === 'lines') {
        control = h('textarea', { id, rows: 3, value: Array.isArray(val) ? val.join('\n') : String(val || ''), placeholder: 'https://example.com', spellcheck: 'false', disabled: readOnly });
        read = () => control.value.split('\n').map((s) => s.trim()).filter(Boolean);
      } else if (f.type === 'textarea') {
        control = h('textarea', { id, rows: 2, value: String(val), disabled: readOnly });
        read = () => control.value;
      } else if (f.type === 'color') {
        const text = h('input', { id, value: String(val), maxlength: 7, style: { width: '110px' }, disabled: readOnly });
        const pick = h('input', { type: 'color', value: /^#[0-9a-f]{6}$/i.test(val) ? val : '#4f5bd5', 'aria-label': f.label, disabled: readOnly });
        pick.addEventListener('input', () => { text.value = pick.value; });
        text.addEventListener('input', () => { if (/^#[0-9a-f]{6}$/i.test(text.value)) pick.value = text.value; });
        control = h('div', { class: 'color-field' }, pick, text);
        read = () => text.value.trim();
      } else if (f.type === 'tls') {
        control = h('select', { id, disabled: readOnly }, TLS.map((t) => h('option', { value: t, selected: t === val }, t === 'tls' ? 'TLS' : t === 'starttls' ? 'STARTTLS' : 'None (loopback and tests only)')));
        read = () => control.value;
      } else if (f.type === 'number') {
        control = h('input', { id, type: 'number', min: 1, max: 65535, value: String(val), disabled: readOnly });
        read = () => Number(control.value) || 0;
      } else {
        control = h('input', { id, type: f.type || 'text', value: String(val), placeholder: f.placeholder || '', spellcheck: 'false', disabled: readOnly });
        read = () => control.value.trim();
      }
      return [K.field(f.label, control, f.hint), read];
    }
    const nodes = [];
    for (const f of SCHEMA[kind] || []) {
      if (f.group) {
        const cur = current[f.group] && typeof current[f.group] === 'object' ? current[f.group] : {};
        const gReaders = [];
        const cells = f.fields.map((g) => { const [node, read] = fieldFor(g, cur, [f.group]); gReaders.push([g.k, read]); return node; });
        nodes.push(h('fieldset', { class: 'fieldset' }, h('legend', null, f.legend),
          h('div', { class: 'row3' }, cells.slice(0, 3)), h('div', { class: 'row3' }, cells.slice(3))));
        readers.push([f.group, () => {
          const o = {};
          for (const [k, read] of gReaders) { const v = read(); if (v !== undefined) o[k] = v; }
          return o;
        }]);
      } else {
        const [node, read] = fieldFor(f, current, []);
        nodes.push(node);
        readers.push([f.k, read]);
      }
    }
    return {
      nodes,
      collect() {
        const o = {};
        for (const [k, read] of readers) { const v = read(); if (v !== undefined) o[k] = v; }
        return o;
      },
    };
  }

  function backLink() {
    return h('a', { href: '#inboxes', class: 'btn btn-ghost btn-sm', style: { marginLeft: '-10px', marginBottom: '8px' } }, icon('chevronLeft'), 'All inboxes');
  }

  function newInbox(kind) {
    if (!admin) { location.hash = '#inboxes'; return; }
    kind = kind || 'chat';
    const name = h('input', { id: 'inbox-name', required: true, placeholder: kind === 'chat' ? 'Website' : kind === 'email' ? 'Support mailbox' : KINDS[kind].name, autofocus: true });
    const form = settingsForm(kind, {});
    const picker = h('div', { class: 'kind-picker' }, Object.keys(KINDS).map((k) => h('button', {
      type: 'button', class: ['kind', k === kind && 'active'], 'data-kind': k, onclick: () => newInbox(k),
    }, K.channelIcon(k), h('b', null, KINDS[k].name), h('span', { class: 'muted' }, KINDS[k].text))));
    const create = h('button', { type: 'submit', class: 'btn btn-primary', id: 'create-inbox' }, 'Create inbox');
    const el = h('form', {
      class: 'card', onsubmit: async (e) => {
        e.preventDefault();
        if (!name.value.trim()) { K.toast('The inbox needs a name.'); name.focus(); return; }
        const r = await K.run(create, () => api('POST', '/inboxes', { kind, name: name.value.trim(), settings: form.collect() }));
        if (!r) return;
        history.replaceState(null, '', '#inboxes/' + r.id);
        editInbox(r.id, r);
      },
    },
    h('div', { class: 'card-body' }, K.field('Name', name, 'Agents see it in the sidebar and on every conversation.'), form.nodes),
    h('div', { class: 'card-foot' }, h('a', { class: 'btn btn-secondary', href: '#inboxes' }, 'Cancel'), create));
    K.put($body, backLink(), head('New inbox', 'Pick a channel, then fill in its settings.'), picker, el);
  }

  async function editInbox(id, created) {
    loading();
    let ib = created;
    if (!ib) {
      try { ib = await api('GET', '/inboxes/' + id); } catch (e) { failed(e); return; }
    }
    const parts = [backLink(), head(ib.name, (KINDS[ib.kind] || { name: ib.kind }).name + ' inbox', stateBadge(ib))];
    if (created && created.identity_secret) {
      parts.push(h('div', { class: 'once', id: 'identity-secret' },
        h('h3', null, 'Identity secret: copy it now'),
        h('p', null, 'Your server signs a logged-in user’s id with this secret (HMAC-SHA256 or an HS256 JWT) so the chat knows who they are. It is shown only this once; keep it on your server, never in a web page.'),
        copyRow(created.identity_secret, 'copy-identity-secret')));
    }
    if (ib.state === 'error' && ib.last_error) parts.push(h('div', { class: 'alert alert-error' }, h('b', null, 'Last error: '), ib.last_error));
    if (ib.kind === 'chat' && ib.snippet) {
      parts.push(h('div', { class: 'card', id: 'snippet-card' },
        h('div', { class: 'card-head' }, h('h2', null, 'Embed snippet'), h('a', { href: '/demo', target: '_blank', class: 'btn btn-ghost btn-sm' }, icon('external'), 'Try it on the demo page')),
        h('div', { class: 'card-body' },
          h('p', { class: 'muted', style: { margin: '0 0 10px' } }, 'Paste this before </body> on every page where the chat should appear.'),
          copyRow(ib.snippet, 'copy-snippet'))));
    }
    if (ib.kind === 'chat' && admin) {
      // The secret is shown only when it is made; a new one replaces it at once.
      const rotate = h('button', {
        type: 'button', class: 'btn btn-secondary btn-sm', id: 'rotate-identity-secret', onclick: async () => {
          if (!(await K.confirm('Make a new identity secret?', 'The current secret stops working at once: until your server signs with the new one, signed-in visitors chat as anonymous visitors. The new secret is shown only once.', 'Make a new secret', true))) return;
          const r = await K.run(rotate, () => api('POST', '/inboxes/' + ib.id + '/identity-secret'));
          if (r) editInbox(ib.id, r);
        },
      }, icon('key'), 'New identity secret');
      parts.push(h('div', { class: 'card', id: 'identity-card' },
        h('div', { class: 'card-head' }, h('h2', null, 'Identity secret'), rotate),
        h('div', { class: 'card-body' }, h('p', { class: 'muted', style: { margin: 0 } },
          'Your server signs a signed-in user’s id with this secret (HMAC-SHA256, or an HS256 JWT) so the chat knows who they are. ' +
          (ib.settings && ib.settings.identity_secret ? 'It is set, and shown only when it is made: if it is lost or leaked, make a new one.' : 'None is set: make one to verify signed-in users.')))));
    }
    if (ib.kind === 'messenger' || ib.kind === 'x') {
      parts.push(h('div', { class: 'card' }, h('div', { class: 'card-head' }, h('h2', null, 'Webhook URL')), h('div', { class: 'card-body' },
        h('p', { class: 'muted', style: { margin: '0 0 10px' } }, ib.kind === 'messenger' ? 'Enter it as the callback URL of your Facebook app, with the verify token below.' : 'Register it for the Account Activity API of your X app.'),
        copyRow(location.origin + '/webhooks/' + ib.kind + '/' + ib.id, 'copy-webhook'))));
    }
    const name = h('input', { id: 'inbox-name', value: ib.name, disabled: !admin });
    const form = settingsForm(ib.kind, ib.settings || {});
    const save = h('button', { type: 'submit', class: 'btn btn-primary', id: 'save-inbox' }, 'Save changes');
    const result = h('div', { class: 'test-result', id: 'test-result' });
    const test = ib.kind !== 'chat' && admin ? h('button', {
      type: 'button', class: 'btn btn-secondary', id: 'test-inbox', onclick: async () => {
        result.replaceChildren();
        test.classList.add('is-busy'); test.disabled = true;
        try {
          await api('POST', '/inboxes/' + ib.id + '/test');
          result.replaceChildren(h('div', { class: 'alert alert-ok' }, 'Connected: Kibo reached ' + (KINDS[ib.kind] || {}).name + ' with these settings.'));
        } catch (e) {
          result.replaceChildren(h('div', { class: 'alert alert-error' }, h('b', null, 'The connection failed. '), e.message));
        } finally { test.classList.remove('is-busy'); test.disabled = false; }
      },
    }, icon('plug'), 'Test connection') : null;
    parts.push(h('form', {
      class: 'card', id: 'inbox-form', onsubmit: async (e) => {
        e.preventDefault();
        if (!admin) return;
        const r = await K.run(save, () => api('PATCH', '/inboxes/' + ib.id, { name: name.value.trim(), settings: form.collect() }), 'Saved');
        if (r) editInbox(ib.id);
      },
    },
    h('div', { class: 'card-head' }, h('h2', null, 'Settings')),
    h('div', { class: 'card-body' }, K.field('Name', name), form.nodes, result),
    admin ? h('div', { class: 'card-foot' }, test, h('span', { class: 'spacer' }), save) : null));
    K.put($body, ...parts);
  }

  // ---- tokens -------------------------------------------------------------------------

  async function renderTokens(fresh) {
    loading();
    let r;
    try {
      r = await api('GET', '/tokens');
      if (admin && !agents.size) await loadAgents().catch(() => []);
    } catch (e) { failed(e); return; }
    const list = r.tokens || [];
    const name = h('input', { class: 'input', id: 'token-name', placeholder: 'What is it for? e.g. “CRM sync”', style: { flex: '1' } });
    const create = h('button', { type: 'submit', class: 'btn btn-primary', id: 'create-token' }, icon('plus'), 'Create token');
    const showOwner = admin && list.some((t) => t.agent_id && t.agent_id !== me.id);
    K.put($body, 
      head('API tokens', 'For scripts and integrations: send Authorization: Bearer <token> to /api/v1. A token acts as the agent who made it.'),
      fresh ? h('div', { class: 'once', id: 'new-token' },
        h('h3', null, 'Your new token: copy it now'),
        h('p', null, 'It is shown only this once. Kibo keeps just a hash of it, so nobody can show it to you again.'),
        copyRow(fresh.token, 'copy-token')) : null,
      h('form', {
        class: 'card', onsubmit: async (e) => {
          e.preventDefault();
          if (!name.value.trim()) { K.toast('Give the token a name, so you know later what uses it.'); name.focus(); return; }
          const t = await K.run(create, () => api('POST', '/tokens', { name: name.value.trim() }));
          if (t) renderTokens(t);
        },
      }, h('div', { class: 'card-body edit-inline' }, name, create)),
      h('div', { class: 'card' }, list.length ? h('table', { class: 'table', id: 'tokens-table' },
        h('thead', null, h('tr', null, h('th', null, 'Name'), showOwner ? h('th', null, 'Owner') : null, h('th', null, 'Token'), h('th', null, 'Created'), h('th', null, 'Last used'), h('th', null, ''))),
        h('tbody', null, list.map((t) => h('tr', { 'data-id': t.id },
          h('td', null, h('b', null, t.name)),
          showOwner ? h('td', null, agents.has(t.agent_id) ? agents.get(t.agent_id).name : '') : null,
          h('td', null, h('span', { class: 'mono' }, (t.prefix || '') + '…')),
          h('td', { title: K.time.full(t.created_at) }, K.time.rel(t.created_at)),
          h('td', { title: t.last_used_at ? K.time.full(t.last_used_at) : '' }, t.last_used_at ? K.time.rel(t.last_used_at) : h('span', { class: 'muted' }, 'Never')),
          h('td', { class: 'actions' }, h('button', {
            type: 'button', class: 'btn btn-ghost btn-sm', onclick: async (e) => {
              const b = e.currentTarget;
              if (!(await K.confirm('Revoke “' + t.name + '”?', 'Anything that uses this token stops working at once. This can’t be undone.', 'Revoke', true))) return;
              const ok = await K.run(b, () => api('DELETE', '/tokens/' + t.id), 'Revoked');
              if (ok !== undefined) renderTokens();
            },
          }, icon('trash'), 'Revoke'))))))
        : h('div', { class: 'empty' }, h('div', { class: 'empty-art' }, icon('key')), h('p', null, 'No tokens yet.'))));
    if (!fresh) name.focus();
  }

  // ---- profile ------------------------------------------------------------------------

  function renderProfile() {
    const name = h('input', { id: 'profile-name', value: me.name || '', required: true, autocomplete: 'name' });
    const email = h('input', { value: me.email || '', readOnly: true });
    const saveName = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Save');
    const cur = h('input', { id: 'profile-current-password', type: 'password', autocomplete: 'current-password' });
    const pw = h('input', { id: 'profile-password', type: 'password', autocomplete: 'new-password', minlength: 8 });
    const pw2 = h('input', { type: 'password', autocomplete: 'new-password' });
    const savePw = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Change password');
    K.put($body, 
      head('Profile', 'How customers and teammates see you.'),
      h('form', {
        class: 'card', onsubmit: async (e) => {
          e.preventDefault();
          const v = name.value.trim();
          if (!v) return;
          const r = await K.run(saveName, () => api('PATCH', '/agents/' + me.id, { name: v }), 'Saved');
          if (r) { me.name = r.name || v; const n = document.querySelector('.me-name'); if (n) n.textContent = me.name; }
        },
      },
      h('div', { class: 'card-head' }, h('h2', null, 'Your details')),
      h('div', { class: 'card-body' }, h('div', { class: 'person', style: { marginBottom: '16px' } }, K.avatar(me.name, { seed: me.id, size: 'lg' }),
        h('div', { class: 'person-text' }, h('span', { class: 'person-name' }, me.name), h('span', { class: 'person-sub' }, roleBadge(me.role)))),
      h('div', { class: 'row2' }, K.field('Name', name, 'Customers see it beside your replies.'), K.field('E-mail', email, 'Your sign-in. An admin can change it.'))),
      h('div', { class: 'card-foot' }, saveName)),
      h('form', {
        class: 'card', onsubmit: async (e) => {
          e.preventDefault();
          if (!cur.value) { K.toast('Your current password is needed.'); cur.focus(); return; }
          if (pw.value.length < 8) { K.toast('The new password needs at least 8 characters.'); pw.focus(); return; }
          if (pw.value !== pw2.value) { K.toast('The two passwords differ.'); pw2.focus(); return; }
          const r = await K.run(savePw, () => api('PATCH', '/agents/' + me.id, { password: pw.value, current_password: cur.value }), 'Password changed: your other sessions and API tokens have ended');
          if (r !== undefined) { cur.value = ''; pw.value = ''; pw2.value = ''; }
        },
      },
      h('div', { class: 'card-head' }, h('h2', null, 'Password')),
      h('div', { class: 'card-body' }, K.field('Current password', cur),
        h('div', { class: 'row2' }, K.field('New password', pw, 'At least 8 characters. Your other sessions and your API tokens end.'), K.field('Repeat it', pw2))),
      h('div', { class: 'card-foot' }, savePw)));
  }

  // ---- service levels -----------------------------------------------------------------

  const PRIOS = [['urgent', 'Urgent'], ['high', 'High'], ['normal', 'Normal'], ['low', 'Low']];
  const WEEKDAYS = [[1, 'Mon'], [2, 'Tue'], [3, 'Wed'], [4, 'Thu'], [5, 'Fri'], [6, 'Sat'], [0, 'Sun']];
  function timeZones(current) {
    let list = [];
    try { list = Intl.supportedValuesOf('timeZone'); } catch (e) { list = ['UTC', 'Europe/London', 'Europe/Berlin', 'Europe/Paris', 'America/New_York', 'America/Los_Angeles', 'Asia/Tokyo']; }
    if (!list.includes('UTC')) list = ['UTC'].concat(list);
    if (current && !list.includes(current)) list = [current].concat(list);
    return list;
  }
  function zoneSelect(id, value, disabled) {
    return h('select', { id, disabled }, timeZones(value).map((z) => h('option', { value: z, selected: z === value }, z.replace(/_/g, ' '))));
  }
  const readOnlyNote = () => admin ? null : h('div', { class: 'alert alert-warn' }, 'Only admins can change these settings.');

  // duration is a target in minutes as a number and a unit (minutes or hours).
  function duration(id, minutes) {
    const hours = minutes > 0 && minutes % 60 === 0;
    const n = h('input', { id, type: 'number', min: 0, max: hours ? 8784 : 527040, step: 'any', value: minutes ? String(hours ? minutes / 60 : minutes) : '', placeholder: 'none', disabled: !admin, 'aria-label': id });
    const u = h('select', { disabled: !admin, 'aria-label': 'Unit' }, h('option', { value: '60', selected: hours || !minutes }, 'hours'), h('option', { value: '1', selected: !hours && !!minutes }, 'minutes'));
    return {
      node: h('div', { class: 'duration' }, n, u),
      read: () => { const v = parseFloat(n.value); return v > 0 ? Math.round(v * Number(u.value)) : 0; },
    };
  }
  function human(min) {
    if (!min) return 'no target';
    if (min % 60) return min + ' min';
    const hrs = min / 60;
    return hrs === 1 ? '1 hour' : hrs + ' hours';
  }

  async function renderSLA() {
    loading();
    let p;
    try { p = await api('GET', '/sla'); } catch (e) { failed(e); return; }
    const targets = p.targets || {};
    const rows = PRIOS.map(([k, label]) => {
      const t = targets[k] || {};
      const fr = duration('sla-' + k + '-first', t.first_response_minutes || 0);
      const res = duration('sla-' + k + '-resolution', t.resolution_minutes || 0);
      return { k, fr, res, tr: h('tr', { 'data-priority': k },
        h('td', null, h('span', { class: 'prio-cell' }, K.priorityIcon(k), label)),
        h('td', null, fr.node), h('td', null, res.node)) };
    });
    const warn = h('input', { id: 'sla-warn', type: 'number', min: 1, max: 99, value: String(p.warn_percent || 80), disabled: !admin, style: { width: '90px' } });
    const bh = p.business_hours;
    const useBH = h('input', { type: 'checkbox', id: 'sla-bh-on', checked: !!bh, disabled: !admin });
    const zone = zoneSelect('sla-tz', (bh && bh.time_zone) || Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC', !admin);
    const days = new Set((bh && bh.weekdays) || [1, 2, 3, 4, 5]);
    const dayBtns = WEEKDAYS.map(([d, label]) => {
      const b = h('button', { type: 'button', class: ['daypick', days.has(d) && 'on'], 'aria-pressed': String(days.has(d)), 'data-day': d, disabled: !admin }, label);
      b.addEventListener('click', () => { if (days.has(d)) days.delete(d); else days.add(d); b.classList.toggle('on', days.has(d)); b.setAttribute('aria-pressed', String(days.has(d))); });
      return b;
    });
    const start = h('input', { type: 'time', id: 'sla-start', value: (bh && bh.start) || '09:00', disabled: !admin });
    const end = h('input', { type: 'time', id: 'sla-end', value: (bh && bh.end === '24:00' ? '23:59' : bh && bh.end) || '17:00', disabled: !admin });
    const holidays = ((bh && bh.holidays) || []).slice().sort();
    const holList = h('div', { class: 'holidays', id: 'sla-holidays' });
    const renderHol = () => holList.replaceChildren(...(holidays.length ? holidays.map((d, i) => h('span', { class: 'chip' }, h('span', { class: 'mono' }, d),
      admin ? h('button', { type: 'button', class: 'chip-x', 'aria-label': 'Remove ' + d, onclick: () => { holidays.splice(i, 1); renderHol(); } }, icon('close')) : null)) : [h('span', { class: 'muted' }, 'No holidays.')]));
    renderHol();
    const holInput = h('input', { type: 'date', id: 'sla-holiday', disabled: !admin });
    const holAdd = h('button', { type: 'button', class: 'btn btn-secondary btn-sm', disabled: !admin, onclick: () => {
      const v = holInput.value;
      if (!v) { holInput.focus(); return; }
      if (!holidays.includes(v)) { holidays.push(v); holidays.sort(); renderHol(); }
      holInput.value = '';
    } }, icon('plus'), 'Add');
    const bhFields = h('div', { class: 'bh-fields', hidden: !bh },
      h('div', { class: 'row2' }, K.field('Time zone', zone), h('div', { class: 'field' }, h('span', { class: 'field-label' }, 'Hours'), h('div', { class: 'time-range' }, start, h('span', { class: 'muted' }, 'to'), end))),
      h('div', { class: 'field' }, h('span', { class: 'field-label' }, 'Working days'), h('div', { class: 'daypicks' }, dayBtns)),
      h('div', { class: 'field' }, h('span', { class: 'field-label' }, 'Holidays'), holList, admin ? h('div', { class: 'edit-inline', style: { marginTop: '8px' } }, holInput, holAdd) : null,
        h('span', { class: 'field-hint' }, 'Dates in the time zone above when the SLA clock stops.')));
    useBH.addEventListener('change', () => { bhFields.hidden = !useBH.checked; });
    const save = h('button', { type: 'submit', class: 'btn btn-primary', id: 'save-sla' }, 'Save service levels');
    K.put($body, 
      head('Service levels', 'How fast the team promises to answer and resolve, per priority. Each conversation shows its next due time; breaches raise an alert.'),
      readOnlyNote(),
      h('form', {
        id: 'sla-form', onsubmit: async (e) => {
          e.preventDefault();
          if (!admin) return;
          const body = { targets: {}, warn_percent: Number(warn.value) || 80 };
          for (const r of rows) body.targets[r.k] = { first_response_minutes: r.fr.read(), resolution_minutes: r.res.read() };
          if (useBH.checked) {
            if (!days.size) { K.toast('Pick at least one working day.'); return; }
            if (!start.value || !end.value || end.value <= start.value) { K.toast('The hours must end after they start.'); return; }
            const endAt = end.value === '23:59' && bh && bh.end === '24:00' ? '24:00' : end.value;
            body.business_hours = { time_zone: zone.value, weekdays: Array.from(days).sort(), start: start.value, end: endAt, holidays };
          } else body.business_hours = null;
          const r = await K.run(save, () => api('PATCH', '/sla', body), 'Saved: due times are computed again');
          if (r) renderSLA();
        },
      },
      h('div', { class: 'card', id: 'sla-targets' },
        h('div', { class: 'card-head' }, h('h2', null, 'Targets'), h('span', { class: 'muted' }, bh ? 'in business hours' : 'around the clock')),
        h('table', { class: 'table sla-table' },
          h('thead', null, h('tr', null, h('th', null, 'Priority'), h('th', null, 'First response'), h('th', null, 'Resolution'))),
          h('tbody', null, rows.map((r) => r.tr))),
        h('div', { class: 'card-body sla-warn' }, K.field('Warn at', h('div', { class: 'edit-inline' }, warn, h('span', { class: 'muted' }, '% of a target')), 'An alert goes to the assignee (or the admins) when this share of a target has passed, and again at a breach. An empty target means none.'))),
      h('div', { class: 'card', id: 'sla-hours' },
        h('div', { class: 'card-head' }, h('h2', null, 'Business hours')),
        h('div', { class: 'card-body' },
          h('label', { class: 'check-row' }, useBH, h('span', null, h('b', null, 'Count only business hours'), h('span', { class: 'muted' }, ' — otherwise the clock runs day and night'))),
          bhFields),
        admin ? h('div', { class: 'card-foot' }, save) : null)));
  }

  // ---- alerts ---------------------------------------------------------------------------

  const ALERT_KIND = { sla_warning: 'SLA warning', sla_breach: 'SLA breach', volume_spike: 'Volume spike', channel_down: 'Channel down', daily_summary: 'Daily summary', data_request: 'Data request' };

  async function renderAlerts() {
    loading();
    let r;
    try { r = await api('GET', '/alerts'); } catch (e) { failed(e); return; }
    const isSet = !!r.webhook_url_set;
    const url = h('input', { id: 'alert-webhook', type: 'url', placeholder: isSet ? 'A URL is set: type a new one to replace it' : 'https://hooks.example.com/services/…', disabled: !admin, spellcheck: 'false', autocomplete: 'off' });
    const save = h('button', { type: 'submit', class: 'btn btn-primary', id: 'save-webhook' }, 'Save');
    const remove = isSet && admin ? h('button', {
      type: 'button', class: 'btn btn-ghost', id: 'remove-webhook', onclick: async (e) => {
        if (!(await K.confirm('Remove the webhook?', 'Alerts still reach the team in Kibo and by e-mail.', 'Remove', true))) return;
        const x = await K.run(e.currentTarget, () => api('PATCH', '/alerts', { webhook_url: '' }), 'Webhook removed');
        if (x) renderAlerts();
      },
    }, 'Remove') : null;
    const list = r.alerts || [];
    K.put($body, 
      head('Alerts', 'What needs the team now: SLAs about to breach or breached, data-request deadlines, inbound spikes, a channel that stopped working. Each goes out once, in Kibo (the bell) and by e-mail.'),
      readOnlyNote(),
      h('form', {
        class: 'card', id: 'webhook-form', onsubmit: async (e) => {
          e.preventDefault();
          if (!admin) return;
          const v = url.value.trim();
          if (!v) { K.toast(isSet ? 'Type the new URL, or press Remove.' : 'Type the URL of your webhook.'); url.focus(); return; }
          const x = await K.run(save, () => api('PATCH', '/alerts', { webhook_url: v }), 'Saved: alerts now go to the webhook too');
          if (x) renderAlerts();
        },
      },
      h('div', { class: 'card-head' }, h('h2', null, 'Outgoing webhook'),
        isSet ? h('span', { class: 'badge badge-ok', id: 'webhook-state' }, h('span', { class: 'dot' }), 'Set') : h('span', { class: 'badge', id: 'webhook-state' }, 'Not set')),
      h('div', { class: 'card-body' },
        K.field('Webhook URL', url, 'Kibo POSTs every alert as JSON {"kind", "text", "link", "at"}, so you can route it to your chat tool. The URL is a secret: it is never shown again.')),
      admin ? h('div', { class: 'card-foot' }, remove, h('span', { class: 'spacer' }), save) : null),
      h('div', { class: 'card', id: 'recent-alerts' },
        h('div', { class: 'card-head' }, h('h2', null, 'Recent alerts'), h('span', { class: 'muted' }, String(list.length))),
        list.length ? h('table', { class: 'table' },
          h('thead', null, h('tr', null, h('th', null, 'When'), h('th', null, 'Kind'), h('th', null, 'Alert'))),
          h('tbody', null, list.map((a) => {
            const href = K.safeURL(a.link);
            return h('tr', null,
              h('td', { title: K.time.full(a.at), class: 'nowrap' }, K.time.short(a.at)),
              h('td', null, h('span', { class: ['badge', /breach|down/.test(a.kind) ? 'badge-err' : /warning|spike/.test(a.kind) ? 'badge-warn' : null] }, ALERT_KIND[a.kind] || a.kind)),
              h('td', null, href ? h('a', { href }, a.text) : a.text));
          })))
          : h('div', { class: 'empty' }, h('div', { class: 'empty-art' }, icon('bell')), h('p', null, 'No alerts yet.'))));
  }

  // ---- company --------------------------------------------------------------------------

  const RULE_TEXT = {
    'earlier of 30 days and one calendar month': 'Whichever ends first (recommended): never later than the law allows.',
    'one calendar month': 'Art. 12(3) read literally: the same date next month (31 January → 28/29 February).',
    '30 days': '30 calendar days after the day of receipt.',
  };

  async function renderCompany() {
    loading();
    let st;
    try { st = await api('GET', '/settings'); } catch (e) { failed(e); return; }
    const hasName = Object.prototype.hasOwnProperty.call(st, 'company_name');
    const name = hasName ? h('input', { id: 'company-name', value: st.company_name || '', disabled: !admin, maxlength: 120, placeholder: 'Acme Inc.' }) : null;
    const zone = zoneSelect('company-tz', st.company_timezone || 'UTC', !admin);
    const rules = st.data_request_rules || Object.keys(RULE_TEXT);
    const ruleRadios = rules.map((r) => h('label', { class: 'radio-row' },
      h('input', { type: 'radio', name: 'dr-rule', value: r, checked: r === st.data_request_rule, disabled: !admin }),
      h('span', null, h('b', null, r.charAt(0).toUpperCase() + r.slice(1)), h('span', { class: 'muted' }, ' — ' + (RULE_TEXT[r] || '')))));
    const save = h('button', { type: 'submit', class: 'btn btn-primary', id: 'save-company' }, 'Save');
    K.put($body, 
      head('Company', 'Who you are to customers, and how Kibo counts the deadlines of data requests.'),
      readOnlyNote(),
      h('form', {
        class: 'card', id: 'company-form', onsubmit: async (e) => {
          e.preventDefault();
          if (!admin) return;
          const picked = $body.querySelector('input[name=dr-rule]:checked');
          const body = { company_timezone: zone.value };
          if (picked) body.data_request_rule = picked.value;
          if (hasName) body.company_name = name.value.trim();
          const r = await K.run(save, () => api('PATCH', '/settings', body), 'Saved');
          if (r) renderCompany();
        },
      },
      h('div', { class: 'card-body' },
        name ? K.field('Company name', name, 'Shown on the status page and in messages to customers.') : null,
        K.field('Time zone', zone, 'Data-request deadlines end at midnight in this zone; agents see them in their own.'),
        h('fieldset', { class: 'fieldset' }, h('legend', null, 'Data-request deadline'), ruleRadios,
          h('span', { class: 'field-hint' }, 'Fixed when a request is received; each request says which rule made its date. Changing it does not move existing deadlines.'))),
      admin ? h('div', { class: 'card-foot' }, save) : null));
  }

  // ---- routing ------------------------------------------------------------------------

  const TABS = { agents: renderAgents, inboxes: renderInboxes, tokens: () => renderTokens(), profile: renderProfile, sla: renderSLA, alerts: renderAlerts, company: renderCompany };
  function route() {
    const [tab, sub] = location.hash.slice(1).split('/');
    const t = TABS[tab] ? tab : 'agents';
    for (const a of tabLinks) a.classList.toggle('active', a.dataset.tab === t);
    document.title = ({ agents: 'Agents', inboxes: 'Inboxes', tokens: 'API tokens', profile: 'Profile', sla: 'Service levels', alerts: 'Alerts', company: 'Company' })[t] + ' · Settings · Kibo';
    TABS[t](sub);
  }
  addEventListener('hashchange', route);
  route();
})();
