// Kibo agent app: the shared core every page loads first. It exposes window.K with
// the DOM helper h(), the API client, toasts, menus, dialogs, icons, time formatting,
// keyboard shortcuts and the live socket to /api/v1/ws.
//
// Rule for everything here and in the page scripts: customer data reaches the DOM only
// through text nodes and attribute/property setters, never through innerHTML.
'use strict';
(function () {
  const K = (window.K = {});
  // what the server knew when it rendered the page (layout.html): the agent, and the
  // event seq the live socket starts from
  const boot = (() => {
    const el = document.getElementById('kibo-boot');
    try { return (el && JSON.parse(el.textContent)) || {}; } catch (e) { return {}; }
  })();
  K.me = boot.me || null;
  const csrfMeta = document.querySelector('meta[name="csrf-token"]');
  const csrf = csrfMeta ? csrfMeta.content : '';

  // ---- DOM -------------------------------------------------------------------------

  // Properties set as properties (not attributes), so state like value/checked works.
  const PROPS = new Set(['value', 'checked', 'disabled', 'hidden', 'selected', 'srcdoc', 'indeterminate', 'multiple', 'readOnly', 'required', 'open']);

  function append(el, kids) {
    for (const k of kids) {
      if (k == null || k === false || k === true) continue;
      if (Array.isArray(k)) append(el, k);
      else if (typeof k === 'object' && k.nodeType) el.appendChild(k);
      else el.appendChild(document.createTextNode(String(k)));
    }
    return el;
  }

  // h builds an element: h('a', {class: 'x', href, onclick}, 'text', child, [more]).
  // Strings always become text nodes.
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    if (attrs) {
      for (const k in attrs) {
        const v = attrs[k];
        if (v == null || v === false) continue;
        if (k === 'class') el.className = Array.isArray(v) ? v.filter(Boolean).join(' ') : v;
        else if (k === 'style' && typeof v === 'object') Object.assign(el.style, v);
        else if (k === 'dataset') Object.assign(el.dataset, v);
        else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
        else if (k === 'text') el.textContent = v;
        else if (PROPS.has(k)) el[k] = v;
        else el.setAttribute(k, v === true ? '' : String(v));
      }
    }
    return append(el, children);
  }
  K.h = h;
  K.append = append;
  K.clear = (el) => { el.replaceChildren(); return el; };
  // put replaces el's children with kids as h() takes them: nested lists, and null,
  // false or true left out (replaceChildren would write those as text).
  K.put = (el, ...kids) => { el.replaceChildren(); return append(el, kids); };
  K.$ = (sel, root) => (root || document).querySelector(sel);

  // safeURL lets only web, mail and same-site links through to an href.
  K.safeURL = function (u) {
    if (typeof u !== 'string' || !u) return null;
    if (u.startsWith('/') && !u.startsWith('//')) return u;
    try {
      const p = new URL(u, location.href);
      if (p.protocol === 'http:' || p.protocol === 'https:' || p.protocol === 'mailto:') return p.href;
    } catch (e) { /* not a URL */ }
    return null;
  };

  // ---- icons (static shapes, built with createElementNS) ----------------------------

  const SVGNS = 'http://www.w3.org/2000/svg';
  // Each icon is a list of [tag, attributes]; a bare string is a path's d.
  const ICONS = {
    chat: ['M21 11.5a8.5 8.5 0 0 1-12.3 7.6L3.5 20.5l1.4-4.6A8.5 8.5 0 1 1 21 11.5z'],
    email: [['rect', { x: 3, y: 5, width: 18, height: 14, rx: 2 }], 'm3.5 7 8.5 6 8.5-6'],
    messenger: ['M12 3C7 3 3 6.8 3 11.4c0 2.6 1.3 4.9 3.3 6.4V21l3.1-1.7c.8.2 1.7.4 2.6.4 5 0 9-3.8 9-8.4S17 3 12 3z', 'm7.5 13.6 3.1-3.3 2.2 2.1 3.7-2.1-3.1 3.3-2.2-2.1z'],
    x: ['M4 4h4.6L20 20h-4.6z', 'M19.5 4l-6.6 7.3M4.5 20l6.6-7.3'],
    inbox: ['M4 13h4l1.5 3h5L16 13h4', 'M5.5 5.5 4 13v5a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2v-5l-1.5-7.5A2 2 0 0 0 16.5 4h-9a2 2 0 0 0-2 1.5z'],
    user: [['circle', { cx: 12, cy: 8, r: 4 }], 'M4 21a8 8 0 0 1 16 0'],
    userPlus: [['circle', { cx: 10, cy: 8, r: 4 }], 'M2.5 21a7.5 7.5 0 0 1 15 0', 'M19 8v6M16 11h6'],
    users: [['circle', { cx: 9, cy: 8, r: 3.5 }], 'M2.5 20a6.5 6.5 0 0 1 13 0', 'M16 4.6a3.5 3.5 0 0 1 0 6.8M18 14.2a6.5 6.5 0 0 1 3.5 5.8'],
    unassigned: [['circle', { cx: 12, cy: 8, r: 4, 'stroke-dasharray': '2.5 2.2' }], 'M4 21a8 8 0 0 1 16 0'],
    layers: ['M12 3 2.5 8 12 13l9.5-5z', 'm2.5 12.5 9.5 5 9.5-5', 'm2.5 17 9.5 5 9.5-5'],
    clock: [['circle', { cx: 12, cy: 12, r: 9 }], 'M12 7v5l3 2'],
    moon: ['M20 14.5A8 8 0 1 1 9.5 4a6.5 6.5 0 0 0 10.5 10.5z'],
    pause: [['circle', { cx: 12, cy: 12, r: 9 }], 'M10 9v6M14 9v6'],
    check: ['m5 12.5 4.5 4.5L19 7'],
    checkCircle: [['circle', { cx: 12, cy: 12, r: 9 }], 'm8 12.2 2.8 2.8L16 9.5'],
    circle: [['circle', { cx: 12, cy: 12, r: 9 }]],
    alert: [['circle', { cx: 12, cy: 12, r: 9 }], 'M12 7.5v5.5M12 16.5v.5'],
    retry: ['M4 12a8 8 0 0 1 14-5.3L20 9', 'M20 4v5h-5', 'M20 12a8 8 0 0 1-14 5.3L4 15', 'M4 20v-5h5'],
    tag: ['M3.5 12.2V4.5a1 1 0 0 1 1-1h7.7l8.6 8.6a1 1 0 0 1 0 1.4l-7.2 7.2a1 1 0 0 1-1.4 0z', ['circle', { cx: 8, cy: 8, r: 1.3 }]],
    lock: [['rect', { x: 5, y: 11, width: 14, height: 10, rx: 2 }], 'M8 11V8a4 4 0 0 1 8 0v3'],
    note: ['M5 3.5h10l4 4v13H5z', 'M14.5 3.5v4.5H19', 'M8.5 12.5h7M8.5 16h5'],
    clip: ['M20.5 11.5 12.3 19.7a5.3 5.3 0 0 1-7.5-7.5l8.7-8.7a3.5 3.5 0 0 1 5 5l-8.7 8.7a1.8 1.8 0 0 1-2.5-2.5l8-8'],
    chevronDown: ['m6 9 6 6 6-6'],
    chevronLeft: ['m15 18-6-6 6-6'],
    close: ['M6 6l12 12M18 6 6 18'],
    plus: ['M12 5v14M5 12h14'],
    copy: [['rect', { x: 8.5, y: 8.5, width: 12, height: 12, rx: 2 }], 'M15.5 8.5V6a2 2 0 0 0-2-2h-8a2 2 0 0 0-2 2v8a2 2 0 0 0 2 2h2.5'],
    logout: ['M15 4h3a2 2 0 0 1 2 2v12a2 2 0 0 1-2 2h-3', 'M10 17l5-5-5-5', 'M15 12H3.5'],
    settings: ['M4 6h9M17 6h3M4 12h3M11 12h9M4 18h11M19 18h1', ['circle', { cx: 15, cy: 6, r: 2 }], ['circle', { cx: 9, cy: 12, r: 2 }], ['circle', { cx: 17, cy: 18, r: 2 }]],
    keyboard: [['rect', { x: 2.5, y: 6, width: 19, height: 12, rx: 2 }], 'M6.5 10h.01M10 10h.01M14 10h.01M17.5 10h.01M7.5 14h9'],
    send: ['M4.5 12 20 4.5l-3.4 15-4.6-5.6z', 'M20 4.5 12 13.9'],
    search: [['circle', { cx: 11, cy: 11, r: 7 }], 'm20 20-3.5-3.5'],
    key: [['circle', { cx: 7.5, cy: 15.5, r: 4.5 }], 'm10.7 12.3 9.3-9.3M16 7l3 3M18 5l2 2'],
    merge: [['circle', { cx: 6, cy: 6, r: 2.5 }], ['circle', { cx: 6, cy: 18, r: 2.5 }], ['circle', { cx: 18, cy: 12, r: 2.5 }], 'M6 8.5v7', 'M7.5 8c2 3 5 4 8 4'],
    external: ['M14 4h6v6', 'M20 4l-9 9', 'M18 14v5a1 1 0 0 1-1 1H5a1 1 0 0 1-1-1V7a1 1 0 0 1 1-1h5'],
    edit: ['M4 20h4L19.5 8.5a2.1 2.1 0 0 0-3-3L5 17z', 'M14.5 7.5l3 3'],
    plug: ['M9 3v5M15 3v5', 'M6 8h12v3a6 6 0 0 1-12 0z', 'M12 17v4'],
    trash: ['M4 7h16', 'M10 11v6M14 11v6', 'M6 7l1 13h10l1-13', 'M9 7V4h6v3'],
    hash: ['M5 9h14M5 15h14M10 4 8 20M16 4l-2 16'],
    bell: ['M6 16V11a6 6 0 0 1 12 0v5l1.5 2h-15z', 'M10 20.5a2.2 2.2 0 0 0 4 0'],
    shield: ['M12 3 4.5 6v5.5c0 4.6 3.2 8.4 7.5 9.5 4.3-1.1 7.5-4.9 7.5-9.5V6z', 'm9 12 2.2 2.2L15.5 10'],
    warning: ['M12 3.5 2.5 20h19z', 'M12 10v4.5M12 17.2v.3'],
    chart: ['M4 20h16', 'M7 16v-5M12 16V6M17 16v-8'],
    signal: [['circle', { cx: 12, cy: 12, r: 2 }], 'M8.5 8.5a5 5 0 0 0 0 7M15.5 8.5a5 5 0 0 1 0 7', 'M5.6 5.6a9 9 0 0 0 0 12.8M18.4 5.6a9 9 0 0 1 0 12.8'],
    sort: ['M7 4v16M3.5 16.5 7 20l3.5-3.5', 'M13 6h8M13 11h6M13 16h4'],
    download: ['M12 4v11', 'm7 10.5 5 5 5-5', 'M4.5 19.5h15'],
    hourglass: ['M7 3.5h10M7 20.5h10', 'M8 3.5v3.2a4 4 0 0 0 1.6 3.2L12 12l2.4-2.1A4 4 0 0 0 16 6.7V3.5', 'M8 20.5v-3.2a4 4 0 0 1 1.6-3.2L12 12l2.4 2.1a4 4 0 0 1 1.6 3.2v3.2'],
    reply: ['M9.5 7 4.5 12l5 5', 'M4.5 12h9a6 6 0 0 1 6 6v1'],
  };

  function icon(name, cls) {
    const spec = ICONS[name] || ICONS.circle;
    const svg = document.createElementNS(SVGNS, 'svg');
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('class', 'i' + (cls ? ' ' + cls : ''));
    svg.setAttribute('aria-hidden', 'true');
    for (const part of spec) {
      const [tag, attrs] = typeof part === 'string' ? ['path', { d: part }] : part;
      const el = document.createElementNS(SVGNS, tag);
      for (const a in attrs) el.setAttribute(a, attrs[a]);
      svg.appendChild(el);
    }
    return svg;
  }
  K.icon = icon;

  const CHANNELS = { chat: 'Chat', email: 'E-mail', messenger: 'Messenger', x: 'X' };
  K.channelName = (c) => CHANNELS[c] || c || 'Unknown';
  K.channelIcon = (c) => h('span', { class: 'ch ch-' + (CHANNELS[c] ? c : 'other'), title: K.channelName(c) }, icon(CHANNELS[c] ? c : 'chat'));
  // A name or address the person only typed, or a page passed unsigned: shown, never
  // proof of who they are.
  K.unverified = (what) => h('span', { class: 'badge badge-warn unverified', title: 'Unverified: the visitor gave this ' + what + ' without proof; it may not be theirs' }, 'unverified');

  // Priority marker: bars like a signal meter, a filled badge for urgent.
  const PRIORITIES = ['low', 'normal', 'high', 'urgent'];
  K.PRIORITIES = PRIORITIES;
  K.priorityIcon = function (p) {
    const level = Math.max(0, PRIORITIES.indexOf(p));
    const svg = document.createElementNS(SVGNS, 'svg');
    svg.setAttribute('viewBox', '0 0 16 16');
    svg.setAttribute('class', 'prio prio-' + (PRIORITIES[level] || 'normal'));
    svg.setAttribute('aria-hidden', 'true');
    if (p === 'urgent') {
      const r = document.createElementNS(SVGNS, 'rect');
      for (const [a, v] of Object.entries({ x: 1, y: 1, width: 14, height: 14, rx: 3.5, class: 'fill' })) r.setAttribute(a, v);
      const t = document.createElementNS(SVGNS, 'path');
      t.setAttribute('d', 'M8 4.2v4.6M8 11.2v.6');
      t.setAttribute('class', 'mark');
      svg.append(r, t);
      return svg;
    }
    [[2, 9, 3, 5], [6.5, 6, 3, 8], [11, 3, 3, 11]].forEach(([x, y, w, hh], i) => {
      const r = document.createElementNS(SVGNS, 'rect');
      r.setAttribute('x', x); r.setAttribute('y', y); r.setAttribute('width', w); r.setAttribute('height', hh); r.setAttribute('rx', 1);
      r.setAttribute('class', i <= level ? 'on' : 'off');
      svg.appendChild(r);
    });
    return svg;
  };
  K.priorityName = (p) => ({ low: 'Low', normal: 'Normal', high: 'High', urgent: 'Urgent' }[p] || 'Normal');

  // ---- people -----------------------------------------------------------------------

  K.initials = function (name) {
    const parts = String(name || '').replace(/[^\p{L}\p{N}\s@._-]+/gu, ' ').trim().split(/[\s@._-]+/).filter(Boolean);
    if (!parts.length) return '?';
    const a = Array.from(parts[0])[0] || '';
    const b = parts.length > 1 ? Array.from(parts[parts.length - 1])[0] || '' : '';
    return (a + b).toUpperCase();
  };
  const HUES = [220, 262, 190, 150, 28, 340, 200, 290, 12, 170];
  K.hue = function (seed) {
    let n = 0;
    for (const ch of String(seed)) n = (n * 31 + ch.codePointAt(0)) >>> 0;
    return HUES[n % HUES.length];
  };
  K.avatar = function (name, opts) {
    opts = opts || {};
    const hue = K.hue(opts.seed != null ? opts.seed : name);
    return h('span', {
      class: ['avatar', opts.size && 'avatar-' + opts.size, opts.class],
      title: opts.title || name || '',
      style: { background: `hsl(${hue} 70% 93%)`, color: `hsl(${hue} 55% 32%)` },
    }, K.initials(name));
  };

  // ---- time -------------------------------------------------------------------------

  const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const pad = (n) => String(n).padStart(2, '0');
  K.time = {
    // rel: "now", "4m", "3h", "Tue", "Mar 4", "Mar 4, 2023"
    rel(iso) {
      if (!iso) return '';
      const d = new Date(iso), s = (Date.now() - d) / 1000;
      if (isNaN(s)) return '';
      if (s < 45) return 'now';
      if (s < 3600) return Math.round(s / 60) + 'm';
      if (s < 86400) return Math.round(s / 3600) + 'h';
      if (s < 6 * 86400) return Math.floor(s / 86400) + 'd';
      const now = new Date();
      return MONTHS[d.getMonth()] + ' ' + d.getDate() + (d.getFullYear() !== now.getFullYear() ? ', ' + d.getFullYear() : '');
    },
    clock(iso) { const d = new Date(iso); return pad(d.getHours()) + ':' + pad(d.getMinutes()); },
    day(iso) {
      const d = new Date(iso), t = new Date();
      const start = (x) => new Date(x.getFullYear(), x.getMonth(), x.getDate()).getTime();
      const diff = Math.round((start(t) - start(d)) / 86400000);
      if (diff === 0) return 'Today';
      if (diff === 1) return 'Yesterday';
      if (diff < 6) return ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'][d.getDay()];
      return DAYS[d.getDay()] + ', ' + MONTHS[d.getMonth()] + ' ' + d.getDate() + (d.getFullYear() !== t.getFullYear() ? ', ' + d.getFullYear() : '');
    },
    dayKey(iso) { const d = new Date(iso); return d.getFullYear() + '-' + d.getMonth() + '-' + d.getDate(); },
    full(iso) {
      if (!iso) return '';
      const d = new Date(iso);
      return DAYS[d.getDay()] + ', ' + MONTHS[d.getMonth()] + ' ' + d.getDate() + ', ' + d.getFullYear() + ' at ' + pad(d.getHours()) + ':' + pad(d.getMinutes());
    },
    // until: "in 5m", "in 2h", "in 3d" ahead; "5m ago" past (for due times)
    until(iso) {
      if (!iso) return '';
      const s = (Date.parse(iso) - Date.now()) / 1000;
      if (isNaN(s)) return '';
      const a = Math.abs(s);
      const v = a < 60 ? '<1m' : a < 3600 ? Math.round(a / 60) + 'm' : a < 86400 * 2 ? Math.round(a / 3600) + 'h' : Math.round(a / 86400) + 'd';
      return s >= 0 ? 'in ' + v : v + ' ago';
    },
    short(iso) {
      if (!iso) return '';
      const d = new Date(iso), t = new Date();
      const sameDay = d.toDateString() === t.toDateString();
      const tm = new Date(t.getTime() + 86400000);
      if (sameDay) return 'today ' + K.time.clock(iso);
      if (d.toDateString() === tm.toDateString()) return 'tomorrow ' + K.time.clock(iso);
      return DAYS[d.getDay()] + ' ' + MONTHS[d.getMonth()] + ' ' + d.getDate() + ', ' + K.time.clock(iso);
    },
  };
  // A <time> that keeps itself current (see the ticker below).
  K.relTime = (iso, cls) => h('time', { class: cls || 'rel', datetime: iso || '', title: K.time.full(iso), 'data-rel': '1' }, K.time.rel(iso));
  setInterval(() => {
    for (const t of document.querySelectorAll('time[data-rel]')) {
      const v = K.time.rel(t.getAttribute('datetime'));
      if (t.textContent !== v) t.textContent = v;
    }
  }, 30000);

  K.bytes = function (n) {
    if (!(n >= 0)) return '';
    if (n < 1024) return n + ' B';
    if (n < 1024 * 1024) return (n / 1024).toFixed(n < 10240 ? 1 : 0) + ' KB';
    return (n / 1048576).toFixed(1) + ' MB';
  };

  // ---- API --------------------------------------------------------------------------

  class APIError extends Error {
    constructor(status, code, message) { super(message); this.status = status; this.code = code; }
  }
  K.APIError = APIError;

  // api calls /api/v1 and resolves to the decoded JSON (null for 204). Errors carry the
  // server's own message.
  K.api = async function (method, path, body) {
    const opt = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
    if (method !== 'GET' && method !== 'HEAD') opt.headers['X-CSRF-Token'] = csrf;
    if (typeof FormData !== 'undefined' && body instanceof FormData) {
      opt.body = body; // multipart: the browser sets the Content-Type with its boundary
    } else if (body !== undefined) {
      opt.headers['Content-Type'] = 'application/json';
      opt.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch('/api/v1' + path, opt);
    } catch (e) {
      throw new APIError(0, 'network', 'Kibo cannot be reached. Check your connection and try again.');
    }
    if (res.status === 401 && K.me) {
      location.href = '/login?next=' + encodeURIComponent(location.pathname + location.search + location.hash);
      throw new APIError(401, 'unauthorized', 'Your session has ended: sign in again.');
    }
    if (res.status === 204) return null;
    let data = null;
    try { data = await res.json(); } catch (e) { /* not JSON */ }
    if (!res.ok) {
      const e = (data && data.error) || {};
      let msg = e.message || `The server answered ${res.status} ${res.statusText || ''}`.trim() + '.';
      if (res.status === 503 || res.status === 429) msg = e.message || 'Kibo is busy: try again in a moment.';
      throw new APIError(res.status, e.code || 'error', msg);
    }
    return data;
  };

  // run calls fn, shows the button busy meanwhile, and turns an error into a toast.
  // It resolves to fn's result, or undefined when fn failed.
  K.run = async function (button, fn, okMessage) {
    const b = button && button.nodeType ? button : null;
    if (b) { if (b.classList.contains('is-busy')) return undefined; b.classList.add('is-busy'); b.disabled = true; b.setAttribute('aria-busy', 'true'); }
    try {
      const r = await fn();
      if (okMessage) K.toast(okMessage, 'ok');
      return r;
    } catch (e) {
      K.toast(e && e.message ? e.message : String(e), 'error');
      return undefined;
    } finally {
      if (b) { b.classList.remove('is-busy'); b.disabled = false; b.removeAttribute('aria-busy'); }
    }
  };

  // ---- toasts -----------------------------------------------------------------------

  // toast shows msg (text, or nodes such as a link) for a while; opts.ms how long.
  K.toast = function (msg, kind, opts) {
    kind = kind || 'error';
    opts = opts || {};
    const box = document.getElementById('toasts');
    if (!box) return;
    const t = h('div', { class: 'toast toast-' + kind, role: kind === 'error' ? 'alert' : 'status' },
      icon(kind === 'error' ? 'alert' : kind === 'ok' ? 'checkCircle' : 'clock'),
      h('span', { class: 'toast-text' }, msg),
      h('button', { class: 'toast-x', type: 'button', 'aria-label': 'Dismiss', onclick: () => t.remove() }, icon('close')));
    box.appendChild(t);
    while (box.children.length > 4) box.firstChild.remove();
    setTimeout(() => { t.classList.add('out'); setTimeout(() => t.remove(), 250); }, opts.ms || (kind === 'error' ? 7000 : 3200));
    return t;
  };

  K.copy = async function (text, button) {
    try {
      await navigator.clipboard.writeText(text);
    } catch (e) {
      const ta = h('textarea', { value: text, style: { position: 'fixed', opacity: '0' } });
      document.body.appendChild(ta); ta.select();
      try { document.execCommand('copy'); } catch (e2) { /* ignore */ }
      ta.remove();
    }
    if (button) {
      const old = Array.from(button.childNodes);
      button.replaceChildren(icon('check'), 'Copied');
      setTimeout(() => button.replaceChildren(...old), 1500);
    } else K.toast('Copied', 'ok');
  };

  // ---- menus ------------------------------------------------------------------------

  let openMenu = null;
  K.closeMenu = function () {
    if (!openMenu) return false;
    const m = openMenu; openMenu = null;
    m.el.remove();
    document.removeEventListener('mousedown', m.outside, true);
    if (m.anchor) { m.anchor.classList.remove('is-open'); m.anchor.setAttribute('aria-expanded', 'false'); }
    if (m.onClose) m.onClose();
    if (m.restore && document.activeElement && m.el.contains(document.activeElement) === false) { /* focus moved on */ } else if (m.restore) m.restore.focus({ preventScroll: true });
    return true;
  };
  K.menuOpen = () => !!openMenu;

  // menu opens a popover under anchor. items: {label, icon (node|name), hint, checked,
  // danger, disabled, onSelect} or 'sep' or {heading}. opts.filter adds a search field;
  // opts.create(q) adds a "Create q" item for text that matches nothing.
  K.menu = function (anchor, items, opts) {
    opts = opts || {};
    if (openMenu && openMenu.anchor === anchor) { K.closeMenu(); return; }
    K.closeMenu();
    const el = h('div', { class: 'menu', role: 'menu' });
    const list = h('div', { class: 'menu-list' });
    let input = null, active = -1, buttons = [];
    const restore = document.activeElement;

    function render(q) {
      q = (q || '').trim().toLowerCase();
      list.replaceChildren();
      buttons = [];
      let shown = items;
      if (q) shown = items.filter((it) => it !== 'sep' && !it.heading && String(it.label).toLowerCase().includes(q));
      if (opts.create && q && !items.some((it) => it.label && String(it.label).toLowerCase() === q)) {
        shown = shown.concat([{ label: 'Create “' + input.value.trim() + '”', icon: 'plus', onSelect: () => opts.create(input.value.trim()) }]);
      }
      for (const it of shown) {
        if (it === 'sep') { list.appendChild(h('div', { class: 'menu-sep' })); continue; }
        if (it.heading) { list.appendChild(h('div', { class: 'menu-heading' }, it.heading)); continue; }
        const b = h('button', {
          type: 'button', role: 'menuitem', class: ['menu-item', it.danger && 'danger', it.checked && 'checked'], disabled: !!it.disabled,
          onclick: () => { K.closeMenu(); it.onSelect && it.onSelect(); },
          onmousemove: () => setActive(buttons.indexOf(b)),
        },
        h('span', { class: 'menu-ic' }, it.icon ? (typeof it.icon === 'string' ? icon(it.icon) : it.icon) : null),
        h('span', { class: 'menu-label' }, it.label),
        it.note ? h('span', { class: 'menu-note' }, it.note) : null,
        it.checked ? icon('check', 'menu-check') : null,
        it.hint ? h('kbd', null, it.hint) : null);
        buttons.push(b);
        list.appendChild(b);
      }
      if (!buttons.length) list.appendChild(h('div', { class: 'menu-empty' }, q ? 'No matches' : (opts.empty || 'Nothing here')));
      setActive(q || input ? 0 : -1);
    }
    function setActive(i) {
      if (active >= 0 && buttons[active]) buttons[active].classList.remove('active');
      active = Math.max(-1, Math.min(i, buttons.length - 1));
      if (active >= 0) { buttons[active].classList.add('active'); buttons[active].scrollIntoView({ block: 'nearest' }); }
    }
    el.addEventListener('keydown', (e) => {
      if (e.key === 'ArrowDown') { setActive(active + 1 >= buttons.length ? 0 : active + 1); e.preventDefault(); }
      else if (e.key === 'ArrowUp') { setActive(active <= 0 ? buttons.length - 1 : active - 1); e.preventDefault(); }
      else if (e.key === 'Enter') { if (active >= 0 && buttons[active]) { buttons[active].click(); e.preventDefault(); } }
      else if (e.key === 'Escape') { K.closeMenu(); e.preventDefault(); e.stopPropagation(); }
      else if (e.key === 'Tab') K.closeMenu();
    });
    if (opts.filter) {
      input = h('input', { class: 'menu-filter', type: 'text', placeholder: opts.placeholder || 'Filter…', autocomplete: 'off', spellcheck: 'false', oninput: () => render(input.value) });
      el.appendChild(input);
    }
    el.appendChild(list);
    if (opts.footer) el.appendChild(opts.footer);
    render('');
    showPop(anchor, el, opts, restore);
    if (input) input.focus();
    else { el.tabIndex = -1; el.focus({ preventScroll: true }); if (opts.keyboard) setActive(0); }
  };

  // showPop puts a menu or popover el under (or above) anchor, kept on screen, and
  // makes it the open one: a click outside or Escape closes it.
  function showPop(anchor, el, opts, restore) {
    document.body.appendChild(el);
    const r = anchor.getBoundingClientRect();
    const w = el.offsetWidth, hh = el.offsetHeight;
    let left = opts.alignRight ? r.right - w : r.left;
    left = Math.max(8, Math.min(left, innerWidth - w - 8));
    el.style.left = left + 'px';
    if (opts.above) {
      // anchored by its bottom edge, so content that grows later grows upwards
      el.style.bottom = (innerHeight - r.top + 4) + 'px';
      el.style.maxHeight = Math.max(120, r.top - 12) + 'px';
    } else {
      let top = r.bottom + 4;
      if (top + hh > innerHeight - 8) top = Math.max(8, r.top - hh - 4);
      el.style.top = top + 'px';
    }
    anchor.classList.add('is-open');
    anchor.setAttribute('aria-expanded', 'true');
    const outside = (e) => { if (!el.contains(e.target) && !anchor.contains(e.target)) K.closeMenu(); };
    document.addEventListener('mousedown', outside, true);
    openMenu = { el, anchor, outside, onClose: opts.onClose, restore };
  }

  // popover opens free content (a node) in a menu-like panel under anchor; a second
  // call on the same anchor closes it. Returns the panel.
  K.popover = function (anchor, content, opts) {
    opts = opts || {};
    if (openMenu && openMenu.anchor === anchor) { K.closeMenu(); return null; }
    K.closeMenu();
    const restore = document.activeElement;
    const el = h('div', { class: ['menu', 'popover', opts.class], role: opts.role || 'dialog', 'aria-label': opts.label || null, tabindex: '-1' }, content);
    showPop(anchor, el, opts, restore);
    el.focus({ preventScroll: true });
    return el;
  };

  // ---- dialogs ----------------------------------------------------------------------

  const dialogs = [];
  // dialog shows a modal; body is a node; actions [{label, primary, danger, onClick(btn)
  // → false keeps it open}]. Returns {el, close}.
  K.dialog = function (opts) {
    K.closeMenu();
    const restore = document.activeElement;
    const close = () => {
      const i = dialogs.indexOf(d);
      if (i >= 0) dialogs.splice(i, 1);
      wrap.remove();
      if (opts.onClose) opts.onClose();
      if (restore && restore.focus) restore.focus({ preventScroll: true });
    };
    const actions = (opts.actions || []).map((a) => {
      const b = h('button', {
        type: a.submit ? 'submit' : 'button',
        class: ['btn', a.primary && 'btn-primary', a.danger && 'btn-danger', !a.primary && !a.danger && 'btn-secondary'],
      }, a.label);
      if (!a.submit) b.addEventListener('click', async () => {
        if (!a.onClick) return close();
        const keep = await a.onClick(b);
        if (keep !== false) close();
      });
      return b;
    });
    const form = h('form', { class: ['dialog', opts.wide && 'dialog-wide'], role: 'dialog', 'aria-modal': 'true', 'aria-label': opts.title || '' },
      h('div', { class: 'dialog-head' },
        h('h2', null, opts.title || ''),
        h('button', { type: 'button', class: 'icon-btn', 'aria-label': 'Close', onclick: close }, icon('close'))),
      h('div', { class: 'dialog-body' }, opts.body || null),
      actions.length ? h('div', { class: 'dialog-foot' }, actions) : null);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const a = (opts.actions || []).find((x) => x.submit);
      if (!a) return;
      const b = actions[(opts.actions || []).indexOf(a)];
      const keep = a.onClick ? await a.onClick(b) : undefined;
      if (keep !== false) close();
    });
    const wrap = h('div', { class: 'overlay', onmousedown: (e) => { if (e.target === wrap) close(); } }, form);
    document.body.appendChild(wrap);
    const d = { el: form, close };
    dialogs.push(d);
    const first = form.querySelector('[autofocus], .dialog-body input, .dialog-body textarea, .dialog-body select') || actions.find((b) => b.classList.contains('btn-primary')) || form;
    first.focus();
    return d;
  };
  K.closeDialog = function () {
    const d = dialogs[dialogs.length - 1];
    if (!d) return false;
    d.close();
    return true;
  };
  K.dialogOpen = () => dialogs.length > 0;

  K.confirm = function (title, text, label, danger) {
    return new Promise((resolve) => {
      let done = false;
      K.dialog({
        title, body: h('p', { class: 'dialog-text' }, text),
        onClose: () => { if (!done) resolve(false); },
        actions: [
          { label: 'Cancel' },
          { label: label || 'OK', primary: !danger, danger: !!danger, onClick: () => { done = true; resolve(true); } },
        ],
      });
    });
  };

  // field builds a labelled form control.
  K.field = function (label, control, hint) {
    return h('label', { class: 'field' }, h('span', { class: 'field-label' }, label), control, hint ? h('span', { class: 'field-hint' }, hint) : null);
  };

  // ---- keyboard ---------------------------------------------------------------------

  // Shortcuts: each {keys: 'j' | 'g i', desc, run(e), group}. Single keys run directly;
  // two-key sequences start with g. They are ignored while typing in a field.
  const shortcuts = [];
  K.shortcuts = shortcuts;
  K.bindKeys = function (list) { shortcuts.push(...list); };
  K.isTyping = function (el) {
    el = el || document.activeElement;
    if (!el) return false;
    const t = el.tagName;
    return t === 'INPUT' || t === 'TEXTAREA' || t === 'SELECT' || el.isContentEditable;
  };
  let prefix = '', prefixTimer = 0;
  document.addEventListener('keydown', (e) => {
    if (e.defaultPrevented || e.isComposing) return;
    if (e.key === 'Escape') {
      if (K.closeMenu() || K.closeDialog()) { e.preventDefault(); return; }
      if (K.isTyping()) { document.activeElement.blur(); e.preventDefault(); return; }
      if (K.onEscape) K.onEscape(e);
      return;
    }
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (K.isTyping() || K.dialogOpen() || openMenu) return;
    const key = e.key.length === 1 ? e.key : e.key;
    if (prefix) {
      const seq = prefix + ' ' + key;
      prefix = '';
      clearTimeout(prefixTimer);
      const s = shortcuts.find((x) => x.keys === seq);
      if (s) { e.preventDefault(); swallow(key); s.run(e); }
      return;
    }
    if (shortcuts.some((x) => x.keys.startsWith(key + ' '))) {
      prefix = key;
      prefixTimer = setTimeout(() => { prefix = ''; }, 1200);
      return;
    }
    const s = shortcuts.find((x) => x.keys === key || (x.alt && x.alt === key));
    if (s) { e.preventDefault(); swallow(key); s.run(e); }
  });
  // A shortcut that moves focus into a field (r, n, t, /) must not also type its key
  // there: drop the character that some input paths deliver after the keydown.
  let swallowKey = '', swallowUntil = 0;
  function swallow(key) { swallowKey = key; swallowUntil = Date.now() + 150; }
  document.addEventListener('keypress', (e) => {
    if (swallowKey && e.key === swallowKey && Date.now() < swallowUntil) { e.preventDefault(); swallowKey = ''; }
  }, true);

  function keyLabel(k) {
    return k.split(' ').map((p) => ({ Enter: '↵', Escape: 'Esc', ArrowDown: '↓', ArrowUp: '↑' }[p] || p));
  }
  K.showShortcuts = function () {
    if (K.dialogOpen()) return;
    const groups = new Map();
    for (const s of shortcuts) {
      if (!s.desc) continue;
      const g = s.group || 'General';
      if (!groups.has(g)) groups.set(g, []);
      groups.get(g).push(s);
    }
    const extra = [
      { keys: 'Ctrl+↵', desc: 'Send reply or note (⌘↵ on a Mac)', group: 'Conversation' },
      { keys: 'Esc', desc: 'Leave a field, close a menu', group: 'General' },
    ];
    for (const s of extra) { if (!groups.has(s.group)) groups.set(s.group, []); groups.get(s.group).push(s); }
    const body = h('div', { class: 'shortcut-grid' }, Array.from(groups, ([g, list]) => h('section', null,
      h('h3', null, g),
      list.map((s) => h('div', { class: 'shortcut' },
        h('span', null, s.desc),
        h('span', { class: 'keys' }, (s.keys.includes('+') ? [s.keys] : keyLabel(s.keys).concat(s.alt ? ['/', s.alt === 'Enter' ? '↵' : s.alt] : [])).map((k) => k === '/' && s.alt ? h('span', { class: 'or' }, 'or') : h('kbd', null, k))))))));
    K.dialog({ title: 'Keyboard shortcuts', body, wide: true });
  };
  K.bindKeys([
    { keys: '?', desc: 'Show keyboard shortcuts', run: () => K.showShortcuts() },
    { keys: 'g i', desc: 'Go to the inbox', run: () => { if (K.goInbox) K.goInbox(); else location.href = '/inbox'; } },
    { keys: 'g s', desc: 'Go to settings', run: () => { location.href = '/settings'; } },
  ]);

  // ---- live events --------------------------------------------------------------------

  // live keeps one socket to /api/v1/ws. It remembers the last seq it handled and, after
  // any drop, reconnects with ?since= so the server replays what was missed, in order.
  // Backoff is exponential with full jitter, capped at 30 s; coming back online, the tab
  // becoming visible or the machine waking from sleep reconnect at once.
  // There is one socket a page: every K.live(handlers) after the first adds its
  // handlers to it (the page's own, then the sidebar's) and gets the same controller.
  let liveConn = null;
  const liveSubs = [];
  const each = (name, ev) => {
    for (const s of liveSubs) {
      if (!s[name]) continue;
      try { s[name](ev); } catch (err) { console.error('kibo: event', ev && ev.type, err); }
    }
  };
  K.live = function (handlers) {
    if (handlers) liveSubs.push(handlers);
    if (liveConn) return liveConn;
    let ws = null, seq = boot.seq || 0, attempt = 0, timer = 0, pillTimer = 0, conn = null, connected = false;
    const pill = document.getElementById('conn-pill');

    function setDown(down) {
      clearTimeout(pillTimer);
      if (!pill) return;
      if (down) pillTimer = setTimeout(() => { pill.hidden = false; }, 600);
      else pill.hidden = true;
    }
    function url() {
      return (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/api/v1/ws' + (seq ? '?since=' + seq : '');
    }
    function open() {
      clearTimeout(timer); timer = 0;
      drop();
      let s;
      try { s = new WebSocket(url()); } catch (e) { schedule(); return; }
      ws = s;
      conn = { hello: null, resync: false };
      const c = conn;
      s.onmessage = (m) => {
        if (ws !== s) return;
        let ev;
        try { ev = JSON.parse(m.data); } catch (e) { return; }
        if (!ev || typeof ev !== 'object') return;
        if (ev.type === 'hello') {
          c.hello = ev.seq || 0;
          if (!seq || c.resync) seq = c.hello;
          attempt = 0;
          connected = true;
          setDown(false);
          each('onOpen', ev);
          return;
        }
        if (ev.type === 'resync') {
          c.resync = true;
          if (c.hello != null) seq = c.hello;
          each('onEvent', ev);
          return;
        }
        if (typeof ev.seq === 'number') {
          if (ev.seq <= seq) return; // already handled before the reconnect
          seq = ev.seq;
        }
        each('onEvent', ev);
      };
      s.onclose = (ev) => {
        if (ws !== s) return;
        // 4401: this session ended (signed out elsewhere, disabled, password changed)
        if (ev && ev.code === 4401) { location.href = '/login?next=' + encodeURIComponent(location.pathname + location.search); return; }
        ws = null; connected = false;
        setDown(true);
        schedule();
      };
      s.onerror = () => { /* onclose follows */ };
    }
    function drop() {
      if (!ws) return;
      const s = ws; ws = null; connected = false;
      s.onclose = s.onmessage = s.onerror = null;
      try { s.close(); } catch (e) { /* already closed */ }
    }
    function schedule() {
      if (timer) return;
      const cap = Math.min(30000, 1000 * Math.pow(2, attempt));
      attempt++;
      const delay = cap / 2 + Math.random() * cap / 2;
      timer = setTimeout(open, delay);
    }
    function now(force) {
      if (!force && ws && (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING)) return;
      attempt = 0;
      if (force) setDown(true);
      open();
    }
    addEventListener('online', () => now(true));
    // A laptop that slept leaves a socket that looks open but is dead: a timer that fires
    // far later than asked means the machine was asleep, so start over (replay by seq).
    // Hidden tabs have their timers throttled too, so there it waits until visible.
    let tick = Date.now(), slept = false;
    setInterval(() => {
      const t = Date.now();
      if (t - tick > 20000) {
        if (document.visibilityState === 'visible') now(true);
        else slept = true;
      }
      tick = t;
    }, 5000);
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState !== 'visible') return;
      const force = slept;
      slept = false;
      now(force);
    });
    addEventListener('pagehide', drop);
    addEventListener('pageshow', (e) => { if (e.persisted) now(true); });
    open();
    liveConn = {
      send(obj) { if (ws && connected && ws.readyState === WebSocket.OPEN) { ws.send(JSON.stringify(obj)); return true; } return false; },
      get seq() { return seq; },
      get connected() { return connected; },
      reconnect: () => now(true),
    };
    return liveConn;
  };

  // ---- page chrome --------------------------------------------------------------------

  // The sidebar every agent page shares (layout.html): links with live counts (unread
  // conversations, data requests, active incidents) and the notification bell. It rides
  // on the page's socket, or opens one when the page has none.

  const DR = { counts: null };
  K.incidents = { list: null, watchers: [] };
  // watchIncidents calls fn(list) now (when known) and whenever the incidents change.
  K.watchIncidents = function (fn) {
    K.incidents.watchers.push(fn);
    if (K.incidents.list) fn(K.incidents.list);
  };
  function setIncidents(list) {
    K.incidents.list = list;
    const active = list.filter((i) => i.phase === 'active');
    const dot = document.getElementById('app-dot-incidents');
    if (dot) {
      dot.hidden = !active.length;
      dot.title = active.length ? active.length + ' active: ' + active.map((i) => i.title).join(', ') : '';
    }
    for (const fn of K.incidents.watchers) { try { fn(list); } catch (e) { console.error('kibo: incidents', e); } }
  }
  async function loadIncidents() {
    try { setIncidents((await K.api('GET', '/incidents?limit=50')).incidents || []); } catch (e) { /* the next event tries again */ }
  }
  function incidentEvent(inc) {
    if (!inc || !inc.id) return;
    const list = (K.incidents.list || []).filter((i) => i.id !== inc.id);
    list.unshift(inc);
    setIncidents(list);
  }

  // setDataRequestCounts shows {active, overdue, due_soon, suggested} in the sidebar; the
  // data requests page calls it too when it has fresh counts.
  K.setDataRequestCounts = function (c) {
    if (!c) return;
    DR.counts = c;
    const n = document.getElementById('app-count-dr'), o = document.getElementById('app-overdue-dr'), link = document.getElementById('app-link-dr');
    if (n) n.textContent = c.active ? String(c.active) : '';
    if (o) { o.hidden = !c.overdue; o.textContent = c.overdue ? String(c.overdue) : ''; }
    if (link) {
      const parts = [(c.active || 0) + ' active'];
      if (c.overdue) parts.push(c.overdue + ' overdue');
      if (c.due_soon) parts.push(c.due_soon + ' due within 7 days');
      if (c.suggested) parts.push(c.suggested + ' suggested, to confirm');
      link.title = 'Data requests: ' + parts.join(' · ') + ' (g d)';
    }
  };
  const debounce = (fn, ms) => { let t = 0; return () => { clearTimeout(t); t = setTimeout(fn, ms); }; };
  const loadDR = () => K.api('GET', '/data-requests/counts').then(K.setDataRequestCounts, () => {});
  const loadDRSoon = debounce(loadDR, 400);

  // The inbox link's unread count, on pages other than the inbox (which shows its own).
  const onInbox = document.body.classList.contains('page-inbox');
  const showUnread = (c) => {
    const el = document.getElementById('app-count-inbox');
    if (el) el.textContent = c && c.unread ? String(c.unread) : '';
  };
  // asked on load and after a reconnect; in between the server pushes the counts
  const loadUnread = () => K.api('GET', '/counts').then(showUnread, () => {});
  const loadUnreadSoon = debounce(loadUnread, 1000);

  // ---- notifications

  const N = { list: [], unread: 0, panel: null };
  const loadNotifsSoon = debounce(loadNotifs, 300);
  async function loadNotifs() {
    let r;
    try { r = await K.api('GET', '/notifications?limit=30'); } catch (e) { return; }
    N.list = r.notifications || [];
    N.unread = r.unread || 0;
    renderBell();
    if (N.panel && N.panel.isConnected) renderPanel();
  }
  function renderBell() {
    const b = document.getElementById('notif-button'), c = document.getElementById('notif-count');
    if (!b || !c) return;
    c.hidden = !N.unread;
    c.textContent = N.unread > 99 ? '99+' : String(N.unread);
    b.title = N.unread ? 'Notifications: ' + N.unread + ' unread' : 'Notifications';
    b.setAttribute('aria-label', b.title);
    b.classList.toggle('has-unread', N.unread > 0);
  }
  const NOTIF_ICON = { sla_warning: 'clock', sla_breach: 'alert', data_request: 'shield', volume_spike: 'chart', channel_down: 'plug', daily_summary: 'note', incident: 'warning' };
  const notifIcon = (kind) => h('span', { class: 'notif-ic notif-' + (NOTIF_ICON[kind] ? kind : 'other') }, icon(NOTIF_ICON[kind] || 'bell'));
  function renderPanel() {
    const p = N.panel;
    const markAll = h('button', {
      type: 'button', class: 'link-btn', id: 'notif-read-all', disabled: !N.unread,
      onclick: async () => {
        const top = N.list.reduce((m, n) => Math.max(m, n.id), 0);
        const ok = await K.run(null, () => K.api('POST', '/notifications/read', { up_to: top }));
        if (ok === undefined) return;
        const now = new Date().toISOString();
        for (const n of N.list) if (!n.read_at) n.read_at = now;
        N.unread = 0;
        renderBell(); renderPanel();
        loadNotifsSoon();
      },
    }, 'Mark all read');
    const items = N.list.map((n) => {
      const href = K.safeURL(n.link);
      return h(href ? 'a' : 'div', { class: ['notif', !n.read_at && 'unread'], href: href || null, 'data-id': n.id },
        notifIcon(n.kind),
        h('span', { class: 'notif-main' }, h('span', { class: 'notif-text' }, n.text || ''), K.relTime(n.created_at, 'notif-time')),
        !n.read_at ? h('span', { class: 'notif-dot', title: 'Unread' }) : null);
    });
    K.put(p,
      h('div', { class: 'notif-head' }, h('h3', null, 'Notifications'), markAll),
      h('div', { class: 'notif-list', id: 'notif-list' }, items.length ? items : h('div', { class: 'notif-empty' }, icon('bell'), h('p', null, 'Nothing yet. Deadlines, SLA breaches and channel trouble show up here.'))));
  }
  function toggleNotifs(btn) {
    const p = h('div', { class: 'notif-panel', id: 'notif-panel' });
    N.panel = p;
    renderPanel();
    const el = K.popover(btn, p, { class: 'notif-pop', label: 'Notifications', above: true });
    if (!el) { N.panel = null; return; }
    loadNotifs();
  }

  function chromeEvent(ev) {
    switch (ev.type) {
      case 'resync':
        loadDRSoon(); loadIncidents(); loadNotifsSoon(); if (!onInbox) loadUnreadSoon();
        break;
      case 'data_request.updated': case 'contact.erased':
        loadDRSoon();
        break;
      case 'incident.updated':
        incidentEvent(ev.incident);
        break;
      case 'notification.created': {
        const me = K.me && K.me.id;
        if (!Array.isArray(ev.agent_ids) || !ev.agent_ids.includes(me)) break;
        N.unread++;
        renderBell();
        loadNotifsSoon();
        const href = K.safeURL(ev.link);
        K.toast([ev.text || 'New notification', href ? [' ', h('a', { class: 'toast-link', href }, 'Open')] : null], 'info', { ms: 6000 });
        break;
      }
      case 'counts':
        if (!onInbox) showUnread(ev.counts);
        break;
    }
  }

  function initChrome() {
    for (const el of document.querySelectorAll('.avatar[data-name]')) {
      const a = K.avatar(el.dataset.name, { seed: K.me ? K.me.id : el.dataset.name });
      el.replaceWith(a);
    }
    const meBtn = document.getElementById('me-button');
    if (meBtn) meBtn.addEventListener('click', () => K.menu(meBtn, [
      { heading: K.me ? K.me.email : '' },
      { label: 'Inbox', icon: 'inbox', hint: 'g i', onSelect: () => { location.href = '/inbox'; } },
      { label: 'Data requests', icon: 'shield', hint: 'g d', onSelect: () => { location.href = '/data-requests'; } },
      { label: 'Settings', icon: 'settings', hint: 'g s', onSelect: () => { location.href = '/settings'; } },
      { label: 'Profile', icon: 'user', onSelect: () => { location.href = '/settings#profile'; } },
      { label: 'Keyboard shortcuts', icon: 'keyboard', hint: '?', onSelect: () => K.showShortcuts() },
      'sep',
      { label: 'Sign out', icon: 'logout', onSelect: () => document.getElementById('logout-form').submit() },
    ]));
    if (!K.me || !document.getElementById('app-nav')) return;
    const bell = document.getElementById('notif-button');
    if (bell) bell.addEventListener('click', () => toggleNotifs(bell));
    loadDR();
    loadIncidents();
    loadNotifs();
    if (!onInbox) loadUnread();
    let reopened = false; // the first open follows the load above
    K.live({ onEvent: chromeEvent, onOpen: () => { if (reopened && !onInbox) loadUnreadSoon(); reopened = true; } });
    setInterval(loadDR, 5 * 60 * 1000); // overdue changes with the clock, not with events
  }
  K.bindKeys([
    { keys: 'g d', desc: 'Go to data requests', run: () => { location.href = '/data-requests'; } },
    { keys: 'g n', desc: 'Show notifications', run: () => { const b = document.getElementById('notif-button'); if (b) toggleNotifs(b); } },
  ]);
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', initChrome);
  else initChrome();
})();
