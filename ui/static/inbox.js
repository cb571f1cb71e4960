// Kibo inbox: the three panes (views, conversation list, open conversation), kept live
// by the agents' event socket. Uses window.K from app.js.
'use strict';
(function () {
  const { h, icon, api } = K;
  const me = K.me || { id: 0, name: '', role: 'agent' };

  const $nav = document.getElementById('nav');
  const $list = document.getElementById('list');
  const $conv = document.getElementById('conv');
  const $search = document.getElementById('search');
  const $title = document.getElementById('list-title');
  const $statusBtn = document.getElementById('status-filter');
  const $sortBtn = document.getElementById('sort-filter');
  const $bulk = document.getElementById('bulk-bar');
  const $incBanner = document.getElementById('incident-banner');
  const $rows = h('div', { class: 'rows', id: 'rows' });
  const $foot = h('div', { class: 'list-foot' });
  $list.replaceChildren($rows, $foot);
  const emptyPane = Array.from($conv.childNodes);

  const STATUS_LABEL = { open: 'Open', pending: 'Pending', snoozed: 'Snoozed', resolved: 'Resolved', '': 'Any status' };
  const SORT_LABEL = { '': 'Newest activity', due: 'Due first' };
  const SLA_LABEL = { '': 'Any SLA', breached: 'Breached', due_soon: 'Due soon' };
  const DR_TYPES = [
    ['access', 'Access', 'Art. 15'], ['erasure', 'Erasure', 'Art. 17'], ['rectification', 'Rectification', 'Art. 16'],
    ['restriction', 'Restriction', 'Art. 18'], ['portability', 'Portability', 'Art. 20'], ['objection', 'Objection', 'Art. 21'], ['other', 'Other', ''],
  ];
  const drTypeName = (t) => { const x = DR_TYPES.find((d) => d[0] === t); return x ? x[1] : (t || 'Other'); };
  const DR_ACTIVE = new Set(['open', 'verifying', 'extended']);
  const MAX_FILE = 20 * 1024 * 1024;
  const incidentTag = (id) => 'incident-' + id;
  const STATUS_ICON = { open: 'circle', pending: 'pause', snoozed: 'moon', resolved: 'checkCircle' };
  const VIEWS = [
    { key: 'mine', label: 'Mine', icon: 'user', f: { status: 'open', assignee: 'me' }, count: (c) => c.mine, empty: 'Nothing is assigned to you. Nice work.' },
    { key: 'unassigned', label: 'Unassigned', icon: 'unassigned', f: { status: 'open', assignee: 'none' }, count: (c) => c.unassigned, empty: 'Every open conversation has an owner.' },
    { key: 'open', label: 'All open', icon: 'inbox', f: { status: 'open' }, count: (c) => st(c, 'open'), empty: 'No open conversations. Nice work.' },
    { key: 'pending', label: 'Pending', icon: 'pause', f: { status: 'pending' }, count: (c) => st(c, 'pending'), empty: 'Nothing is waiting on a customer.' },
    { key: 'snoozed', label: 'Snoozed', icon: 'moon', f: { status: 'snoozed' }, count: (c) => st(c, 'snoozed'), empty: 'Nothing is snoozed.' },
    { key: 'resolved', label: 'Resolved', icon: 'checkCircle', f: { status: 'resolved' }, empty: 'Nothing resolved yet.' },
  ];
  function st(c, s) { return c.by_status ? c.by_status[s] : undefined; }

  const S = {
    view: sessionStorage.getItem('kibo.view') || 'open',
    status: null, // the list header's override of the view's status
    q: '',
    convs: new Map(), // id → conversation, those in the current list
    known: new Map(), // id → latest conversation seen anywhere
    order: [], // ids in list order
    rows: new Map(), // id → row element
    sigs: new Map(), // id → what the row shows, to skip redraws
    next: '',
    token: 0,
    loaded: false,
    loadingMore: false,
    queue: [], // events that arrived while the list was loading
    cursor: null,
    open: null,
    inboxes: new Map(),
    agents: new Map(),
    tags: [],
    counts: null,
    navBadges: new Map(),
    navItems: new Map(),
    drafts: new Map(),
    live: null,
    sort: sessionStorage.getItem('kibo.sort') || '',
    sla: sessionStorage.getItem('kibo.sla') || '',
    selected: new Set(), // conversation ids ticked for a bulk action
    incidents: [], // active incidents, for the banner and the nav
  };
  if (!SORT_LABEL[S.sort]) S.sort = '';
  if (!SLA_LABEL[S.sla]) S.sla = '';

  // ---- filters ------------------------------------------------------------------------

  function viewDef(key) {
    const v = VIEWS.find((x) => x.key === key);
    if (v) return v;
    if (key.startsWith('inbox:')) {
      const id = Number(key.slice(6));
      const ib = S.inboxes.get(id);
      return { key, label: ib ? ib.name : 'Inbox', f: { status: 'open', inbox: id }, empty: 'No open conversations in this inbox.' };
    }
    if (key.startsWith('tag:')) {
      const t = key.slice(4);
      const m = /^incident-(\d+)$/.exec(t);
      if (m) {
        const inc = incidentByID(Number(m[1]));
        return { key, label: inc ? inc.title : 'Incident ' + m[1], incident: Number(m[1]), f: { status: 'open', tag: t }, empty: 'No open conversations arrived during this incident.' };
      }
      return { key, label: '#' + t, f: { status: 'open', tag: t }, empty: 'No open conversations tagged ' + t + '.' };
    }
    return VIEWS[0];
  }
  function filter() {
    const f = Object.assign({}, viewDef(S.view).f);
    if (S.status !== null) f.status = S.status;
    if (S.sla) f.sla = S.sla;
    return f;
  }
  function incidentByID(id) {
    const all = (K.incidents && K.incidents.list) || [];
    return all.find((i) => i.id === id) || null;
  }
  // selecting: the list shows checkboxes (a view of an incident's conversations, or
  // once something is ticked with x).
  const selecting = () => !!viewDef(S.view).incident || S.selected.size > 0;

  // ---- SLA ----------------------------------------------------------------------------

  const isBreached = (c) => !!(c.sla && (c.sla.breached_at || (c.status !== 'resolved' && c.sla.next_due_at && Date.parse(c.sla.next_due_at) <= Date.now())));
  const nextDue = (c) => (c.status !== 'resolved' && c.sla && c.sla.next_due_at) || null;
  function nextDueWhat(c) {
    const s = c.sla || {};
    return !c.first_response_at && s.first_response_due_at && s.next_due_at === s.first_response_due_at ? 'First response' : 'Resolution';
  }
  // dueLabel is the row's SLA mark: "due in 2h", amber within the hour, red "breached".
  // The ticker below keeps it current.
  function dueLabel(c) {
    if (c.status === 'resolved') return null;
    if (isBreached(c)) {
      const at = (c.sla && c.sla.breached_at) || nextDue(c);
      return h('span', { class: 'r-due breached', title: 'SLA breached' + (at ? ' ' + K.time.full(at) : '') }, icon('alert'), 'Breached');
    }
    const due = nextDue(c);
    if (!due) return null;
    return h('span', { class: ['r-due', Date.parse(due) - Date.now() < 3600e3 && 'soon'], 'data-due': due, title: nextDueWhat(c) + ' due ' + K.time.full(due) },
      icon('clock'), h('span', { class: 'r-due-text' }, 'due ' + K.time.until(due)));
  }
  setInterval(() => {
    for (const el of document.querySelectorAll('.r-due[data-due]')) {
      const due = el.getAttribute('data-due'), left = Date.parse(due) - Date.now();
      const t = el.querySelector('.r-due-text');
      if (left <= 0) {
        el.classList.remove('soon'); el.classList.add('breached'); el.removeAttribute('data-due');
        el.replaceChildren(icon('alert'), 'Breached');
        continue;
      }
      el.classList.toggle('soon', left < 3600e3);
      if (t) t.textContent = 'due ' + K.time.until(due);
    }
  }, 30000);
  function matches(c, f) {
    if (f.status && c.status !== f.status) return false;
    if (f.inbox && c.inbox_id !== f.inbox) return false;
    if (f.assignee === 'me' && c.assignee_id !== me.id) return false;
    if (f.assignee === 'none' && c.assignee_id != null) return false;
    if (f.tag && !(c.tags || []).includes(f.tag)) return false;
    if (f.sla === 'breached' && !isBreached(c)) return false;
    // "due soon" needs the warning times only the server has: a live change keeps a row
    // that is listed (unless it breached or was resolved), the next load adds new ones
    if (f.sla === 'due_soon' && (isBreached(c) || c.status === 'resolved' || !S.convs.has(c.id))) return false;
    return true;
  }
  function query(cursor) {
    const f = filter(), p = new URLSearchParams();
    if (f.status) p.set('status', f.status);
    if (f.inbox) p.set('inbox', f.inbox);
    if (f.assignee) p.set('assignee', f.assignee);
    if (f.tag) p.set('tag', f.tag);
    if (S.q) p.set('q', S.q);
    if (f.sla) p.set('sla', f.sla);
    if (S.sort) p.set('sort', S.sort);
    p.set('limit', '50');
    if (cursor) p.set('cursor', cursor);
    return '/conversations?' + p;
  }
  // newest activity first, like the server; with sort=due the earliest SLA target first
  // (none last), then the oldest id
  function cmp(a, b) {
    if (S.sort === 'due') {
      const da = Date.parse(nextDue(a) || '') || Infinity, db = Date.parse(nextDue(b) || '') || Infinity;
      if (da !== db) return da < db ? -1 : 1;
      return a.id - b.id;
    }
    const ta = Date.parse(a.last_message_at) || 0, tb = Date.parse(b.last_message_at) || 0;
    return ta !== tb ? tb - ta : b.id - a.id;
  }
  const contactName = (c) => (c.contact && (c.contact.name || c.contact.email)) || 'Visitor';
  const agentName = (id) => { const a = S.agents.get(id); return a ? a.name : 'Agent ' + id; };

  // ---- nav --------------------------------------------------------------------------

  function navItem(key, label, ic, extra) {
    const active = S.view === key;
    const badge = h('span', { class: 'nav-count' });
    const a = h('a', {
      class: ['nav-item', active && 'active'], href: '#', 'data-view': key,
      onclick: (e) => { e.preventDefault(); setView(key); },
    }, typeof ic === 'string' ? icon(ic) : ic, h('span', { class: 'nav-label' }, label), extra || null, badge);
    S.navBadges.set(key, badge);
    S.navItems.set(key, a);
    return a;
  }
  function renderNav() {
    S.navBadges.clear(); S.navItems.clear();
    const unread = h('span', { class: 'nav-unread', id: 'unread-count', hidden: true });
    const parts = [h('div', { class: 'nav-section' }, h('span', null, 'Views'), unread)];
    for (const v of VIEWS) parts.push(navItem(v.key, v.label, v.icon));
    // the conversations of each active incident (and of the one being looked at)
    const incs = S.incidents.slice();
    const cur = viewDef(S.view).incident;
    if (cur && !incs.some((i) => i.id === cur)) incs.push(incidentByID(cur) || { id: cur, title: 'Incident ' + cur });
    if (incs.length) {
      parts.push(h('div', { class: 'nav-section' }, h('span', null, 'Incidents')));
      for (const i of incs) parts.push(navItem('tag:' + incidentTag(i.id), i.title, icon('warning', i.phase === 'active' ? 'nav-ic-red' : '')));
    }
    if (S.inboxes.size) {
      parts.push(h('div', { class: 'nav-section' }, h('span', null, 'Channels')));
      for (const ib of S.inboxes.values()) {
        const err = ib.state === 'error' ? h('span', { class: 'nav-dot err', title: ib.last_error || 'Connection error' }) : null;
        parts.push(navItem('inbox:' + ib.id, ib.name, K.channelIcon(ib.kind), err));
      }
    }
    const tags = S.tags.filter((x) => !incs.some((i) => incidentTag(i.id) === x)).slice(0, 8);
    if (tags.length) {
      parts.push(h('div', { class: 'nav-section' }, h('span', null, 'Tags')));
      for (const t of tags) parts.push(navItem('tag:' + t, t, h('span', { class: 'tag-dot', style: { background: `hsl(${K.hue(t)} 60% 55%)` } })));
    }
    $nav.replaceChildren(...parts);
    S.navBadges.set('_unread', unread);
    renderCounts();
  }
  function renderCounts() {
    const c = S.counts;
    if (!c) return;
    for (const v of VIEWS) {
      const b = S.navBadges.get(v.key);
      if (!b || !v.count) continue;
      const n = v.count(c);
      b.textContent = n ? String(n) : '';
    }
    const byInbox = c.by_inbox || {};
    for (const ib of S.inboxes.values()) {
      const b = S.navBadges.get('inbox:' + ib.id);
      if (b) b.textContent = byInbox[ib.id] ? String(byInbox[ib.id]) : '';
    }
    const u = S.navBadges.get('_unread');
    if (u) { u.hidden = !c.unread; u.textContent = c.unread ? c.unread + ' unread' : ''; }
    document.title = (c.unread ? '(' + c.unread + ') ' : '') + viewDef(S.view).label + ' · Kibo';
  }
  // The server pushes the counts (a "counts" event) whenever they change, so the page
  // asks for them only when it loads and when its socket comes back. One request at a
  // time: a call during one is made once it ends, and a slow answer (a server under
  // load) makes the next one wait longer instead of piling up.
  const CT = { busy: false, again: false, wait: 0 };
  async function refreshCounts() {
    if (CT.busy) { CT.again = true; return; }
    CT.busy = true;
    const t0 = performance.now();
    try { S.counts = await api('GET', '/counts'); renderCounts(); } catch (e) { /* the next push or reconnect brings them */ }
    const took = performance.now() - t0;
    CT.wait = took > 1000 ? Math.min(Math.max(CT.wait * 2, 2000), 30000) : 0;
    setTimeout(() => {
      CT.busy = false;
      if (CT.again) { CT.again = false; refreshCounts(); }
    }, CT.wait);
  }

  function setView(key) {
    if (key !== S.view || S.status !== null) {
      S.view = key;
      S.status = null;
      S.selected.clear();
      sessionStorage.setItem('kibo.view', key);
    }
    for (const [k, el] of S.navItems) el.classList.toggle('active', k === key);
    loadList();
  }

  function renderListHead() {
    const v = viewDef(S.view), f = filter();
    $title.textContent = S.q ? 'Search' : v.label;
    $statusBtn.replaceChildren(f.status ? icon(STATUS_ICON[f.status]) : icon('layers'), STATUS_LABEL[f.status || ''], icon('chevronDown', 'chev'));
    const custom = S.sort || S.sla;
    $sortBtn.classList.toggle('is-set', !!custom);
    K.put($sortBtn, icon(S.sla ? 'clock' : 'sort'), custom ? [S.sort ? SORT_LABEL[S.sort] : null, S.sort && S.sla ? ' · ' : null, S.sla ? SLA_LABEL[S.sla] : null] : 'Sort', icon('chevronDown', 'chev'));
    $sortBtn.title = 'Sort: ' + SORT_LABEL[S.sort] + ' · SLA: ' + SLA_LABEL[S.sla];
    renderCounts();
    renderBulk();
  }
  $statusBtn.addEventListener('click', () => {
    const cur = filter().status || '';
    K.menu($statusBtn, ['open', 'pending', 'snoozed', 'resolved', ''].map((s) => ({
      label: STATUS_LABEL[s], icon: s ? STATUS_ICON[s] : 'layers', checked: s === cur,
      onSelect: () => { S.status = s; loadList(); },
    })), { alignRight: true });
  });
  $sortBtn.addEventListener('click', () => {
    const set = (k, v) => { S[k] = v; sessionStorage.setItem('kibo.' + k, v); loadList(); };
    K.menu($sortBtn, [
      { heading: 'Sort' },
      { label: SORT_LABEL[''], icon: 'clock', checked: !S.sort, onSelect: () => set('sort', '') },
      { label: SORT_LABEL.due, icon: 'hourglass', checked: S.sort === 'due', note: 'earliest SLA target', onSelect: () => set('sort', 'due') },
      'sep',
      { heading: 'Service level' },
      { label: SLA_LABEL[''], icon: 'layers', checked: !S.sla, onSelect: () => set('sla', '') },
      { label: SLA_LABEL.breached, icon: 'alert', checked: S.sla === 'breached', onSelect: () => set('sla', 'breached') },
      { label: SLA_LABEL.due_soon, icon: 'clock', checked: S.sla === 'due_soon', note: 'near a target', onSelect: () => set('sla', 'due_soon') },
    ], { alignRight: true, keyboard: true });
  });

  // ---- selection and bulk actions -------------------------------------------------------

  function renderBulk() {
    const on = selecting();
    $list.classList.toggle('selecting', on);
    $bulk.hidden = !on;
    if (!on) return;
    const n = S.selected.size, shown = S.order.length;
    const inList = S.order.filter((id) => S.selected.has(id)).length;
    const all = h('input', {
      type: 'checkbox', id: 'bulk-all', 'aria-label': 'Select all conversations in the list', title: 'Select all in the list',
      checked: shown > 0 && inList === shown, indeterminate: inList > 0 && inList < shown, disabled: !shown,
      onchange: (e) => {
        if (e.currentTarget.checked) for (const id of S.order) S.selected.add(id);
        else S.selected.clear();
        syncChecks();
      },
    });
    K.put($bulk, 
      h('label', { class: 'bulk-all' }, all, h('span', { id: 'bulk-count' }, n ? n + ' selected' : 'Select all')),
      h('span', { class: 'spacer' }),
      h('button', { type: 'button', class: 'btn btn-secondary btn-xs', id: 'bulk-reply', disabled: !n, title: 'Send one reply to each selected conversation', onclick: bulkReply }, icon('reply'), 'Reply'),
      h('button', { type: 'button', class: 'btn btn-secondary btn-xs', id: 'bulk-resolve', disabled: !n, title: 'Resolve the selected conversations', onclick: (e) => bulkResolve(e.currentTarget) }, icon('check'), 'Resolve'),
      n ? h('button', { type: 'button', class: 'icon-btn bulk-clear', title: 'Clear the selection (Esc)', 'aria-label': 'Clear the selection', onclick: () => { S.selected.clear(); syncChecks(); } }, icon('close')) : null);
  }

  // syncChecks shows S.selected in the rows' checkboxes and the bar.
  function syncChecks() {
    for (const [id, el] of S.rows) {
      const on = S.selected.has(id);
      el.classList.toggle('selected', on);
      const cb = el.querySelector('.r-check');
      if (cb) cb.checked = on;
    }
    renderBulk();
  }

  function toggleSelect(id) {
    if (id == null) return;
    if (S.selected.has(id)) S.selected.delete(id); else S.selected.add(id);
    syncChecks();
  }

  function selectedIDs() { return Array.from(S.selected); }

  function bulkReply() {
    const ids = selectedIDs();
    if (!ids.length) return;
    const inc = incidentByID(viewDef(S.view).incident);
    const ta = h('textarea', { id: 'bulk-reply-text', rows: 6, autofocus: true, placeholder: inc ? 'We know about “' + inc.title + '” and are working on it…' : 'Write the reply…' });
    const chans = new Set(ids.map((id) => (S.known.get(id) || {}).channel).filter(Boolean));
    K.dialog({
      title: 'Reply to ' + ids.length + (ids.length === 1 ? ' conversation' : ' conversations'),
      wide: true,
      body: h('div', null,
        K.field('Reply', ta, 'Each customer gets it on their own channel' + (chans.size ? ' (' + Array.from(chans).map(K.channelName).join(', ') + ')' : '') + ', as if you answered one by one.'),
        inc && inc.message ? h('button', { type: 'button', class: 'link-btn', onclick: () => { ta.value = inc.message; ta.focus(); } }, 'Use the incident’s latest message') : null),
      actions: [{ label: 'Cancel' }, {
        label: 'Send to ' + ids.length, primary: true, submit: true, onClick: async (b) => {
          const text = ta.value.trim();
          if (!text) { K.toast('Write the reply first.'); ta.focus(); return false; }
          const r = await K.run(b, () => api('POST', '/conversations/bulk-reply', { ids, text }));
          if (!r) return false;
          const sent = (r.messages || []).length, errs = r.errors || [];
          if (S.open) for (const m of r.messages || []) if (m.conversation_id === S.open.id) addMessage(m);
          if (errs.length) K.toast('Sent to ' + sent + '; ' + errs.length + ' failed: ' + errs.slice(0, 3).map((x) => '#' + ((S.known.get(x.id) || {}).number || x.id) + ' ' + x.error).join('; '), 'error', { ms: 12000 });
          else K.toast('Sent to ' + sent + (sent === 1 ? ' conversation' : ' conversations') + '. Press Resolve to close them.', 'ok', { ms: 5000 });
          return true;
        },
      }],
    });
  }

  async function bulkResolve(btn) {
    const ids = selectedIDs();
    if (!ids.length) return;
    if (ids.length > 1 && !(await K.confirm('Resolve ' + ids.length + ' conversations?', 'They leave the open views. A customer who writes again reopens theirs.', 'Resolve ' + ids.length))) return;
    const r = await K.run(btn, () => api('POST', '/conversations/bulk', { ids, status: 'resolved' }));
    if (!r) return;
    for (const c of r.conversations || []) upsert(c);
    const errs = r.errors || [];
    S.selected.clear();
    for (const x of errs) S.selected.add(x.id);
    syncChecks();
    const n = (r.conversations || []).length;
    if (errs.length) K.toast('Resolved ' + n + '; ' + errs.length + ' failed: ' + errs.slice(0, 3).map((x) => x.error).join('; '), 'error', { ms: 12000 });
    else K.toast('Resolved ' + n + (n === 1 ? ' conversation' : ' conversations'), 'ok');
  }

  // ---- list -------------------------------------------------------------------------

  async function loadList() {
    const token = ++S.token;
    S.loaded = false;
    renderListHead();
    if (!S.order.length) skeleton();
    else $list.classList.add('is-loading');
    let r;
    try {
      r = await api('GET', query());
    } catch (e) {
      if (token !== S.token) return;
      $list.classList.remove('is-loading');
      S.loaded = true;
      K.toast(e.message);
      showFoot();
      return;
    }
    if (token !== S.token) return;
    $list.classList.remove('is-loading');
    S.convs.clear(); S.order = []; S.rows.clear(); S.sigs.clear();
    $rows.replaceChildren();
    const list = r.conversations || [];
    const frag = document.createDocumentFragment();
    for (const c of list) {
      S.convs.set(c.id, c); S.known.set(c.id, c); S.order.push(c.id);
      frag.appendChild(drawRow(c));
    }
    $rows.appendChild(frag);
    S.next = r.next_cursor || '';
    S.loaded = true;
    if (S.cursor != null && !S.convs.has(S.cursor)) S.cursor = null;
    for (const id of S.selected) if (!S.convs.has(id)) S.selected.delete(id);
    renderBulk();
    markRows();
    showFoot();
    $list.scrollTop = 0;
    drain();
  }

  async function loadMore(btn) {
    if (!S.next || S.loadingMore) return;
    S.loadingMore = true;
    const token = S.token;
    const r = await K.run(btn, () => api('GET', query(S.next)));
    S.loadingMore = false;
    if (!r || token !== S.token) return;
    const frag = document.createDocumentFragment();
    for (const c of r.conversations || []) {
      S.known.set(c.id, c);
      if (S.convs.has(c.id)) continue;
      S.convs.set(c.id, c); S.order.push(c.id);
      frag.appendChild(drawRow(c));
    }
    $rows.appendChild(frag);
    S.next = r.next_cursor || '';
    markRows();
    showFoot();
    renderBulk();
  }

  function skeleton() {
    $rows.replaceChildren(...Array.from({ length: 7 }, () => h('div', { class: 'row skel' },
      h('div', { class: 'sk sk-a' }), h('div', { class: 'sk sk-b' }), h('div', { class: 'sk sk-c' }))));
    $foot.replaceChildren();
  }

  const moreObserver = 'IntersectionObserver' in window ? new IntersectionObserver((es) => {
    if (es.some((e) => e.isIntersecting)) loadMore(document.getElementById('load-more'));
  }, { root: $list, rootMargin: '200px' }) : null;

  function showFoot() {
    if (moreObserver) moreObserver.disconnect();
    if (!S.loaded) return;
    if (!S.order.length) {
      const v = viewDef(S.view);
      const text = S.q ? 'No conversations match “' + S.q + '”.' : (S.status !== null && S.status !== v.f.status ? 'Nothing ' + (STATUS_LABEL[S.status] || 'here').toLowerCase() + ' here.' : v.empty);
      $foot.replaceChildren(h('div', { class: 'empty', id: 'list-empty' },
        h('div', { class: 'empty-art' }, icon(S.q ? 'search' : 'checkCircle')), h('p', null, text)));
      return;
    }
    if (S.next) {
      const b = h('button', { type: 'button', class: 'btn btn-ghost btn-block', id: 'load-more', onclick: () => loadMore(b) }, 'Load more');
      $foot.replaceChildren(b);
      if (moreObserver) moreObserver.observe(b);
    } else $foot.replaceChildren(h('div', { class: 'list-end' }, S.order.length > 8 ? 'That’s everything' : ''));
  }

  function rowSig(c) {
    return JSON.stringify([contactName(c), c.channel, c.number, c.last_message_at, c.subject, c.preview, c.unread_count,
      c.priority, c.tags, c.assignee_id, c.status, S.agents.size, filter().status, c.sla, c.first_response_at]);
  }

  function buildRow(c) {
    const unread = c.unread_count > 0;
    const f = filter();
    const subject = (c.subject || '').trim(), preview = (c.preview || '').trim();
    const tags = c.tags || [];
    const meta = [];
    const due = dueLabel(c);
    if (due) meta.push(due);
    if (c.priority === 'high' || c.priority === 'urgent') meta.push(h('span', { class: 'r-prio r-prio-' + c.priority, title: K.priorityName(c.priority) + ' priority' }, K.priorityIcon(c.priority), K.priorityName(c.priority)));
    if (!f.status) meta.push(h('span', { class: 'badge st-' + c.status }, STATUS_LABEL[c.status] || c.status));
    for (const t of tags.slice(0, 3)) meta.push(h('span', { class: 'chip chip-sm' }, h('span', { class: 'tag-dot', style: { background: `hsl(${K.hue(t)} 60% 55%)` } }), t));
    if (tags.length > 3) meta.push(h('span', { class: 'chip chip-sm' }, '+' + (tags.length - 3)));
    const picked = S.selected.has(c.id);
    return h('div', {
      class: ['row', unread && 'unread', picked && 'selected'], role: 'option', 'data-id': c.id, 'data-status': c.status, 'aria-selected': 'false',
    },
    h('div', { class: 'r1' },
      h('input', { type: 'checkbox', class: 'r-check', checked: picked, tabindex: '-1', 'aria-label': 'Select #' + c.number, title: 'Select (x)' }),
      K.channelIcon(c.channel),
      h('span', { class: 'r-name' }, contactName(c)),
      h('span', { class: 'r-num' }, '#' + c.number),
      K.relTime(c.last_message_at, 'r-time')),
    h('div', { class: 'r2' },
      h('span', { class: ['r-subject', !subject && !preview && 'muted'] }, subject || preview || 'No messages yet'),
      unread ? h('span', { class: 'r-unread', title: c.unread_count + ' unread' }, String(c.unread_count)) : null),
    subject && preview ? h('div', { class: 'r3' }, preview) : null,
    meta.length || c.assignee_id ? h('div', { class: 'r4' }, meta,
      h('span', { class: 'spacer' }),
      c.assignee_id ? K.avatar(agentName(c.assignee_id), { seed: c.assignee_id, size: 'xs', title: 'Assigned to ' + agentName(c.assignee_id) }) : null) : null);
  }

  // drawRow makes or refreshes the row of c in place; it returns the element.
  function drawRow(c) {
    const sig = rowSig(c);
    const old = S.rows.get(c.id);
    if (old && S.sigs.get(c.id) === sig) return old;
    const el = buildRow(c);
    if (old) {
      el.className = old.className; // keep cursor/active marks
      el.classList.toggle('unread', c.unread_count > 0);
      el.classList.toggle('selected', S.selected.has(c.id));
      el.setAttribute('aria-selected', old.getAttribute('aria-selected'));
      if (old.parentNode) old.replaceWith(el);
    }
    S.rows.set(c.id, el);
    S.sigs.set(c.id, sig);
    return el;
  }

  // place moves c's row to where it sorts; beyond the loaded page it is left out.
  function place(c) {
    const i = S.order.indexOf(c.id);
    if (i >= 0) S.order.splice(i, 1);
    let j = 0;
    while (j < S.order.length && cmp(S.convs.get(S.order[j]), c) < 0) j++;
    S.order.splice(j, 0, c.id);
    const el = S.rows.get(c.id);
    const before = j + 1 < S.order.length ? S.rows.get(S.order[j + 1]) : null;
    if (el.parentNode !== $rows || el.nextSibling !== before) $rows.insertBefore(el, before);
  }

  function removeRow(id) {
    const i = S.order.indexOf(id);
    if (i >= 0) S.order.splice(i, 1);
    const el = S.rows.get(id);
    if (el) el.remove();
    S.rows.delete(id); S.sigs.delete(id); S.convs.delete(id);
    if (S.selected.delete(id)) renderBulk();
    if (S.cursor === id) S.cursor = S.order.length ? S.order[Math.min(i, S.order.length - 1)] : null;
    markRows();
  }

  // upsert takes a newer copy of a conversation from anywhere: it updates, inserts,
  // moves or removes the row as the current view's filter says, and the open pane.
  function upsert(c) {
    if (!c || !c.id) return;
    S.known.set(c.id, c);
    const has = S.convs.has(c.id);
    const fits = matches(c, filter()) && (!S.q || has);
    if (!fits) {
      if (has) { removeRow(c.id); showFoot(); }
    } else {
      const beyond = !has && S.next && S.order.length && cmp(S.convs.get(S.order[S.order.length - 1]), c) < 0;
      if (!beyond) {
        S.convs.set(c.id, c);
        drawRow(c);
        place(c);
        if (!has) { markRows(); if (S.order.length === 1) showFoot(); }
      }
    }
    if (S.open && S.open.id === c.id) { S.open.conv = c; renderHead(); renderBanner(); renderSeen(); }
  }

  function markRows() {
    for (const [id, el] of S.rows) {
      el.classList.toggle('active', !!S.open && S.open.id === id);
      el.classList.toggle('cursor', S.cursor === id);
      el.setAttribute('aria-selected', String(!!S.open && S.open.id === id));
    }
  }

  $list.addEventListener('click', (e) => {
    const row = e.target.closest('.row[data-id]');
    if (!row) return;
    const id = Number(row.dataset.id);
    if (e.target.classList.contains('r-check')) { S.cursor = id; markRows(); toggleSelect(id); return; }
    S.cursor = id;
    openConv(id);
  });

  function moveCursor(d) {
    if (!S.order.length) return;
    let i = S.order.indexOf(S.cursor != null ? S.cursor : (S.open ? S.open.id : -1));
    i = i < 0 ? (d > 0 ? 0 : S.order.length - 1) : Math.max(0, Math.min(S.order.length - 1, i + d));
    S.cursor = S.order[i];
    markRows();
    const el = S.rows.get(S.cursor);
    if (el) el.scrollIntoView({ block: 'nearest' });
    if (d > 0 && i >= S.order.length - 3 && S.next) loadMore(document.getElementById('load-more'));
  }

  // ---- events -----------------------------------------------------------------------

  function drain() {
    const q = S.queue; S.queue = [];
    for (const ev of q) onEvent(ev);
  }

  function onEvent(ev) {
    if (ev.type === 'resync') { reloadAll(); return; }
    if (!S.loaded && (ev.type === 'message.created' || ev.type === 'conversation.updated' || ev.type === 'message.updated')) { S.queue.push(ev); return; }
    switch (ev.type) {
      case 'message.created': {
        if (ev.conversation) upsert(ev.conversation);
        const m = ev.message;
        if (m && S.open && m.conversation_id === S.open.id && !S.open.msgs) S.open.early.push(m);
        else if (m && S.open && m.conversation_id === S.open.id) {
          addMessage(m);
          if (m.direction === 'in' && !m.private) { showTyping(null, false); markRead(true); }
        }
        break;
      }
      case 'message.updated':
        if (ev.message && S.open && (ev.conversation_id || ev.message.conversation_id) === S.open.id) updateMessage(ev.message);
        break;
      case 'conversation.updated':
        upsert(ev.conversation);
        break;
      case 'counts':
        if (ev.counts) { S.counts = ev.counts; renderCounts(); }
        break;
      case 'conversation.seen':
        contactRead(ev.conversation_id, ev.contact_read_id);
        break;
      case 'typing':
        if (S.open && ev.conversation_id === S.open.id && ev.who === 'contact') showTyping(ev.name, ev.on);
        break;
      case 'presence':
        if (S.open && ev.conversation_id === S.open.id) { S.open.presence = ev.agents || []; renderPresence(); }
        break;
      case 'data_request.updated': {
        const d = ev.data_request;
        if (d && S.open && S.open.drs && d.conversation_id === S.open.id) {
          S.open.drs = S.open.drs.filter((x) => x.id !== d.id).concat([d]);
          renderDataRequests();
        }
        break;
      }
      case 'contact.erased':
        contactErased(ev.conversation_ids || []);
        break;
    }
  }

  // contactErased drops an erased person's conversations from the list and closes the
  // open one if it was theirs: there is nothing left to show.
  function contactErased(ids) {
    let closed = false;
    for (const id of ids) {
      S.known.delete(id);
      S.drafts.delete(id);
      if (S.convs.has(id)) removeRow(id);
      if (S.open && S.open.id === id) closed = true;
    }
    showFoot();
    if (closed) {
      closeConv();
      if (location.hash.startsWith('#c/')) history.replaceState(null, '', location.pathname + location.search);
      K.toast('This conversation’s contact was erased: it is gone for good.', 'info', { ms: 6000 });
    }
  }

  // ---- incidents ------------------------------------------------------------------------

  // The banner over the inbox while an incident is active: what it is, its estimate,
  // and the way to the conversations that came in during it (to answer them together).
  function setIncidents(list) {
    const active = list.filter((i) => i.phase === 'active');
    const sig = JSON.stringify(active.map((i) => [i.id, i.title, i.state, i.eta, i.updated_at]));
    const changed = sig !== S.incSig;
    S.incSig = sig;
    S.incidents = active;
    if (!changed && $incBanner.dataset.ready) return;
    $incBanner.dataset.ready = '1';
    renderIncidentBanner();
    renderNav();
    renderListHead();
  }
  const STATE_WORDS = { investigating: 'Investigating', identified: 'Identified', monitoring: 'Monitoring', resolved: 'Resolved', scheduled: 'Planned maintenance' };
  function renderIncidentBanner() {
    const list = S.incidents;
    $incBanner.hidden = !list.length;
    $incBanner.replaceChildren(...list.slice(0, 3).map((i) => {
      const view = 'tag:' + incidentTag(i.id);
      return h('div', { class: ['inc-line', 'inc-' + (i.impact || 'outage')], 'data-incident': i.id },
        icon('warning'),
        h('span', { class: 'inc-what' }, h('b', null, i.title), ' ',
          h('span', { class: 'inc-state-chip' }, STATE_WORDS[i.state] || i.state),
          h('span', { class: 'inc-meta' }, ' since ' + K.time.short(i.created_at) + (i.eta ? ' · back ' + K.time.short(i.eta) : ''))),
        h('span', { class: 'spacer' }),
        h('button', { type: 'button', class: 'btn btn-xs inc-btn', id: 'incident-view-' + i.id, title: 'The conversations that came in during it, to answer together', onclick: () => setView(view) }, 'Conversations during it'),
        h('a', { class: 'btn btn-xs btn-ghost inc-link', href: '/incidents' }, 'Post an update'));
    }));
  }
  K.watchIncidents(setIncidents);

  function onOpen() {
    // the server forgets what a socket was viewing when it drops
    if (S.open) S.live.send({ type: 'viewing', conversation_id: S.open.id });
    // counts pushed while the socket was down were missed (the first open follows the
    // page's own load)
    if (S.socketWasOpen) refreshCounts();
    S.socketWasOpen = true;
  }

  function reloadAll() {
    loadList();
    refreshCounts();
    loadMeta();
    if (S.open) loadThread(S.open.id);
  }

  // ---- open conversation --------------------------------------------------------------

  function openConv(id) {
    id = Number(id);
    if (!id) return;
    if (S.open && S.open.id === id) { markRows(); return; }
    leaveConv();
    S.open = { id, conv: S.known.get(id) || null, msgs: null, early: [], lastId: 0, readUpTo: 0, lastDay: '', presence: [], el: {}, mode: 'reply', files: [], drs: null };
    S.cursor = id;
    markRows();
    if (location.hash !== '#c/' + id) history.pushState(null, '', '#c/' + id);
    buildPane();
    S.live.send({ type: 'viewing', conversation_id: id });
    loadThread(id);
  }

  function leaveConv() {
    if (!S.open) return;
    stopTyping();
    saveDraft();
    S.live.send({ type: 'viewing', conversation_id: null });
    S.open = null;
  }

  function closeConv() {
    leaveConv();
    $conv.replaceChildren(...emptyPane);
    markRows();
  }

  async function loadThread(id) {
    const o = S.open;
    if (o.msgs) { for (const x of o.msgs.values()) o.early.push(x.m); o.msgs = null; }
    let conv, msgs;
    loadDataRequests(o);
    try {
      [conv, msgs] = await Promise.all([api('GET', '/conversations/' + id), api('GET', '/conversations/' + id + '/messages')]);
    } catch (e) {
      if (S.open !== o) return;
      o.el.thread.replaceChildren(h('div', { class: 'empty' }, h('div', { class: 'empty-art' }, icon('alert')), h('p', null, e.message)));
      return;
    }
    if (S.open !== o) return;
    o.conv = conv;
    S.known.set(conv.id, conv);
    if (S.convs.has(conv.id)) { S.convs.set(conv.id, conv); drawRow(conv); }
    renderHead();
    renderBanner();
    o.msgs = new Map();
    o.lastDay = '';
    o.el.thread.replaceChildren();
    const list = (msgs && msgs.messages) || [];
    for (const m of list) addMessage(m, true);
    // events that arrived while the thread was loading; addMessage drops duplicates
    for (const m of o.early.splice(0)) addMessage(m, true);
    if (!o.msgs.size) o.el.thread.appendChild(h('div', { class: 'empty thread-empty' }, h('p', null, 'No messages yet.')));
    renderSeen();
    o.el.thread.scrollTop = o.el.thread.scrollHeight;
    if (!conv.unread_count) o.readUpTo = o.lastId;
    markRead();
  }

  function buildPane() {
    const o = S.open, el = o.el;
    el.head = h('header', { class: 'conv-head', id: 'conv-head' });
    el.presence = h('div', { class: 'presence', id: 'presence', hidden: true });
    el.thread = h('div', { class: 'thread', id: 'thread', role: 'log', 'aria-label': 'Messages' },
      h('div', { class: 'thread-loading' }, h('span', { class: 'spinner' }), 'Loading messages…'));
    el.typing = h('div', { class: 'typing', id: 'typing', hidden: true, 'aria-live': 'polite' });
    el.banner = h('div', { class: 'conv-banner', id: 'conv-banner', hidden: true });
    el.sendAlert = h('div', { class: 'conv-banner conv-banner-err', id: 'send-alert', role: 'alert', hidden: true });
    el.drBanner = h('div', { class: 'dr-banner', id: 'dr-banner', hidden: true });
    el.composer = buildComposer();
    $conv.replaceChildren(el.head, el.drBanner, el.thread, el.typing, el.banner, el.sendAlert, el.composer);
    if (o.conv) renderHead();
  }

  function propButton(id, label, ic, title, onclick) {
    return h('button', { type: 'button', class: 'prop', id, title, 'aria-haspopup': 'menu', onclick }, ic, h('span', { class: 'prop-label' }, label), icon('chevronDown', 'chev'));
  }

  function renderHead() {
    const o = S.open;
    if (!o || !o.conv) return;
    const c = o.conv, el = o.el;
    const ib = S.inboxes.get(c.inbox_id);
    const assignee = c.assignee_id ? agentName(c.assignee_id) : null;
    const resolved = c.status === 'resolved';
    const contactHref = c.contact && c.contact.id ? '/contacts/' + c.contact.id : null;
    const tags = c.tags || [];

    const actions = h('div', { class: 'conv-actions' },
      c.assignee_id !== me.id ? h('button', { type: 'button', class: 'btn btn-secondary btn-sm', id: 'conv-assign-me', title: 'Assign to me (a)', onclick: (e) => assignMe(e.currentTarget) }, icon('userPlus'), 'Assign to me') : null,
      h('button', { type: 'button', class: 'btn btn-secondary btn-sm', id: 'conv-snooze', title: 'Snooze (s)', 'aria-haspopup': 'menu', onclick: (e) => snoozeMenu(e.currentTarget) }, icon('moon'), 'Snooze'),
      h('button', {
        type: 'button', class: ['btn btn-sm', resolved ? 'btn-secondary' : 'btn-primary'], id: 'conv-resolve', title: resolved ? 'Reopen' : 'Resolve (e)',
        onclick: (e) => patch(c.id, { status: resolved ? 'open' : 'resolved' }, e.currentTarget),
      }, icon(resolved ? 'retry' : 'check'), resolved ? 'Reopen' : 'Resolve'));

    const props = h('div', { class: 'conv-props' },
      propButton('conv-status', STATUS_LABEL[c.status] || c.status, h('span', { class: 'st-ic st-' + c.status }, icon(STATUS_ICON[c.status] || 'circle')), 'Status', (e) => statusMenu(e.currentTarget)),
      propButton('conv-priority', K.priorityName(c.priority), K.priorityIcon(c.priority), 'Priority (p cycles)', (e) => priorityMenu(e.currentTarget)),
      propButton('conv-assignee', assignee || 'Unassigned', assignee ? K.avatar(assignee, { seed: c.assignee_id, size: 'xs' }) : icon('unassigned'), 'Assignee (a assigns to you)', (e) => assigneeMenu(e.currentTarget)),
      h('div', { class: 'conv-tags', id: 'conv-tags' },
        tags.map((t) => h('span', { class: 'chip', 'data-tag': t },
          h('span', { class: 'tag-dot', style: { background: `hsl(${K.hue(t)} 60% 55%)` } }), t,
          h('button', { type: 'button', class: 'chip-x', title: 'Remove tag ' + t, 'aria-label': 'Remove tag ' + t, onclick: (e) => patch(c.id, { tags: tags.filter((x) => x !== t) }, e.currentTarget) }, icon('close')))),
        h('button', { type: 'button', class: 'prop prop-add', id: 'conv-add-tag', title: 'Add a tag (t)', onclick: (e) => tagMenu(e.currentTarget) }, icon('tag'), h('span', null, tags.length ? '' : 'Add tag'), icon('plus', 'plus'))),
      c.status === 'snoozed' && c.snoozed_until ? h('span', { class: 'snoozed-until', title: K.time.full(c.snoozed_until) }, icon('moon'), 'until ' + K.time.short(c.snoozed_until)) : null,
      h('button', { type: 'button', class: 'prop prop-dr', id: 'conv-data-request', title: 'Open a GDPR data request (d)', 'aria-haspopup': 'menu', onclick: (e) => dataRequestMenu(e.currentTarget) }, icon('shield'), h('span', { class: 'prop-label' }, 'Data request'), icon('chevronDown', 'chev')),
      o.el.drChip = h('span', { class: 'dr-chip-wrap', id: 'dr-chip-wrap' }),
      slaTimes(c));

    el.head.replaceChildren(
      h('div', { class: 'conv-title' },
        h('div', { class: 'conv-title-text' },
          h('h2', { id: 'conv-subject' }, h('span', { class: 'conv-num' }, '#' + c.number), (c.subject || '').trim() || 'Conversation with ' + contactName(c)),
          h('div', { class: 'conv-meta' },
            K.channelIcon(c.channel),
            h('span', null, ib ? ib.name : K.channelName(c.channel)),
            h('span', { class: 'dot-sep' }, '·'),
            contactHref ? h('a', { href: contactHref, class: 'contact-link', id: 'conv-contact', title: 'Open the contact' }, contactName(c)) : h('span', null, contactName(c)),
            c.contact && c.contact.email && c.contact.email !== contactName(c) ? h('span', { class: 'muted' }, c.contact.email) : null,
            c.contact && c.contact.email && c.contact.email_verified === false ? K.unverified('address') : null,
            h('span', { class: 'dot-sep' }, '·'),
            h('span', { class: 'muted', title: K.time.full(c.created_at) }, 'started ' + K.time.rel(c.created_at) + (K.time.rel(c.created_at) === 'now' ? '' : ' ago')))),
        actions),
      props,
      el.presence);
    renderPresence();
    updateComposerTarget();
    renderDataRequests();
  }

  // slaTimes shows the conversation's targets: first response (until answered) and
  // resolution, each as "due in 2h" or breached.
  function slaTimes(c) {
    const sl = c.sla;
    if (!sl || c.status === 'resolved') return null;
    const item = (label, at, done) => {
      if (!at || done) return null;
      const late = Date.parse(at) <= Date.now();
      return h('span', { class: ['sla-item', late && 'late'], title: label + ' due ' + K.time.full(at) },
        h('span', { class: 'sla-k' }, label), ' ', late ? 'breached ' + K.time.until(at) : 'due ' + K.time.until(at));
    };
    const parts = [
      item('First response', sl.first_response_due_at, !!c.first_response_at),
      item('Resolution', sl.resolution_due_at, false),
    ].filter(Boolean);
    if (!parts.length && !sl.breached_at) return null;
    return h('span', { class: ['sla-times', isBreached(c) && 'breached'], id: 'conv-sla' }, icon(isBreached(c) ? 'alert' : 'clock'),
      sl.breached_at && !parts.some((p) => p.classList.contains('late')) ? h('span', { class: 'sla-item late', title: 'Breached ' + K.time.full(sl.breached_at) }, 'SLA breached') : null,
      parts);
  }

  // ---- data requests (GDPR) ---------------------------------------------------------------

  async function loadDataRequests(o) {
    let r;
    try { r = await api('GET', '/data-requests?conversation=' + o.id + '&limit=50'); } catch (e) { return; }
    if (S.open !== o) return;
    o.drs = r.data_requests || [];
    renderDataRequests();
  }

  function daysLeftText(d) {
    const n = d.days_left;
    if (n == null) return '';
    return n < 0 ? (-n === 1 ? '1 day overdue' : -n + ' days overdue') : n === 0 ? 'due today' : n === 1 ? '1 day left' : n + ' days left';
  }

  // renderDataRequests shows a suggestion as a banner to confirm or dismiss, and open
  // requests as chips in the header.
  function renderDataRequests() {
    const o = S.open;
    if (!o || !o.drs || !o.el.drBanner) return;
    const active = o.drs.filter((d) => DR_ACTIVE.has(d.status));
    if (o.el.drChip) o.el.drChip.replaceChildren(...active.map((d) => h('a', {
      class: ['dr-chip', d.days_left != null && d.days_left < 0 ? 'late' : d.days_left != null && d.days_left <= 7 ? 'soon' : null],
      href: '/data-requests#dr-' + d.id, 'data-id': d.id,
      title: drTypeName(d.type) + ' request, due ' + K.time.full(d.effective_due_at || d.due_at) + (d.status === 'verifying' ? ' (verifying identity)' : d.status === 'extended' ? ' (extended)' : ''),
    }, icon('shield'), drTypeName(d.type), h('span', { class: 'dr-chip-days' }, daysLeftText(d)))));
    const sug = o.drs.filter((d) => d.status === 'suggested').sort((a, b) => (b.confidence || 0) - (a.confidence || 0))[0];
    const b = o.el.drBanner;
    if (!sug) { b.hidden = true; b.replaceChildren(); return; }
    const type = h('select', { class: 'dr-type', id: 'dr-suggest-type', 'aria-label': 'Type of request' },
      DR_TYPES.map(([v, name, art]) => h('option', { value: v, selected: v === sug.type }, name + (art ? ' (' + art + ')' : ''))));
    K.put(b,
      h('span', { class: 'dr-banner-ic' }, icon('shield')),
      h('div', { class: 'dr-banner-main' },
        h('div', { class: 'dr-banner-title' }, 'This looks like a GDPR ' + drTypeName(sug.type).toLowerCase() + ' request',
          sug.confidence ? h('span', { class: 'muted' }, ' · ' + Math.round(sug.confidence * 100) + '% sure') : null),
        sug.evidence ? h('blockquote', { class: 'dr-evidence' }, sug.evidence) : null,
        h('div', { class: 'dr-banner-due muted' }, 'If confirmed, it counts from the message (' + K.time.full(sug.received_at) + ') and is due ' + K.time.full(sug.due_at) + (daysLeftText(sug) ? ' · ' + daysLeftText(sug) : '') + '.')),
      h('div', { class: 'dr-banner-actions' },
        type,
        h('button', { type: 'button', class: 'btn btn-primary btn-sm', id: 'dr-confirm', onclick: (e) => confirmSuggestion(sug, type.value, e.currentTarget) }, icon('check'), 'Confirm'),
        h('button', { type: 'button', class: 'btn btn-ghost btn-sm', id: 'dr-dismiss', onclick: (e) => patchDataRequest(sug, { status: 'dismissed' }, e.currentTarget, 'Dismissed: not a data request') }, 'Dismiss')));
    b.hidden = false;
  }

  async function patchDataRequest(d, body, btn, ok) {
    const o = S.open;
    const r = await K.run(btn, () => api('PATCH', '/data-requests/' + d.id, body));
    if (!r) return null;
    if (o && o.drs && S.open === o) { o.drs = o.drs.filter((x) => x.id !== r.id).concat([r]); renderDataRequests(); }
    if (ok) K.toast(ok, 'ok');
    return r;
  }

  async function confirmSuggestion(d, type, btn) {
    const r = await patchDataRequest(d, { status: 'open', type }, btn);
    if (r) drToast(r, 'Confirmed');
  }

  function drToast(d, verb) {
    K.toast([verb + ': ' + drTypeName(d.type).toLowerCase() + ' request, due ' + K.time.full(d.effective_due_at || d.due_at) + (daysLeftText(d) ? ' (' + daysLeftText(d) + ')' : '') + '. ',
      h('a', { class: 'toast-link', href: '/data-requests#dr-' + d.id }, 'Open data requests')], 'ok', { ms: 8000 });
  }

  function dataRequestMenu(anchor) {
    const c = targetConv();
    if (!c) return;
    const have = S.open && S.open.id === c.id && S.open.drs ? S.open.drs.filter((d) => DR_ACTIVE.has(d.status)) : [];
    const sug = S.open && S.open.id === c.id && S.open.drs ? S.open.drs.find((d) => d.status === 'suggested') : null;
    const items = [{ heading: sug ? 'Confirm as… (counts from the customer’s message)' : 'Open a data request for ' + contactName(c) }];
    for (const [v, name, art] of DR_TYPES) {
      items.push({
        label: name, note: art || null, icon: 'shield', checked: have.some((d) => d.type === v),
        onSelect: () => createDataRequest(c, v, anchor),
      });
    }
    if (have.length) items.push('sep', { label: 'See open requests', icon: 'external', onSelect: () => { location.href = '/data-requests#dr-' + have[0].id; } });
    K.menu(anchor || anchorFor('conv-data-request', c), items, { keyboard: true });
  }

  async function createDataRequest(c, type, anchor) {
    const btn = document.getElementById('conv-data-request');
    const d = await K.run(btn && btn.isConnected ? btn : null, () => api('POST', '/data-requests', { conversation_id: c.id, type }));
    if (!d) return;
    const o = S.open;
    if (o && o.id === c.id && o.drs) { o.drs = o.drs.filter((x) => x.id !== d.id).concat([d]); renderDataRequests(); }
    drToast(d, 'Opened');
  }

  function renderPresence() {
    const o = S.open;
    if (!o) return;
    const el = o.el.presence;
    const others = (o.presence || []).filter((a) => a.id !== me.id);
    if (!others.length) { el.hidden = true; el.replaceChildren(); return; }
    const names = (l) => l.length === 1 ? l[0].name : l.slice(0, -1).map((a) => a.name).join(', ') + ' and ' + l[l.length - 1].name;
    const replying = others.filter((a) => a.replying), viewing = others.filter((a) => !a.replying);
    const parts = [];
    if (replying.length) parts.push(names(replying) + (replying.length > 1 ? ' are replying' : ' is replying'));
    if (viewing.length) parts.push(names(viewing) + (viewing.length > 1 ? ' are also viewing' : ' is also viewing'));
    el.className = 'presence' + (replying.length ? ' replying' : '');
    el.replaceChildren(
      h('span', { class: 'presence-avatars' }, others.slice(0, 3).map((a) => K.avatar(a.name, { seed: a.id, size: 'xs' }))),
      h('span', { class: 'presence-text' }, parts.join(' · ')));
    el.hidden = false;
  }

  let typingTimer = 0;
  function showTyping(name, on) {
    const o = S.open;
    if (!o) return;
    const el = o.el.typing;
    clearTimeout(typingTimer);
    if (!on) { el.hidden = true; return; }
    const who = name || (o.conv ? contactName(o.conv) : 'The customer');
    el.replaceChildren(h('span', { class: 'dots' }, h('i'), h('i'), h('i')), h('span', null, who + ' is typing…'));
    el.hidden = false;
    typingTimer = setTimeout(() => { el.hidden = true; }, 8000);
  }

  function renderBanner() {
    const o = S.open;
    if (!o || !o.conv) return;
    const c = o.conv, el = o.el.banner;
    const last = Date.parse(c.last_customer_message_at || '');
    if (c.channel === 'messenger' && last && Date.now() - last > 7 * 24 * 3600e3) {
      el.replaceChildren(icon('clock'), h('span', null, 'The customer last wrote more than 7 days ago: Messenger refuses replies until they write again. Private notes still work.'));
      el.hidden = false;
    } else if (c.channel === 'messenger' && last && Date.now() - last > 24 * 3600e3) {
      el.replaceChildren(icon('clock'), h('span', null, 'The Messenger 24-hour window closed ' + K.time.rel(new Date(last + 24 * 3600e3).toISOString()) + ' ago: a reply now needs the HUMAN_AGENT tag (until 7 days after the customer’s last message). Kibo offers it when you send.'));
      el.hidden = false;
    } else el.hidden = true;
  }

  // ---- messages ---------------------------------------------------------------------

  // linkify:begin: one rule, the same in widget.js and inbox.js (ui_test.go; cases in
  // server/browser_linkify_test.go). linkParts cuts text into strings and {url, href}:
  // an http(s) address, without the punctuation that ends a sentence or a bracket it
  // does not open.
  function linkParts(text) {
    var re = /\bhttps?:\/\/[^\s<>"'`]+/gi, out = [], at = 0, m;
    while ((m = re.exec(text))) {
      var u = m[0];
      for (;;) {
        var last = u.slice(-1);
        if (/[.,;:!?'"\]}>]/.test(last) || last === ')' && u.split('(').length <= u.split(')').length - 1) u = u.slice(0, -1);
        else break;
      }
      if (m.index > at) out.push(text.slice(at, m.index));
      var href = null;
      try {
        var p = new URL(u);
        if (p.protocol === 'http:' || p.protocol === 'https:') href = p.href;
      } catch (e) { /* not an address after all: text */ }
      out.push(href ? { url: u, href: href } : u);
      at = re.lastIndex = m.index + u.length;
    }
    if (at < text.length) out.push(text.slice(at));
    return out;
  }
  // linkify:end
  // linkify turns plain text into text nodes and links; nothing is parsed as HTML.
  function linkify(text) {
    return linkParts(String(text || '')).map((p) => (typeof p === 'string' ? p
      : h('a', { href: p.href, target: '_blank', rel: 'noopener noreferrer nofollow' }, p.url)));
  }

  // An e-mail's HTML is shown in a sandboxed frame (no scripts, no forms, an opaque
  // origin) under a Content-Security-Policy of its own. Remote images stay blocked until
  // the agent asks for them for that message: a tracking pixel would tell the sender
  // that, when and from where the mail was read. Inline images (cid:) are the mail's own
  // attachments, held by Kibo: fetched here with the agent's session and put into the
  // frame as data: URLs, so they show at once.
  const FRAME_STYLE = '<base target="_blank"><style>html{font:14px/1.5 -apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,Arial,sans-serif;color:#1d2330}' +
    'body{margin:0;padding:0 2px;overflow-wrap:anywhere}img{max-width:100%;height:auto}table{max-width:100%}' +
    'blockquote{margin:.4em 0;padding-left:.8em;border-left:3px solid #dfe3ea;color:#6a7284}a{color:#4353c9}p{margin:0 0 .6em}</style>';
  const frameHead = (remote) => '<!doctype html><meta charset="utf-8">' +
    '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; img-src data:' + (remote ? ' https:' : '') + '; style-src \'unsafe-inline\'">' +
    FRAME_STYLE;
  const remoteAllowed = new Set(); // ids of the messages whose remote images the agent asked for
  const inlineData = new Map(); // attachment URL → Promise of its data: URL ('' when it can't be had)
  const REMOTE_URL = /^\s*(https?:)?\/\//i;

  function inlineImage(url) {
    if (!inlineData.has(url)) {
      inlineData.set(url, fetch(url, { credentials: 'same-origin' })
        .then((r) => (r.ok ? r.blob() : null))
        .then((b) => (b && /^image\//.test(b.type) ? new Promise((done) => {
          const fr = new FileReader();
          fr.onload = () => done(String(fr.result));
          fr.onerror = () => done('');
          fr.readAsDataURL(b);
        }) : ''))
        .catch(() => '')
        .then((d) => { if (!d) inlineData.delete(url); return d; })); // a failure is tried again on the next render
    }
    return inlineData.get(url);
  }

  // frameBody rewrites the (already sanitised) HTML in an inert document, which loads
  // nothing: cid: images get their data: URLs, and remote images lose their address
  // unless allowed. It says how many remote images it held back.
  function frameBody(html, inline, remote) {
    const doc = new DOMParser().parseFromString(html, 'text/html');
    let held = 0;
    for (const img of doc.querySelectorAll('img')) {
      const src = img.getAttribute('src') || '';
      if (/^cid:/i.test(src)) {
        const d = inline.get(src.slice(4).replace(/^<|>$/g, '').toLowerCase());
        if (d) img.setAttribute('src', d); else img.removeAttribute('src');
      } else if (!remote && REMOTE_URL.test(src)) {
        img.setAttribute('data-remote-src', src);
        img.removeAttribute('src');
        held++;
      }
      if (!remote && img.hasAttribute('srcset')) {
        img.removeAttribute('srcset');
        held++;
      }
    }
    return { body: doc.body ? doc.body.innerHTML : '', held };
  }

  function htmlFrame(m) {
    const remote = remoteAllowed.has(m.id);
    const f = document.createElement('iframe');
    f.setAttribute('sandbox', ''); // no scripts, no forms, no popups, opaque origin
    f.setAttribute('referrerpolicy', 'no-referrer');
    f.setAttribute('title', 'Formatted message');
    f.className = 'msg-html';
    const lines = String(m.text || '').split('\n').reduce((n, l) => n + 1 + Math.floor(l.length / 90), 0);
    f.style.height = Math.max(90, Math.min(460, lines * 21 + 28)) + 'px';
    const show = (inline) => {
      const r = frameBody(m.html, inline, remote);
      f.srcdoc = frameHead(remote) + r.body;
      return r.held;
    };
    const held = show(new Map());
    const cids = (m.attachments || []).filter((a) => a.content_id && a.url && /^image\//.test(a.content_type || ''));
    if (cids.length) {
      Promise.all(cids.map((a) => inlineImage(a.url).then((d) => [a.content_id.replace(/^<|>$/g, '').toLowerCase(), d])))
        .then((pairs) => show(new Map(pairs.filter((p) => p[1]))));
    }
    if (!held) return f;
    const box = h('div', { class: 'msg-frame' },
      h('div', { class: 'msg-images' },
        h('span', null, 'Remote images are blocked: loading them can tell the sender you opened this mail.'),
        h('button', {
          type: 'button', class: 'link-btn msg-images-load',
          onclick: () => { remoteAllowed.add(m.id); box.replaceWith(htmlFrame(m)); },
        }, 'Load remote images')),
      f);
    return box;
  }

  function deliveryMark(m) {
    if (m.direction !== 'out' || m.private || !m.delivery) return null;
    const d = m.delivery;
    const title = d === 'sent' ? 'Sent to the channel' : d === 'failed' ? 'Not delivered' + (m.delivery_error ? ': ' + m.delivery_error : '') : 'Queued: waiting to go out';
    return h('span', { class: 'dlv dlv-' + d, title, 'data-delivery': d }, icon(d === 'sent' ? 'check' : d === 'failed' ? 'alert' : 'clock'), d === 'sent' ? 'Sent' : d === 'failed' ? 'Failed' : 'Queued');
  }

  // The quoted history under an e-mail answer ("On ... wrote:", "> ") is folded away,
  // not deleted: one click shows it.
  const QUOTE_HEAD = /^(On\s.+\swrote:|Am\s.+\sschrieb:|Le\s.+\sa écrit\s?:|El\s.+\sescribió:|Il\s.+\sha scritto:|-{2,}\s*(Original Message|Ursprüngliche Nachricht|Message d'origine)\s*-{2,})$/i;

  function splitQuote(text) {
    const lines = text.split('\n');
    for (let i = 1; i < lines.length; i++) {
      const l = lines[i].trim();
      const outlook = /^From:\s/i.test(l) && /^(Sent|Date):\s/i.test((lines[i + 1] || '').trim());
      const tail = l.startsWith('>') && lines.slice(i).every((x) => !x.trim() || x.trim().startsWith('>'));
      if (QUOTE_HEAD.test(l) || outlook || tail) {
        const body = lines.slice(0, i).join('\n').trimEnd();
        if (body) return [body, lines.slice(i).join('\n')];
      }
    }
    return [text, ''];
  }

  function textWithQuote(text) {
    const [body, quoted] = splitQuote(text);
    if (!quoted) return h('div', { class: 'msg-text' }, linkify(text));
    const q = h('div', { class: 'msg-text msg-quoted', hidden: true }, linkify(quoted));
    const more = h('button', {
      type: 'button', class: 'link-btn msg-quote-toggle', title: 'Show the quoted text',
      onclick: () => { q.hidden = !q.hidden; more.textContent = q.hidden ? '··· show quoted text' : 'hide quoted text'; },
    }, '··· show quoted text');
    return [h('div', { class: 'msg-text' }, linkify(body)), more, q];
  }

  function buildMessage(m) {
    const a = m.author || {};
    if (a.kind === 'system') {
      return h('div', { class: 'msg msg-system', 'data-id': m.id }, h('span', null, m.text || ''), h('time', { datetime: m.created_at, title: K.time.full(m.created_at) }, K.time.clock(m.created_at)));
    }
    const kind = m.private ? 'note' : m.direction === 'in' ? 'in' : 'out';
    const name = a.name || (kind === 'in' ? (S.open && S.open.conv ? contactName(S.open.conv) : 'Customer') : 'Agent');
    let body;
    if (m.html) {
      let formatted = true;
      const box = h('div', { class: 'msg-body' }, htmlFrame(m));
      const toggle = h('button', {
        type: 'button', class: 'link-btn msg-toggle',
        onclick: () => {
          formatted = !formatted;
          box.replaceChildren(formatted ? htmlFrame(m) : h('div', { class: 'msg-text' }, linkify(m.text || '')));
          toggle.textContent = formatted ? 'Plain text' : 'Formatted';
        },
      }, 'Plain text');
      body = [box, toggle];
    } else body = textWithQuote(m.text || '');
    const atts = (m.attachments || []).length ? h('div', { class: 'atts' }, m.attachments.map((x) => h('a', {
      class: 'att', href: K.safeURL(x.url), target: '_blank', rel: 'noopener', title: (x.content_type || '') + ' · ' + K.bytes(x.size),
    }, icon('clip'), h('span', { class: 'att-name' }, x.filename || 'attachment'), h('span', { class: 'att-size' }, K.bytes(x.size))))) : null;
    const failed = m.direction === 'out' && !m.private && m.delivery === 'failed' ? h('div', { class: 'msg-failed' },
      icon('alert'),
      h('span', { class: 'msg-failed-text' }, 'Not delivered: ' + (m.delivery_error || 'the channel refused it.')),
      h('button', { type: 'button', class: 'btn btn-xs btn-secondary retry', onclick: (e) => retry(m, e.currentTarget) }, icon('retry'), 'Retry')) : null;
    return h('div', { class: ['msg', 'msg-' + kind, m.auto && 'msg-auto'], 'data-id': m.id, 'data-direction': m.direction },
      kind === 'in' ? K.avatar(name, { seed: S.open && S.open.conv && S.open.conv.contact ? S.open.conv.contact.id : name, size: 'sm' }) : null,
      h('div', { class: 'msg-main' },
        h('div', { class: 'msg-meta' },
          h('span', { class: 'msg-author' }, name),
          kind === 'note' ? h('span', { class: 'msg-flag' }, icon('lock'), 'Private note') : null,
          m.auto ? h('span', { class: 'msg-flag' }, 'Automatic') : null,
          h('time', { datetime: m.created_at, title: K.time.full(m.created_at) }, K.time.clock(m.created_at)),
          deliveryMark(m)),
        h('div', { class: 'bubble' }, body, atts),
        failed),
      kind !== 'in' ? K.avatar(name, { seed: a.id || name, size: 'sm' }) : null);
  }

  function nearBottom(el) { return el.scrollHeight - el.scrollTop - el.clientHeight < 80; }

  function addMessage(m, initial) {
    const o = S.open;
    if (!o || !o.msgs) return;
    if (o.msgs.has(m.id)) { updateMessage(m); return; }
    const th = o.el.thread;
    const stick = initial || nearBottom(th) || (m.direction === 'out' && m.author && m.author.id === me.id);
    const empty = th.querySelector('.thread-empty');
    if (empty) empty.remove();
    const dk = K.time.dayKey(m.created_at);
    if (dk !== o.lastDay) {
      th.appendChild(h('div', { class: 'day' }, h('span', null, K.time.day(m.created_at))));
      o.lastDay = dk;
    }
    const el = buildMessage(m);
    th.appendChild(el);
    o.msgs.set(m.id, { m, el });
    if (m.id > o.lastId) o.lastId = m.id;
    if (stick && !initial) th.scrollTop = th.scrollHeight;
  }

  function updateMessage(m) {
    const o = S.open;
    if (!o || !o.msgs) return;
    const cur = o.msgs.get(m.id);
    if (!cur) return;
    const merged = Object.assign({}, cur.m, m);
    const el = buildMessage(merged);
    const seen = cur.el.querySelector('.msg-seen');
    cur.el.replaceWith(el);
    o.msgs.set(m.id, { m: merged, el });
    if (seen) renderSeen();
  }

  // "Seen" stands on the last of our messages the customer has read: their widget
  // says how far (contact_read_id), and conversation.seen moves it while we look.
  function renderSeen() {
    const o = S.open;
    if (!o || !o.msgs) return;
    const upTo = (o.conv && o.conv.contact_read_id) || 0;
    let last = null;
    for (const x of o.msgs.values()) {
      const m = x.m;
      if (m.id <= upTo && m.direction === 'out' && !m.private && (m.author || {}).kind !== 'system' && (!last || m.id > last.m.id)) last = x;
    }
    const mark = last && last.el.querySelector('.msg-meta');
    for (const e of o.el.thread.querySelectorAll('.msg-seen')) if (e.parentNode !== mark) e.remove();
    if (mark && !mark.querySelector('.msg-seen')) {
      mark.appendChild(h('span', { class: 'dlv msg-seen', title: 'The customer has seen this message and the ones before it' }, icon('check'), 'Seen'));
    }
  }

  function contactRead(convID, upTo) {
    const c = S.known.get(convID);
    if (c && !(c.contact_read_id >= upTo)) S.known.set(convID, Object.assign({}, c, { contact_read_id: upTo }));
    const o = S.open;
    if (!o || o.id !== convID || !o.conv || o.conv.contact_read_id >= upTo) return;
    o.conv = Object.assign({}, o.conv, { contact_read_id: upTo });
    renderSeen();
  }

  async function retry(m, btn) {
    const ok = await K.run(btn, () => api('POST', '/messages/' + m.id + '/retry'));
    if (ok === undefined) return;
    updateMessage({ id: m.id, delivery: 'queued', delivery_error: '' });
  }

  function markRead(force) {
    const o = S.open;
    if (!o || !o.msgs || !o.lastId || document.visibilityState !== 'visible') return;
    if (!force && o.readUpTo >= o.lastId) return;
    if (o.readUpTo >= o.lastId && !(o.conv && o.conv.unread_count)) return;
    const upTo = o.lastId, id = o.id;
    o.readUpTo = upTo;
    api('POST', '/conversations/' + id + '/read', { up_to: upTo }).then(() => {
      const c = S.known.get(id);
      if (c && c.unread_count) upsert(Object.assign({}, c, { unread_count: 0 }));
    }, () => { if (S.open === o) o.readUpTo = 0; });
  }
  document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'visible') markRead(); });

  // ---- composer -----------------------------------------------------------------------

  let typingOn = false, typingConv = 0, typingSentAt = 0, typingIdle = 0;

  function buildComposer() {
    const o = S.open;
    const ta = h('textarea', { id: 'reply-text', class: 'composer-text', rows: 3, placeholder: 'Write a reply…', 'aria-label': 'Reply', spellcheck: 'true' });
    const send = h('button', { type: 'button', class: 'btn btn-primary', id: 'reply-send', title: 'Send (Ctrl+Enter or ⌘+Enter)' }, icon('send'), h('span', { class: 'send-label' }, 'Send'), h('kbd', { class: 'kbd-inv' }, navigator.platform && /Mac/.test(navigator.platform) ? '⌘↵' : 'Ctrl ↵'));
    const tReply = h('button', { type: 'button', class: 'ctab', id: 'reply-mode-reply', title: 'Reply to the customer (r)', onclick: () => setMode('reply', true) }, icon('send'), 'Reply');
    const tNote = h('button', { type: 'button', class: 'ctab', id: 'reply-mode-note', title: 'Private note, only agents see it (n)', onclick: () => setMode('note', true) }, icon('lock'), 'Private note');
    const target = h('span', { class: 'composer-target' });
    const fileInput = h('input', { type: 'file', id: 'reply-files', multiple: true, hidden: true, onchange: () => { addFiles(fileInput.files); fileInput.value = ''; } });
    const attach = h('button', { type: 'button', class: 'icon-btn composer-attach', id: 'reply-attach', title: 'Attach files (up to 20 MB each)', 'aria-label': 'Attach files', onclick: () => fileInput.click() }, icon('clip'));
    const files = h('div', { class: 'composer-files', id: 'reply-file-list', hidden: true });
    const box = h('div', { class: 'composer', id: 'composer' },
      h('div', { class: 'composer-tabs' }, tReply, tNote, target),
      ta,
      files,
      h('div', { class: 'composer-foot' }, attach, fileInput, h('span', { class: 'composer-hint' }, h('kbd', null, 'r'), ' reply', h('kbd', null, 'n'), ' note', h('kbd', null, 'e'), ' resolve', h('kbd', null, '?'), ' all shortcuts'), h('span', { class: 'spacer' }), send));
    o.el.ta = ta; o.el.send = send; o.el.tReply = tReply; o.el.tNote = tNote; o.el.target = target; o.el.box = box; o.el.files = files;
    // files can be dropped on the composer, or pasted into it
    box.addEventListener('dragover', (e) => { if (e.dataTransfer && Array.from(e.dataTransfer.types || []).includes('Files')) { e.preventDefault(); box.classList.add('is-drop'); } });
    box.addEventListener('dragleave', (e) => { if (!box.contains(e.relatedTarget)) box.classList.remove('is-drop'); });
    box.addEventListener('drop', (e) => { box.classList.remove('is-drop'); if (e.dataTransfer && e.dataTransfer.files.length) { e.preventDefault(); addFiles(e.dataTransfer.files); } });
    ta.addEventListener('paste', (e) => { const f = e.clipboardData && e.clipboardData.files; if (f && f.length) { e.preventDefault(); addFiles(f); } });

    ta.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); sendReply(); }
    });
    ta.addEventListener('input', () => { autosize(ta); onComposerInput(); });
    send.addEventListener('click', () => sendReply());
    ta.addEventListener('input', () => { if (o.el.sendAlert && !o.el.sendAlert.hidden && !ta.value.trim()) hideSendAlert(); });
    const d = S.drafts.get(o.id);
    if (d) { ta.value = d.text; o.mode = d.mode; o.files = (d.files || []).slice(); }
    setMode(o.mode, false);
    renderFiles();
    requestAnimationFrame(() => autosize(ta));
    return box;
  }

  function autosize(ta) {
    ta.style.height = 'auto';
    ta.style.height = Math.min(ta.scrollHeight + 2, Math.round(innerHeight * 0.4)) + 'px';
  }

  function updateComposerTarget() {
    const o = S.open;
    if (!o || !o.el.target || !o.conv) return;
    o.el.target.textContent = o.mode === 'note' ? 'Only agents see notes' : 'to ' + contactName(o.conv) + ' by ' + K.channelName(o.conv.channel);
  }

  function setMode(mode, focus) {
    const o = S.open;
    if (!o) return;
    if (mode !== 'reply') stopTyping();
    o.mode = mode;
    const note = mode === 'note';
    o.el.box.classList.toggle('is-note', note);
    o.el.tReply.classList.toggle('active', !note);
    o.el.tNote.classList.toggle('active', note);
    o.el.tReply.setAttribute('aria-pressed', String(!note));
    o.el.tNote.setAttribute('aria-pressed', String(note));
    o.el.ta.placeholder = note ? 'Write a private note for your team…' : 'Write a reply…';
    o.el.send.querySelector('.send-label').textContent = note ? 'Add note' : 'Send';
    updateComposerTarget();
    if (focus) o.el.ta.focus();
  }

  function onComposerInput() {
    const o = S.open;
    if (!o || o.mode !== 'reply') return;
    if (!o.el.ta.value.trim()) { stopTyping(); return; }
    const now = Date.now();
    if (!typingOn || now - typingSentAt > 2000) {
      S.live.send({ type: 'typing', conversation_id: o.id, on: true });
      typingOn = true; typingConv = o.id; typingSentAt = now;
    }
    clearTimeout(typingIdle);
    typingIdle = setTimeout(stopTyping, 3000);
  }
  function stopTyping() {
    clearTimeout(typingIdle);
    if (typingOn) S.live.send({ type: 'typing', conversation_id: typingConv, on: false });
    typingOn = false;
  }

  function saveDraft() {
    const o = S.open;
    if (!o || !o.el.ta) return;
    const text = o.el.ta.value;
    if (text.trim() || o.files.length) S.drafts.set(o.id, { text, mode: o.mode, files: o.files.slice() });
    else S.drafts.delete(o.id);
  }

  // ---- attachments

  function addFiles(list) {
    const o = S.open;
    if (!o) return;
    const big = [];
    for (const f of Array.from(list || [])) {
      if (f.size > MAX_FILE) { big.push(f); continue; }
      if (o.files.some((x) => x.name === f.name && x.size === f.size && x.lastModified === f.lastModified)) continue;
      o.files.push(f);
    }
    if (big.length) {
      K.toast((big.length === 1 ? '“' + big[0].name + '” is ' + K.bytes(big[0].size) : big.length + ' files are') + ': attachments can be at most 20 MB each. Share a link to larger files instead.', 'error', { ms: 9000 });
    }
    renderFiles();
    o.el.ta.focus();
  }

  function renderFiles() {
    const o = S.open;
    if (!o || !o.el.files) return;
    const box = o.el.files;
    box.hidden = !o.files.length;
    box.replaceChildren(...o.files.map((f, i) => h('span', { class: 'file-chip', title: f.name + ' · ' + K.bytes(f.size) + (f.type ? ' · ' + f.type : '') },
      icon('clip'), h('span', { class: 'file-name' }, f.name), h('span', { class: 'file-size' }, K.bytes(f.size)),
      h('button', {
        type: 'button', class: 'chip-x', 'aria-label': 'Remove ' + f.name, title: 'Remove',
        onclick: () => { o.files.splice(i, 1); renderFiles(); o.el.ta.focus(); },
      }, icon('close')))));
    if (o.files.length > 1) box.appendChild(h('span', { class: 'file-total muted' }, o.files.length + ' files · ' + K.bytes(o.files.reduce((n, f) => n + f.size, 0))));
  }

  // ---- sending

  function setBusy(b, on) {
    b.classList.toggle('is-busy', on); b.disabled = on;
    if (on) b.setAttribute('aria-busy', 'true'); else b.removeAttribute('aria-busy');
  }

  // sendReply posts the composer's text (and files, as multipart/form-data) as a reply
  // or a private note; tag is a platform message tag (Messenger's HUMAN_AGENT).
  async function sendReply(tag) {
    const o = S.open;
    if (!o) return;
    const text = o.el.ta.value.trim();
    const files = o.files.slice();
    if (!text && !files.length) { o.el.ta.focus(); return; }
    if (o.el.send.classList.contains('is-busy')) return;
    const priv = o.mode === 'note';
    stopTyping();
    hideSendAlert();
    let body;
    if (files.length) {
      body = new FormData();
      body.append('text', text);
      body.append('private', priv ? 'true' : 'false');
      if (tag) body.append('tag', tag);
      for (const f of files) body.append('file', f, f.name);
    } else {
      body = { text, private: priv };
      if (tag) body.tag = tag;
    }
    setBusy(o.el.send, true);
    let m;
    try {
      m = await api('POST', '/conversations/' + o.id + '/messages', body);
    } catch (e) {
      setBusy(o.el.send, false);
      if (S.open !== o) { K.toast(e.message); return; }
      if (e.status === 422 && e.code === 'outside_window') showWindowAlert(o, e, tag);
      else if (e.status === 413) K.toast('The attachments are too large for the server. Remove some and try again.');
      else K.toast(e.message);
      return;
    }
    setBusy(o.el.send, false);
    if (!m || S.open !== o) return;
    o.el.ta.value = '';
    o.files = [];
    renderFiles();
    autosize(o.el.ta);
    S.drafts.delete(o.id);
    addMessage(m);
    o.el.thread.scrollTop = o.el.thread.scrollHeight;
    o.readUpTo = Math.max(o.readUpTo, m.id);
    o.el.ta.focus();
    if (tag) K.toast('Sent with the ' + tag + ' tag', 'ok');
  }

  // showWindowAlert explains a Messenger reply refused outside the 24-hour window and,
  // while the 7 days of the HUMAN_AGENT tag last, offers to send it with the tag.
  function showWindowAlert(o, e, triedTag) {
    const el = o.el.sendAlert;
    const last = Date.parse((o.conv && o.conv.last_customer_message_at) || '');
    const canTag = !triedTag && o.conv && o.conv.channel === 'messenger' && (!last || Date.now() - last < 7 * 24 * 3600e3);
    const msg = e.message.replace(/\s*\(send with [^)]*\)/, '').replace(/^the customer/, 'The customer');
    K.put(el, icon('alert'),
      h('div', { class: 'send-alert-text' },
        h('b', null, 'Not sent. '), msg + (/[.!]$/.test(msg) ? '' : '.'),
        canTag ? h('div', { class: 'send-alert-note' }, 'The tag is for a person’s answer to the customer’s question, up to 7 days after they wrote, and only if your Facebook page has that permission.') : null),
      h('div', { class: 'send-alert-actions' },
        canTag ? h('button', { type: 'button', class: 'btn btn-primary btn-xs', id: 'send-human-agent', onclick: () => sendReply('HUMAN_AGENT') }, icon('send'), 'Send with HUMAN_AGENT tag') : null,
        h('button', { type: 'button', class: 'icon-btn', 'aria-label': 'Close', title: 'Close', onclick: hideSendAlert }, icon('close'))));
    el.hidden = false;
    o.el.banner.hidden = true; // the alert says it all
    const b = el.querySelector('#send-human-agent');
    if (b) b.focus();
  }
  function hideSendAlert() {
    const o = S.open;
    if (o && o.el.sendAlert && !o.el.sendAlert.hidden) { o.el.sendAlert.hidden = true; o.el.sendAlert.replaceChildren(); renderBanner(); }
  }

  function focusComposer(mode) {
    if (!S.open) { if (S.cursor) openConv(S.cursor); else return; }
    setMode(mode, true);
  }

  // ---- conversation actions -------------------------------------------------------------

  function targetConv() {
    if (S.open && S.open.conv) return S.open.conv;
    if (S.cursor != null) return S.known.get(S.cursor) || null;
    return null;
  }
  function anchorFor(id, c) {
    return (S.open && S.open.conv === c && document.getElementById(id)) || S.rows.get(c.id) || $list;
  }

  async function patch(id, body, btn) {
    const c = await K.run(btn, () => api('PATCH', '/conversations/' + id, body));
    if (c) upsert(c);
    return c;
  }

  function assignMe(btn) {
    const c = targetConv();
    if (!c) return;
    if (c.assignee_id === me.id) { K.toast('Already assigned to you', 'info'); return; }
    patch(c.id, { assignee_id: me.id }, btn && btn.nodeType ? btn : null);
  }

  function resolve() {
    const c = targetConv();
    if (!c) return;
    if (c.status === 'resolved') { K.toast('Already resolved. Use the Reopen button to open it again.', 'info'); return; }
    patch(c.id, { status: 'resolved' }, document.getElementById('conv-resolve')).then((r) => { if (r) K.toast('Resolved #' + r.number, 'ok'); });
  }

  function cyclePriority() {
    const c = targetConv();
    if (!c) return;
    const ps = K.PRIORITIES;
    const next = ps[(ps.indexOf(c.priority) + 1) % ps.length];
    patch(c.id, { priority: next }).then((r) => { if (r) K.toast('Priority: ' + K.priorityName(next), 'info'); });
  }

  function statusMenu(anchor) {
    const c = targetConv();
    if (!c) return;
    K.menu(anchor, ['open', 'pending', 'snoozed', 'resolved'].map((s) => ({
      label: s === 'snoozed' ? 'Snoozed…' : STATUS_LABEL[s], icon: STATUS_ICON[s], checked: c.status === s, hint: s === 'resolved' ? 'e' : s === 'snoozed' ? 's' : null,
      onSelect: () => { if (s === 'snoozed') snoozeMenu(anchor); else if (s !== c.status) patch(c.id, { status: s }); },
    })), { keyboard: true });
  }

  function priorityMenu(anchor) {
    const c = targetConv();
    if (!c) return;
    K.menu(anchor, K.PRIORITIES.slice().reverse().map((p) => ({
      label: K.priorityName(p), icon: K.priorityIcon(p), checked: c.priority === p,
      onSelect: () => { if (p !== c.priority) patch(c.id, { priority: p }); },
    })), { keyboard: true });
  }

  function assigneeMenu(anchor) {
    const c = targetConv();
    if (!c) return;
    const items = [{ label: 'Assign to me', icon: 'userPlus', hint: 'a', onSelect: () => patch(c.id, { assignee_id: me.id }) }, 'sep'];
    for (const a of S.agents.values()) {
      if (a.disabled_at) continue;
      items.push({ label: a.name + (a.id === me.id ? ' (you)' : ''), icon: K.avatar(a.name, { seed: a.id, size: 'xs' }), checked: c.assignee_id === a.id, onSelect: () => patch(c.id, { assignee_id: a.id }) });
    }
    items.push('sep', { label: 'Unassigned', icon: 'unassigned', checked: c.assignee_id == null, onSelect: () => patch(c.id, { assignee_id: null }) });
    K.menu(anchor, items, { filter: S.agents.size > 6, placeholder: 'Find an agent…', keyboard: true });
  }

  function tagMenu(anchor) {
    const c = targetConv();
    if (!c) return;
    const have = new Set(c.tags || []);
    const add = (t) => {
      t = String(t || '').trim().replace(/^#/, '').toLowerCase();
      if (!t || have.has(t)) return;
      patch(c.id, { tags: Array.from(have).concat([t]) }).then((r) => { if (r && !S.tags.includes(t)) { S.tags.push(t); } });
    };
    K.menu(anchor || anchorFor('conv-add-tag', c), S.tags.filter((t) => !have.has(t)).map((t) => ({
      label: t, icon: h('span', { class: 'tag-dot', style: { background: `hsl(${K.hue(t)} 60% 55%)` } }), onSelect: () => add(t),
    })), { filter: true, create: add, placeholder: 'Add a tag…', empty: 'Type to create a tag' });
  }

  function snoozeTimes() {
    const now = new Date();
    const y = now.getFullYear(), mo = now.getMonth(), d = now.getDate();
    const toMonday = ((8 - now.getDay()) % 7) || 7;
    return [
      { label: '1 hour', at: new Date(now.getTime() + 3600e3) },
      { label: 'Tomorrow 9:00', at: new Date(y, mo, d + 1, 9, 0) },
      { label: 'Next week', at: new Date(y, mo, d + toMonday, 9, 0) },
    ];
  }

  function snoozeMenu(anchor) {
    const c = targetConv();
    if (!c) return;
    const items = snoozeTimes().map((t) => ({
      label: t.label, icon: 'clock', note: K.time.short(t.at.toISOString()),
      onSelect: () => snooze(c, t.at),
    }));
    items.push('sep', { label: 'Pick a date and time…', icon: 'moon', onSelect: () => customSnooze(c) });
    K.menu(anchor || anchorFor('conv-snooze', c), items, { keyboard: true });
  }

  function snooze(c, at) {
    patch(c.id, { status: 'snoozed', snoozed_until: at.toISOString() }).then((r) => { if (r) K.toast('Snoozed #' + r.number + ' until ' + K.time.short(at.toISOString()), 'ok'); });
  }

  function customSnooze(c) {
    const t = snoozeTimes()[1].at;
    const local = (d) => new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
    const input = h('input', { type: 'datetime-local', id: 'snooze-at', value: local(t), min: local(new Date()), required: true });
    K.dialog({
      title: 'Snooze until',
      body: K.field('Wake the conversation up on', input, 'It comes back as open, or earlier if the customer writes.'),
      actions: [{ label: 'Cancel' }, {
        label: 'Snooze', primary: true, submit: true, onClick: () => {
          const at = new Date(input.value);
          if (isNaN(at) || at <= new Date()) { K.toast('Pick a time in the future.'); return false; }
          snooze(c, at);
          return true;
        },
      }],
    });
  }

  // ---- meta data ----------------------------------------------------------------------

  async function loadMeta() {
    const [ibs, ags, tags] = await Promise.all([
      api('GET', '/inboxes').catch(() => null),
      api('GET', '/agents').catch(() => null),
      api('GET', '/tags').catch(() => null),
    ]);
    if (ibs) { S.inboxes.clear(); for (const i of ibs.inboxes || []) S.inboxes.set(i.id, i); }
    if (ags) { S.agents.clear(); for (const a of ags.agents || []) S.agents.set(a.id, a); }
    if (tags) S.tags = tags.tags || [];
    if (ibs && S.view.startsWith('inbox:') && !S.inboxes.has(Number(S.view.slice(6)))) { setView('mine'); }
    renderNav();
    renderListHead();
    for (const c of S.convs.values()) drawRow(c);
    if (S.open) renderHead();
  }

  // ---- search and keys ------------------------------------------------------------------

  let searchTimer = 0;
  $search.addEventListener('input', () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => {
      const q = $search.value.trim();
      if (q === S.q) return;
      S.q = q;
      loadList();
    }, 250);
  });
  $search.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && $search.value) { $search.value = ''; S.q = ''; loadList(); }
    if (e.key === 'ArrowDown' || e.key === 'Enter') { e.preventDefault(); $search.blur(); if (e.key === 'Enter' && S.order.length) { S.cursor = S.order[0]; markRows(); } }
  });

  K.bindKeys([
    { keys: 'j', desc: 'Next conversation', group: 'Conversation list', run: () => moveCursor(1) },
    { keys: 'k', desc: 'Previous conversation', group: 'Conversation list', run: () => moveCursor(-1) },
    { keys: 'o', alt: 'Enter', desc: 'Open the selected conversation', group: 'Conversation list', run: (e) => { if (e.key === 'Enter' && /^(BUTTON|A)$/.test(document.activeElement.tagName)) { document.activeElement.click(); return; } if (S.cursor != null) openConv(S.cursor); else moveCursor(1); } },
    { keys: '/', desc: 'Search', group: 'Conversation list', run: () => { $search.focus(); $search.select(); } },
    { keys: 'r', desc: 'Reply', group: 'Conversation', run: () => focusComposer('reply') },
    { keys: 'n', desc: 'Write a private note', group: 'Conversation', run: () => focusComposer('note') },
    { keys: 'e', desc: 'Resolve', group: 'Conversation', run: resolve },
    { keys: 'a', desc: 'Assign to me', group: 'Conversation', run: () => assignMe(document.getElementById('conv-assign-me')) },
    { keys: 's', desc: 'Snooze…', group: 'Conversation', run: () => snoozeMenu() },
    { keys: 'p', desc: 'Change priority (cycles)', group: 'Conversation', run: cyclePriority },
    { keys: 't', desc: 'Add a tag', group: 'Conversation', run: () => tagMenu() },
    { keys: 'd', desc: 'Open a data request (GDPR)…', group: 'Conversation', run: () => dataRequestMenu() },
    { keys: 'x', desc: 'Select or unselect for a bulk action', group: 'Conversation list', run: () => toggleSelect(S.cursor != null ? S.cursor : (S.open ? S.open.id : null)) },
  ]);
  K.onEscape = () => { if (S.selected.size) { S.selected.clear(); syncChecks(); } };
  K.goInbox = () => { setView('mine'); $list.focus(); };

  addEventListener('popstate', route);
  addEventListener('hashchange', route);
  function route() {
    // #tag=incident-4 (from the incidents page) shows that tag's view
    const t = /^#tag=([^&]+)$/.exec(location.hash);
    if (t) {
      history.replaceState(null, '', location.pathname + location.search);
      setView('tag:' + decodeURIComponent(t[1]));
      renderNav();
      return;
    }
    const m = /^#c\/(\d+)$/.exec(location.hash);
    if (m) openConv(Number(m[1]));
    else if (S.open) closeConv();
  }
  addEventListener('beforeunload', () => { stopTyping(); saveDraft(); });

  // ---- start ------------------------------------------------------------------------

  S.live = K.live({ onEvent, onOpen });
  renderNav();
  loadList();
  refreshCounts();
  loadMeta();
  route();
})();
