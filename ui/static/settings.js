// Kibo settings: agents, inboxes (channel accounts), API tokens and the agent's own
// profile. Tabs are hash routes (#agents, #inboxes, #inboxes/new, #inboxes/3, #tokens,
// #profile). Admin-only controls are not shown to agents; the server checks anyway.
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
  function loading() { $body.replaceChildren(h('div', { class: 'loading' }, h('span', { class: 'spinner' }), ' Loading…')); }
  function failed(e) { $body.replaceChildren(h('div', { class: 'empty' }, h('div', { class: 'empty-art' }, icon('alert')), h('p', null, e.message))); }
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
    $body.replaceChildren(
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
  // Settings of each kind (PROTOCOL.md). secret: write-only, shown as set/unset.
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
    $body.replaceChildren(
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
    $body.replaceChildren(backLink(), head('New inbox', 'Pick a channel, then fill in its settings.'), picker, el);
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
    $body.replaceChildren(...parts);
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
    $body.replaceChildren(
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
    const pw = h('input', { id: 'profile-password', type: 'password', autocomplete: 'new-password', minlength: 8 });
    const pw2 = h('input', { type: 'password', autocomplete: 'new-password' });
    const savePw = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Change password');
    $body.replaceChildren(
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
          if (pw.value.length < 8) { K.toast('The new password needs at least 8 characters.'); pw.focus(); return; }
          if (pw.value !== pw2.value) { K.toast('The two passwords differ.'); pw2.focus(); return; }
          const r = await K.run(savePw, () => api('PATCH', '/agents/' + me.id, { password: pw.value }), 'Password changed');
          if (r !== undefined) { pw.value = ''; pw2.value = ''; }
        },
      },
      h('div', { class: 'card-head' }, h('h2', null, 'Password')),
      h('div', { class: 'card-body' }, h('div', { class: 'row2' }, K.field('New password', pw, 'At least 8 characters.'), K.field('Repeat it', pw2))),
      h('div', { class: 'card-foot' }, savePw)));
  }

  // ---- routing ------------------------------------------------------------------------

  const TABS = { agents: renderAgents, inboxes: renderInboxes, tokens: () => renderTokens(), profile: renderProfile };
  function route() {
    const [tab, sub] = location.hash.slice(1).split('/');
    const t = TABS[tab] ? tab : 'agents';
    for (const a of tabLinks) a.classList.toggle('active', a.dataset.tab === t);
    document.title = ({ agents: 'Agents', inboxes: 'Inboxes', tokens: 'API tokens', profile: 'Profile' })[t] + ' · Settings · Kibo';
    TABS[t](sub);
  }
  addEventListener('hashchange', route);
  route();
})();
