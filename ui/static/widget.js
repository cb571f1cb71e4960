/* Kibo chat widget. Plain JavaScript, no dependencies, no build step.
 * Embed: <script src="https://KIBO/widget.js" data-inbox="PUBLIC_KEY" async></script>
 * Protocol: docs/WIDGET.md, "The widget protocol". Every message is kept in localStorage
 * until the server acknowledges it, and resent with the same client_id after every
 * reconnect, so a flaky network or a reload never loses or duplicates one. */
(function () {
  'use strict';
  var w = window, d = document;
  if (w.Kibo && w.Kibo.root) return; // loaded twice

  var me = d.currentScript;
  if (!me || !me.getAttribute('data-inbox')) {
    me = null;
    var all = d.querySelectorAll('script[src]');
    for (var i = all.length - 1; i >= 0; i--) {
      if (/\/widget(\.[\w-]+)?\.js([?#]|$)/.test(all[i].src)) { me = all[i]; break; }
    }
  }
  var pk = me && me.getAttribute('data-inbox');
  if (!pk) { if (w.console) console.warn('kibo: widget.js needs data-inbox="PUBLIC_KEY"'); return; }

  var src = new URL(me.src, location.href);
  var BASE = src.origin + src.pathname.replace(/\/[^\/]*$/, '');
  var WS_URL = BASE.replace(/^http/, 'ws') + '/widget/ws?inbox=' + encodeURIComponent(pk);
  var MAX_CHARS = 8000, MAX_FRAME = 16384, TOO_LONG = 'This message is too long. Please keep it under 8000 characters.';
  var OFFLINE = 'offline — messages will be sent when you\'re back';
  var UNAVAILABLE = 'Chat isn\u2019t available on this site.';

  // ---- storage (localStorage may be missing or throw: private mode, blocked cookies)
  var mem = {};
  function sget(k) { try { return localStorage.getItem(k); } catch (e) { return k in mem ? mem[k] : null; } }
  function sset(k, v) { mem[k] = v; try { localStorage.setItem(k, v); } catch (e) {} }
  function sdel(k) { delete mem[k]; try { localStorage.removeItem(k); } catch (e) {} }
  function jget(k, def) { try { var v = JSON.parse(sget(k)); return v == null ? def : v; } catch (e) { return def; } }
  var K = { token: 'kibo:token:' + pk, who: 'kibo:who:' + pk, outbox: 'kibo:outbox:' + pk,
    seen: 'kibo:seen:' + pk, inbox: 'kibo:inbox:' + pk };

  // ---- verified identity: window.KiboSettings.identity, else data-identity-* attributes
  var FIELDS = ['id', 'email', 'name', 'hash', 'jwt'];
  function readIdentity() {
    var s = w.KiboSettings && w.KiboSettings.identity, o = {};
    FIELDS.forEach(function (k) {
      var v = s && typeof s === 'object' ? s[k] : me.getAttribute('data-identity-' + k);
      if (v != null && v !== '') o[k] = String(v);
    });
    return o.id || o.jwt ? o : null;
  }
  var ident = readIdentity();
  // Who the stored token belongs to; a different signed-in person must not see it.
  function whoOf(o) {
    if (!o) return '';
    if (o.id) return o.id;
    try { var c = JSON.parse(atob(o.jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/'))); return String(c.sub || c.email || ''); } catch (e) { return o.email || ''; }
  }
  var who = whoOf(ident);
  var token = sget(K.token) || '';
  var storedWho = sget(K.who) || '';
  if (storedWho && storedWho !== who) { token = ''; sdel(K.token); sdel(K.who); }

  // ---- state
  var outbox = jget(K.outbox, []).filter(function (m) { return m && m.client_id && typeof m.text === 'string'; });
  var ws = null, ready = false, attempt = 0, retryTimer = 0, helloTimer = 0, retryNow = false;
  var sentToken = '', sentIdent = false, sentHere = {}, everUp = false;
  var convId = null, isOpen = false, seen = +sget(K.seen) || 0, lastAgent = 0, lastRead = 0;
  var agentIds = [], byId = {}, byCid = {}, typingHideT = 0, typingIdleT = 0, typingAt = 0, typingOn = false;
  var noticeT = 0, rateT = 0, greeting = 'Hi! How can we help?';
  var checked = false, unavailable = false;

  function saveOutbox() { sset(K.outbox, JSON.stringify(outbox)); }
  function uuid() {
    var c = w.crypto;
    if (c && c.randomUUID) return c.randomUUID();
    var b = new Uint8Array(16), i, s = '';
    if (c && c.getRandomValues) c.getRandomValues(b); else for (i = 0; i < 16; i++) b[i] = Math.random() * 256;
    b[6] = b[6] & 15 | 64; b[8] = b[8] & 63 | 128;
    for (i = 0; i < 16; i++) s += (i === 4 || i === 6 || i === 8 || i === 10 ? '-' : '') + (b[i] + 256).toString(16).slice(1);
    return s;
  }
  function bytes(s) { return w.TextEncoder ? new TextEncoder().encode(s).length : unescape(encodeURIComponent(s)).length; }

  // ---- DOM (static markup only; every piece of data goes in through textContent)
  var I = {
    chat: '<svg class="i-chat" width="28" height="28" viewBox="0 0 24 24" aria-hidden="true"><path fill="currentColor" d="M12 3C6.5 3 2 6.9 2 11.7c0 2.6 1.3 4.9 3.4 6.5L4.6 22l4.3-2.3c1 .3 2 .4 3.1.4 5.5 0 10-3.9 10-8.7S17.5 3 12 3z"/></svg>',
    down: '<svg class="i-down" width="26" height="26" viewBox="0 0 24 24" aria-hidden="true"><path fill="none" stroke="currentColor" stroke-width="2.2" stroke-linecap="round" stroke-linejoin="round" d="M6 9l6 6 6-6"/></svg>',
    x: '<svg width="20" height="20" viewBox="0 0 24 24" aria-hidden="true"><path fill="none" stroke="currentColor" stroke-width="2.2" stroke-linecap="round" d="M6 6l12 12M18 6L6 18"/></svg>',
    send: '<svg width="20" height="20" viewBox="0 0 24 24" aria-hidden="true"><path fill="currentColor" d="M3.4 20.4l17.5-7.5a1 1 0 000-1.8L3.4 3.6a1 1 0 00-1.4 1.1L4 11l9 1-9 1-2 6.3a1 1 0 001.4 1.1z"/></svg>',
    clock: '<svg width="12" height="12" viewBox="0 0 24 24" aria-hidden="true"><circle cx="12" cy="12" r="9" fill="none" stroke="currentColor" stroke-width="2.4"/><path d="M12 7v5l3 2" fill="none" stroke="currentColor" stroke-width="2.4" stroke-linecap="round"/></svg>',
    check: '<svg width="13" height="13" viewBox="0 0 24 24" aria-hidden="true"><path d="M5 12.5l4.5 4.5L19 7.5" fill="none" stroke="currentColor" stroke-width="2.6" stroke-linecap="round" stroke-linejoin="round"/></svg>',
    warn: '<svg width="13" height="13" viewBox="0 0 24 24" aria-hidden="true"><circle cx="12" cy="12" r="10" fill="currentColor"/><path d="M12 7v6M12 16.5v.5" stroke="#fff" stroke-width="2.4" stroke-linecap="round"/></svg>'
  };
  var CSS = ':host{all:initial}' +
    '*{box-sizing:border-box}[hidden]{display:none!important}' +
    '.w{--kb:#2f6fed;--kbt:#fff;font:14px/1.45 -apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:#1d2230;-webkit-font-smoothing:antialiased;text-align:left}' +
    'button{font:inherit;cursor:pointer}' +
    ':focus{outline:none}:focus-visible{outline:2px solid var(--kb);outline-offset:2px}' +
    '#kibo-launcher{position:fixed;right:20px;bottom:20px;width:60px;height:60px;border:0;border-radius:50%;padding:0;background:var(--kb);color:var(--kbt);display:flex;align-items:center;justify-content:center;box-shadow:0 6px 20px rgba(16,24,40,.22),0 2px 6px rgba(16,24,40,.12);transition:transform .18s ease}' +
    '#kibo-launcher:hover{transform:scale(1.06)}#kibo-launcher:focus-visible{outline-offset:3px}' +
    '.i-down,.kibo-open .i-chat{display:none}.kibo-open .i-down{display:block}' +
    '#kibo-badge{position:absolute;top:-3px;right:-3px;min-width:22px;height:22px;padding:0 6px;border-radius:11px;border:2px solid #fff;background:#e5484d;color:#fff;font-size:11.5px;font-weight:700;line-height:18px;text-align:center}' +
    '#kibo-badge.inc{background:#f59e0b}' +
    '#kibo-panel{position:fixed;right:20px;bottom:92px;width:380px;height:640px;max-height:calc(100vh - 116px);background:#fff;border-radius:18px;overflow:hidden;display:flex;flex-direction:column;box-shadow:0 16px 48px rgba(16,24,40,.2),0 3px 10px rgba(16,24,40,.08);animation:kin .22s cubic-bezier(.2,.8,.3,1);transform-origin:100% 100%}' +
    '@keyframes kin{from{opacity:0;transform:translateY(14px) scale(.97)}}' +
    '.kibo-head{display:flex;align-items:center;gap:12px;padding:18px 14px 18px 18px;background:linear-gradient(135deg,rgba(255,255,255,.14),rgba(0,0,0,.1)),var(--kb);color:var(--kbt)}' +
    '.kibo-av{flex:none;width:42px;height:42px;border-radius:50%;background:rgba(255,255,255,.2);display:flex;align-items:center;justify-content:center;font-size:18px;font-weight:650;text-transform:uppercase}' +
    '.kibo-hd{flex:1;min-width:0}' +
    '#kibo-title{margin:0;font-size:16.5px;font-weight:650;letter-spacing:-.01em;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}' +
    '#kibo-status{display:flex;align-items:flex-start;gap:6px;font-size:12.5px;opacity:.92;margin-top:1px}' +
    '#kibo-status:before{content:"";flex:none;margin-top:5px;width:8px;height:8px;border-radius:50%;background:#3ddc84;box-shadow:0 0 0 2px rgba(255,255,255,.35)}' +
    '#kibo-status.off:before{background:#c2c8d2}' +
    '#kibo-close{flex:none;width:36px;height:36px;border:0;border-radius:10px;background:transparent;color:inherit;display:flex;align-items:center;justify-content:center}' +
    '#kibo-close:hover{background:rgba(255,255,255,.16)}#kibo-close:focus-visible{outline-color:currentColor;outline-offset:-2px}' +
    '#kibo-banner{display:flex;gap:10px;padding:11px 16px;background:#fff8e8;border-bottom:1px solid #f4dfae;color:#6a4a00;font-size:13px}' +
    '#kibo-banner.ok{background:#ecfdf3;border-color:#b7ebc9;color:#0f5132}' +
    '#kibo-banner b{display:block;font-weight:650}.kibo-bs{text-transform:capitalize;font-weight:600}' +
    '.kibo-bi{flex:none;width:8px;height:8px;margin-top:6px;border-radius:50%;background:#f59e0b}.ok .kibo-bi{background:#22a55a}' +
    '.kibo-bm{margin-top:2px;white-space:pre-wrap;overflow-wrap:anywhere}.kibo-be{margin-top:3px;opacity:.85;font-size:12px}' +
    '#kibo-list{flex:1;overflow-y:auto;overscroll-behavior:contain;padding:18px 16px 8px;background:#f6f7f9;display:flex;flex-direction:column}' +
    '.kibo-msg,.kibo-greeting{display:flex;flex-direction:column;max-width:82%;margin-top:10px}.kibo-greeting{margin-top:0}.kibo-msg.kibo-cont{margin-top:3px}' +
    '.kibo-out{align-self:flex-end;align-items:flex-end}.kibo-in{align-self:flex-start;align-items:flex-start}' +
    '.kibo-sys{align-self:center;align-items:center;max-width:90%}' +
    '.kibo-name{font-size:12px;font-weight:600;color:#5b6472;margin:0 0 3px 12px}' +
    '.kibo-bubble{padding:9px 13px;border-radius:18px;white-space:pre-wrap;overflow-wrap:anywhere;font-size:14.5px}' +
    '.kibo-out .kibo-bubble{background:var(--kb);color:var(--kbt);border-bottom-right-radius:6px}' +
    '.kibo-in .kibo-bubble{background:#fff;color:#1d2230;border-bottom-left-radius:6px;box-shadow:0 1px 2px rgba(16,24,40,.08);border:1px solid #eceef2}' +
    '.kibo-sys .kibo-bubble{padding:4px 8px;color:#6b7280;font-size:12.5px;text-align:center}' +
    '.kibo-bubble a{color:inherit;text-decoration:underline;text-underline-offset:2px}' +
    '.kibo-meta{display:flex;align-items:center;gap:4px;margin:3px 6px 0;font-size:11px;color:#8a93a3}' +
    '.kibo-pending .kibo-bubble{opacity:.7}.kibo-failed .kibo-bubble{background:#fde8e8;color:#9b1c1c}.kibo-failed .kibo-meta{color:#b42318}' +
    '#kibo-typing{display:flex;align-items:center;gap:8px;padding:6px 18px 8px;background:#f6f7f9;color:#6b7280;font-size:12.5px}' +
    '.kibo-dots{display:inline-flex;gap:3px}.kibo-dots i{width:5px;height:5px;border-radius:50%;background:#9aa3b2;animation:kdot 1.2s infinite}' +
    '.kibo-dots i:nth-child(2){animation-delay:.15s}.kibo-dots i:nth-child(3){animation-delay:.3s}' +
    '@keyframes kdot{0%,60%,100%{opacity:.35;transform:none}30%{opacity:1;transform:translateY(-3px)}}' +
    '#kibo-notice{padding:8px 16px;background:#fff4f2;border-top:1px solid #fbd5cf;color:#b42318;font-size:12.5px}' +
    '.kibo-comp{display:flex;align-items:flex-end;gap:8px;padding:12px 12px 10px;border-top:1px solid #eceef2;background:#fff}' +
    '#kibo-input{flex:1;min-height:44px;max-height:140px;resize:none;margin:0;padding:11px 14px;border:1px solid #dde1e8;border-radius:14px;background:#fff;color:#1d2230;font:inherit;font-size:14.5px;line-height:1.4;transition:border-color .15s,box-shadow .15s}' +
    '#kibo-input::placeholder{color:#9aa1ad}' +
    '#kibo-input:focus{border-color:var(--kb);box-shadow:0 0 0 3px color-mix(in srgb,var(--kb) 18%,transparent);outline:none}' +
    '#kibo-send{flex:none;width:44px;height:44px;border:0;border-radius:50%;background:var(--kb);color:var(--kbt);display:flex;align-items:center;justify-content:center;transition:opacity .15s,transform .15s}' +
    '#kibo-send:disabled{opacity:.35;cursor:default}#kibo-send:not(:disabled):hover{transform:scale(1.05)}' +
    '.kibo-by{padding:0 0 9px;background:#fff;text-align:center;font-size:11px;color:#a0a7b4}' +
    '@media (max-width:480px){#kibo-panel{inset:0;width:auto;height:auto;max-height:none;border-radius:0}' +
    '.kibo-open #kibo-launcher{display:none}#kibo-input{font-size:16px}.kibo-head{padding-top:max(16px,env(safe-area-inset-top))}' +
    '.kibo-by{padding-bottom:max(9px,env(safe-area-inset-bottom))}}' +
    '@media (prefers-reduced-motion:reduce){*{animation:none!important;transition:none!important}}';

  var host = d.createElement('kibo-chat');
  // Styles go through the CSSOM, which a host page's strict CSP (no 'unsafe-inline') allows.
  ['all:initial', 'display:block', 'position:fixed', 'z-index:2147483000', 'right:0', 'bottom:0', 'width:0', 'height:0'].forEach(function (p) {
    p = p.split(':'); host.style.setProperty(p[0], p[1], 'important');
  });
  var root = host.attachShadow({ mode: 'open' }), css = '';
  try { var sheet = new CSSStyleSheet(); sheet.replaceSync(CSS); root.adoptedStyleSheets = [sheet]; } catch (e) { css = '<style>' + CSS + '</style>'; }
  root.innerHTML = css + '<div class="w" id="kibo">' +
    '<div id="kibo-panel" role="dialog" aria-labelledby="kibo-title" hidden>' +
      '<div class="kibo-head"><div class="kibo-av" id="kibo-avatar" aria-hidden="true"></div>' +
        '<div class="kibo-hd"><h2 id="kibo-title"></h2><div id="kibo-status" class="off" aria-live="polite"></div></div>' +
        '<button id="kibo-close" type="button" aria-label="Close chat">' + I.x + '</button></div>' +
      '<div id="kibo-banner" role="status" hidden></div>' +
      '<div id="kibo-list" role="log" aria-live="polite" aria-label="Messages" tabindex="0"></div>' +
      '<div id="kibo-typing" hidden><span class="kibo-dots" aria-hidden="true"><i></i><i></i><i></i></span><span id="kibo-typing-text"></span></div>' +
      '<div id="kibo-notice" role="alert" hidden></div>' +
      '<div class="kibo-comp"><textarea id="kibo-input" rows="1" placeholder="Write a message\u2026" aria-label="Write a message"></textarea>' +
        '<button id="kibo-send" type="button" aria-label="Send message" disabled>' + I.send + '</button></div>' +
      '<div class="kibo-by">Chat by Kibo</div>' +
    '</div>' +
    '<button id="kibo-launcher" type="button" aria-label="Open chat" aria-expanded="false" aria-controls="kibo-panel">' + I.chat + I.down +
      '<span id="kibo-badge" hidden></span></button></div>';
  function $(id) { return root.getElementById('kibo-' + id); }
  var wrap = root.getElementById('kibo'), panel = $('panel'), launcher = $('launcher'), badge = $('badge'),
    list = $('list'), input = $('input'), sendBtn = $('send'), statusEl = $('status'), banner = $('banner'),
    typingEl = $('typing'), typingText = $('typing-text'), noticeEl = $('notice');

  function el(tag, cls, text) {
    var e = d.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }

  // ---- inbox look: name, brand colour, greeting (cached so a reload doesn't flash)
  function applyInbox(ib) {
    if (!ib || typeof ib !== 'object') return;
    var name = String(ib.name || 'Chat with us');
    $('title').textContent = name;
    $('avatar').textContent = Array.from(name.trim())[0] || '?';
    panel.setAttribute('aria-label', name);
    if (ib.greeting) greeting = String(ib.greeting);
    var c = String(ib.brand_color || '');
    if (/^#([0-9a-f]{3}){1,2}$/i.test(c)) {
      var h = c.length === 4 ? c.replace(/[0-9a-f]/gi, '$&$&') : c, n = parseInt(h.slice(1), 16);
      var lum = (0.299 * (n >> 16) + 0.587 * (n >> 8 & 255) + 0.114 * (n & 255)) / 255;
      wrap.style.setProperty('--kb', h);
      wrap.style.setProperty('--kbt', lum > 0.68 ? '#1d2230' : '#fff');
    }
  }
  applyInbox(jget(K.inbox, { name: 'Chat with us' }));

  // ---- status, notices, banner, typing, badge
  function setStatus() {
    statusEl.textContent = unavailable ? UNAVAILABLE : ready ? 'online' : everUp || attempt ? OFFLINE : 'connecting\u2026';
    statusEl.className = ready ? '' : 'off';
  }
  function notice(text, ms) {
    clearTimeout(noticeT);
    noticeEl.textContent = text || '';
    noticeEl.hidden = !text;
    if (text && ms) noticeT = setTimeout(function () { notice(''); }, ms);
  }
  var incident = null;
  function fmtTime(ts) {
    var t = new Date(ts);
    if (!ts || isNaN(t)) return '';
    var o = { hour: 'numeric', minute: '2-digit' };
    if (t.toDateString() !== new Date().toDateString()) { o.month = 'short'; o.day = 'numeric'; }
    try { return t.toLocaleString([], o); } catch (e) { return t.toLocaleString(); }
  }
  function showIncident(inc) {
    incident = inc && typeof inc === 'object' ? inc : null;
    banner.textContent = '';
    banner.hidden = !incident;
    if (incident) {
      var st = String(incident.state || ''), body = el('div');
      banner.className = st === 'resolved' ? 'ok' : '';
      banner.appendChild(el('span', 'kibo-bi'));
      var t = el('b', null, String(incident.title || 'Service incident'));
      body.appendChild(t);
      if (st) { var s = el('span', 'kibo-bs', st); body.appendChild(s); }
      if (incident.message) body.appendChild(el('div', 'kibo-bm', String(incident.message)));
      var eta = fmtTime(incident.eta);
      if (eta && st !== 'resolved') body.appendChild(el('div', 'kibo-be', 'Expected to be resolved by ' + eta));
      banner.appendChild(body);
    }
    updateBadge();
  }
  function showTyping(on, name) {
    clearTimeout(typingHideT);
    typingEl.hidden = !on;
    if (on) {
      typingText.textContent = (name ? String(name) : 'Support') + ' is typing\u2026';
      typingHideT = setTimeout(function () { showTyping(false); }, 6000);
      stick(true);
    }
  }
  function unreadCount() {
    var n = 0;
    for (var i = 0; i < agentIds.length; i++) if (agentIds[i] > seen) n++;
    return n;
  }
  function updateBadge() {
    var n = isOpen ? 0 : unreadCount();
    badge.hidden = !n && !(incident && !isOpen && incident.state !== 'resolved');
    badge.className = n ? '' : 'inc';
    badge.textContent = n ? (n > 9 ? '9+' : String(n)) : '!';
    launcher.setAttribute('aria-label', isOpen ? 'Close chat' : n ? 'Open chat, ' + n + ' unread' : 'Open chat');
  }

  // ---- messages
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
  function linkify(node, text) {
    linkParts(text).forEach(function (p) {
      if (typeof p === 'string') return node.appendChild(d.createTextNode(p));
      var a = el('a', null, p.url);
      a.href = p.href; a.target = '_blank'; a.rel = 'noopener noreferrer nofollow';
      node.appendChild(a);
    });
  }
  function nearBottom() { return list.scrollHeight - list.scrollTop - list.clientHeight < 80; }
  function stick(force) { if (force || nearBottom()) list.scrollTop = list.scrollHeight; }
  function setMeta(e, state, ts) {
    var meta = e.querySelector('.kibo-meta'), t = fmtTime(ts);
    meta.textContent = '';
    e.classList.toggle('kibo-pending', state === 'sending');
    e.classList.toggle('kibo-failed', !!state && state !== 'sending' && state !== 'sent');
    if (t && state !== 'sending') meta.appendChild(el('time', null, t));
    if (state) {
      var icon = el('span'), label = state === 'sending' ? 'Sending' : state === 'sent' ? 'Delivered' : state;
      icon.innerHTML = state === 'sending' ? I.clock : state === 'sent' ? I.check : I.warn; // static svg only
      icon.setAttribute('role', 'img');
      icon.setAttribute('aria-label', label);
      icon.title = label;
      icon.style.display = 'inline-flex';
      meta.appendChild(icon);
      if (state === 'sending') meta.appendChild(d.createTextNode('Sending\u2026'));
      else if (state !== 'sent') meta.appendChild(d.createTextNode(state));
    }
  }
  function markSent(e, id, ts) {
    if (id != null) {
      if (byId[id] && byId[id] !== e) byId[id].remove();
      byId[id] = e;
      e.setAttribute('data-id', id);
    }
    setMeta(e, 'sent', ts || e.getAttribute('data-ts'));
  }
  // addMsg renders one message unless it is already shown; returns true when it is new.
  function addMsg(m, pending) {
    var id = m.id, cid = m.client_id, e;
    if (id != null && byId[id]) return false;
    if (cid && byCid[cid]) { if (id != null) markSent(byCid[cid], id, m.created_at); return false; }
    var a = m.author || {}, kind = pending ? 'contact' : String(a.kind || 'contact');
    var name = kind === 'agent' ? String(a.name || 'Support') : '';
    var prev = list.lastElementChild;
    e = el('div', 'kibo-msg ' + (kind === 'contact' ? 'kibo-out' : kind === 'system' ? 'kibo-sys' : 'kibo-in'));
    var cont = prev && prev.getAttribute('data-kind') === kind && prev.getAttribute('data-name') === name;
    if (cont) e.classList.add('kibo-cont');
    e.setAttribute('data-kind', kind);
    e.setAttribute('data-name', name);
    if (name && !cont) e.appendChild(el('div', 'kibo-name', name));
    var b = el('div', 'kibo-bubble');
    linkify(b, String(m.text == null ? '' : m.text));
    e.appendChild(b);
    e.appendChild(el('div', 'kibo-meta'));
    e.setAttribute('data-ts', m.created_at || '');
    if (cid) { byCid[cid] = e; e.setAttribute('data-client-id', cid); }
    if (id != null) { byId[id] = e; e.setAttribute('data-id', id); }
    setMeta(e, pending ? 'sending' : kind === 'contact' ? 'sent' : '', m.created_at);
    list.appendChild(e);
    if (kind === 'agent' && id != null) { agentIds.push(+id); if (+id > lastAgent) lastAgent = +id; }
    stick(pending || kind !== 'contact');
    return true;
  }
  function renderGreeting() {
    var g = el('div', 'kibo-in kibo-greeting');
    g.appendChild(el('div', 'kibo-bubble', greeting));
    list.appendChild(g);
  }

  // ---- connection
  function raw(f, force) {
    if (!ws || ws.readyState !== 1 || !(ready || force)) return false;
    try { ws.send(JSON.stringify(f)); return true; } catch (e) { return false; }
  }
  function sendOne(m) {
    if (raw({ type: 'message', client_id: m.client_id, text: m.text })) sentHere[m.client_id] = 1;
  }
  function flush() { outbox.slice().forEach(sendOne); }
  function schedule(ms) {
    clearTimeout(retryTimer);
    if (ms == null) ms = Math.random() * Math.min(30000, 500 * Math.pow(2, Math.min(attempt, 16)));
    attempt++;
    retryTimer = setTimeout(connect, ms);
  }
  function connect() {
    clearTimeout(retryTimer);
    if (ws || unavailable) return;
    var s;
    try { s = new WebSocket(WS_URL); } catch (e) { schedule(); setStatus(); return; }
    ws = s;
    clearTimeout(helloTimer);
    helloTimer = setTimeout(function () { if (ws === s && !ready) s.close(); }, 15000);
    s.onopen = function () {
      s.opened = true;
      if (ws !== s) return;
      sentToken = token;
      sentIdent = !!ident;
      var f = { type: 'hello', token: token };
      if (ident) f.identity = ident;
      f.page = location.href;
      raw(f, true);
    };
    s.onmessage = function (ev) {
      if (ws !== s) return;
      var f;
      try { f = JSON.parse(ev.data); } catch (e) { return; }
      if (f && typeof f === 'object') onFrame(f);
    };
    s.onclose = function () {
      if (ws !== s) return;
      ws = null; ready = false; sentHere = {}; typingOn = false;
      clearTimeout(helloTimer); clearTimeout(rateT);
      showTyping(false);
      if (retryNow) { retryNow = false; connect(); } else schedule();
      setStatus();
      // A socket refused before it opened may be a site the inbox doesn't allow: the
      // browser hides the answer, so ask once why.
      if (!s.opened && !everUp && !checked && w.fetch) {
        checked = true;
        fetch(BASE + '/widget/check?inbox=' + encodeURIComponent(pk) + '&origin=' + encodeURIComponent(location.origin), { credentials: 'omit', cache: 'no-store' })
          .then(function (r) { return r.ok ? r.json() : null; })
          .then(function (j) { if (j && j.available === false) notHere(); }, function () {});
      }
    };
  }
  // The chat isn't available on this site: say so, and stop trying.
  function notHere() {
    unavailable = true;
    clearTimeout(retryTimer);
    input.disabled = true;
    sendBtn.disabled = true;
    input.placeholder = UNAVAILABLE;
    outbox.forEach(function (m) { if (byCid[m.client_id]) setMeta(byCid[m.client_id], 'Not sent'); });
    notice(UNAVAILABLE + ' Please contact us another way.');
    setStatus();
  }
  function kick() { if (!ws) connect(); }

  function onFrame(f) {
    switch (f.type) {
      case 'welcome': return onWelcome(f);
      case 'ack': {
        var n = outbox.length;
        outbox = outbox.filter(function (m) { return m.client_id !== f.client_id; });
        if (outbox.length !== n) saveOutbox();
        if (f.conversation_id != null) convId = f.conversation_id;
        var e = byCid[f.client_id];
        if (e) markSent(e, f.id, f.created_at);
        return;
      }
      case 'message': {
        var fresh = addMsg(f);
        var kind = f.author && f.author.kind;
        if (fresh && kind === 'agent') { showTyping(false); markRead(); updateBadge(); }
        return;
      }
      case 'typing': return showTyping(!!f.on, f.name);
      case 'incident': return showIncident(f.incident);
      case 'error': return onError(f);
    }
  }
  function onWelcome(f) {
    clearTimeout(helloTimer);
    ready = true; everUp = true; attempt = 0; lastRead = 0;
    if (f.token) { token = String(f.token); sset(K.token, token); if (who) sset(K.who, who); else sdel(K.who); }
    convId = f.conversation_id == null ? null : f.conversation_id;
    if (f.inbox && typeof f.inbox === 'object') { applyInbox(f.inbox); sset(K.inbox, JSON.stringify(f.inbox)); }
    showIncident(f.incident);
    // History replaces what is shown.
    list.textContent = ''; byId = {}; byCid = {}; agentIds = []; lastAgent = 0;
    renderGreeting();
    (Array.isArray(f.messages) ? f.messages : []).forEach(function (m) { if (m && typeof m === 'object') addMsg(m); });
    // Other tabs may have queued messages since we loaded; merge them in, in order.
    jget(K.outbox, []).forEach(function (m) {
      if (m && m.client_id && typeof m.text === 'string' && !outbox.some(function (x) { return x.client_id === m.client_id; })) outbox.push(m);
    });
    // A queued message already in the history was committed: its ack got lost.
    outbox = outbox.filter(function (m) { return !byCid[m.client_id]; });
    saveOutbox();
    outbox.forEach(function (m) { addMsg({ client_id: m.client_id, text: m.text, created_at: m.created_at }, true); });
    stick(true);
    setStatus();
    updateBadge();
    markRead();
    flush();
  }
  function onError(f) {
    var code = f.code;
    if (code === 'rate_limited' && !ready) {
      // Kibo could not welcome us just now: the socket closes (1013) and we come back
      // with the same token after the usual backoff
      attempt = Math.max(attempt, 2);
    } else if (code === 'rate_limited') {
      notice('You\u2019re sending messages too quickly. We\u2019ll retry in a few seconds.', 8000);
      attempt = Math.max(attempt, 4);
      clearTimeout(rateT);
      rateT = setTimeout(flush, 4000 + Math.random() * 4000);
    } else if (code === 'unauthorized' && !ready) {
      if (sentToken) { token = ''; sdel(K.token); sdel(K.who); retryNow = true; }
      else if (sentIdent) {
        // A refused identity must not block the chat: carry on as an anonymous visitor.
        if (w.console) console.warn('kibo: identity refused by the server; continuing anonymously');
        ident = null; retryNow = true;
      }
      if (ws) ws.close();
    } else if (code === 'too_large') {
      // The server will never take it; drop the biggest one we sent so the queue isn't stuck.
      var worst = null;
      outbox.forEach(function (m) { if (sentHere[m.client_id] && (!worst || bytes(m.text) > bytes(worst.text))) worst = m; });
      if (worst) {
        outbox = outbox.filter(function (m) { return m !== worst; });
        saveOutbox();
        if (byCid[worst.client_id]) setMeta(byCid[worst.client_id], 'Not sent: too long');
      }
      notice(TOO_LONG, 10000);
    } else if (w.console) console.warn('kibo:', code, f.message);
  }

  // ---- read receipts and unread badge
  function markRead() {
    if (!isOpen || d.visibilityState === 'hidden') return;
    if (lastAgent > seen) { seen = lastAgent; sset(K.seen, String(seen)); }
    if (lastAgent > lastRead && raw({ type: 'read', up_to: lastAgent })) lastRead = lastAgent;
    updateBadge();
  }

  // ---- composing
  function tooLong(text) {
    return Array.from(text).length > MAX_CHARS ||
      bytes(JSON.stringify({ type: 'message', client_id: '00000000-0000-0000-0000-000000000000', text: text })) > MAX_FRAME - 64;
  }
  function typingOff() {
    clearTimeout(typingIdleT);
    if (typingOn) { typingOn = false; typingAt = 0; raw({ type: 'typing', on: false }); }
  }
  function send(text) {
    text = String(text == null ? '' : text).trim();
    if (!text || unavailable) return null;
    if (tooLong(text)) { notice(TOO_LONG); return null; }
    var m = { client_id: uuid(), text: text, created_at: new Date().toISOString() };
    outbox.push(m);
    saveOutbox(); // stored before it goes anywhere
    addMsg(m, true);
    typingOff();
    sendOne(m);
    if (!ws) connect();
    return m.client_id;
  }
  function refreshInput() {
    input.style.height = 'auto';
    input.style.height = Math.min(input.scrollHeight + 2, 140) + 'px';
    var v = input.value.trim(), long = !!v && tooLong(v);
    sendBtn.disabled = !v || long || unavailable;
    if (long) notice(TOO_LONG); else if (noticeEl.textContent === TOO_LONG) notice('');
  }
  function submit() {
    if (send(input.value)) { input.value = ''; refreshInput(); }
  }
  var sentByEnter = false;
  input.addEventListener('keydown', function (e) {
    sentByEnter = e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229;
    if (sentByEnter) { e.preventDefault(); submit(); }
  });
  // Some input paths (synthetic key events) still insert the newline after keydown.
  input.addEventListener('beforeinput', function (e) {
    if (sentByEnter && /^insert(Line|Paragraph)/.test(e.inputType)) e.preventDefault();
    sentByEnter = false;
  });
  input.addEventListener('input', function () {
    refreshInput();
    if (!input.value.trim()) return typingOff();
    var now = Date.now();
    if (now - typingAt > 2000 && raw({ type: 'typing', on: true })) { typingAt = now; typingOn = true; }
    clearTimeout(typingIdleT);
    typingIdleT = setTimeout(typingOff, 3000);
  });
  sendBtn.addEventListener('click', function () { submit(); input.focus(); });

  // ---- open / close
  var narrow = w.matchMedia ? w.matchMedia('(max-width:480px)') : { matches: false };
  function open() {
    if (!isOpen) {
      isOpen = true;
      panel.hidden = false;
      wrap.classList.add('kibo-open');
      launcher.setAttribute('aria-expanded', 'true');
      stick(true);
      (narrow.matches ? $('close') : input).focus();
    }
    markRead();
    updateBadge();
    kick();
  }
  function close() {
    if (!isOpen) return;
    var inside = root.activeElement && root.activeElement !== launcher;
    isOpen = false;
    panel.hidden = true;
    wrap.classList.remove('kibo-open');
    launcher.setAttribute('aria-expanded', 'false');
    typingOff();
    updateBadge();
    if (inside) launcher.focus();
  }
  launcher.addEventListener('click', function () { isOpen ? close() : open(); });
  $('close').addEventListener('click', close);
  wrap.addEventListener('keydown', function (e) {
    if ((e.key === 'Escape' || e.key === 'Esc') && isOpen) { e.stopPropagation(); close(); }
  });

  // ---- network and page lifecycle
  w.addEventListener('online', kick);
  w.addEventListener('offline', function () { if (ws) ws.close(); });
  w.addEventListener('pageshow', kick);
  d.addEventListener('visibilitychange', function () {
    if (d.visibilityState === 'visible') { kick(); markRead(); }
  });

  w.Kibo = {
    open: open,
    close: close,
    send: send,
    state: function () {
      return { connected: ready, pending: outbox.length, conversationId: convId, token: token || null, open: isOpen, available: !unavailable };
    },
    root: root
  };

  function mount() {
    (d.body || d.documentElement).appendChild(host);
    renderGreeting();
    outbox.forEach(function (m) { addMsg(m, true); }); // visible before we even connect
    setStatus();
    updateBadge();
    connect();
  }
  if (d.body) mount(); else d.addEventListener('DOMContentLoaded', mount);
})();
