// notifyd inbox page: the user's notifications with their seen/read/archived
// state (docs/DESIGN.md, "The inbox"), kept in step with every other tab,
// device and service through the user's SSE stream.
//
// Credentials come from the URL fragment, which browsers never send to
// servers or write to logs: /#user=alice&token=<token> (the query works too).
// Everything goes through /v1/client.js: the JSON API (the token in the
// Authorization header, which is what makes state changes CSRF-safe) and
// the stream, which all open tabs of this inbox share (one tab holds it and
// relays its events to the others). Without a token, ?user= is passed on
// for servers started with --insecure_dev_identity.
//
// Model: `items` holds every notification this page knows, by id. A view
// (tab) shows the known items that match its filter, newest first, down to
// the oldest id it has loaded (`view.floor`); "Load more" lowers the floor.
// Stream events and this page's own changes are applied to `items` and
// logged while a fetch is in flight or a change made here is unanswered,
// then replayed over the fetched snapshot (from the oldest unanswered
// change on), so a response that raced a change can never undo it.
//
// Payload content is only ever set with textContent: never as HTML.

import { connect } from './v1/client.js';

const PAGE_SIZE = 30;
const DEFAULT_EVENTS = new Set(['notification', 'message']);

const params = new URLSearchParams(location.hash.slice(1) || location.search);
const token = params.get('token') || params.get('access_token') || '';
const user = params.get('user') || subjectOf(token) || '';

const $ = (id) => document.getElementById(id);
const el = {
  bell: $('bell'), badge: $('badge'), user: $('user'), state: $('state'),
  markAll: $('mark-all'), panel: $('panel'), list: $('list'),
  loading: $('loading'), empty: $('empty'), emptyTitle: $('empty-title'),
  emptyText: $('empty-text'), error: $('error'), errorText: $('error-text'),
  retry: $('retry'), more: $('more'), hint: $('hint'),
  announcer: $('announcer'), toast: $('toast'), unreadCount: $('unread-count'),
  tabs: Array.from(document.querySelectorAll('[role="tab"]')),
};

// ---------------------------------------------------------------- ids ----
// Ids are unsigned 64-bit; keep them as decimal strings and compare them
// without going through floating point.
const idOf = (v) => String(v);
function cmpId(a, b) {
  if (a.length !== b.length) return a.length < b.length ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}
const isId = (v) => v !== undefined && v !== null && /^[1-9][0-9]*$/.test(String(v));

// -------------------------------------------------------------- state ----
const items = new Map();    // id -> item (see normalize)
let counts = null;          // {unread, unseen} as last reported
let newestId = null;        // newest notification id known
let seq = 0;                // orders applications of changes, local or streamed
const changeLog = [];       // [{seq, change}] that a fetch may not have seen
// The seq after which each running fetch may have missed changes, once per
// fetch (two may share one).
const inFlight = [];
// The seq of each change made here that the server has not answered yet: a
// fetch begun meanwhile may not see it.
const pending = [];

const FILTERS = {
  all: { label: 'All notifications', match: (it) => !it.archived,
         empty: ["You're all caught up", 'New notifications will show up here.'] },
  unread: { label: 'Unread notifications', match: (it) => !it.read && !it.archived,
            empty: ["You're all caught up", 'Nothing unread. Nice.'] },
  archived: { label: 'Archived notifications', match: (it) => it.archived,
              empty: ['Nothing archived', 'Archived notifications are kept here.'] },
};
const view = {
  filter: 'all',
  floor: null,       // oldest id loaded; null: everything down to the first
  more: false,       // the server has older ones for this view
  loaded: false,     // first page arrived
  loading: false,
  error: null,
  generation: 0,     // bumps on tab switch, so stale responses are dropped
};

function parseTime(v) {
  if (!v) return null;
  const t = Date.parse(v);
  return Number.isNaN(t) ? null : t;
}

// An item as the API returns it (or as the stream announces it).
function normalize(n) {
  return {
    id: idOf(n.id),
    event: typeof n.event === 'string' ? n.event : '',
    data: typeof n.data === 'string' ? n.data : JSON.stringify(n.data ?? ''),
    createdAt: parseTime(n.created_at) ?? Date.now(),
    expiresAt: parseTime(n.expires_at),
    seen: !!n.seen, read: !!n.read, archived: !!n.archived,
    fresh: false,
  };
}

function noteNewest(id) {
  if (newestId === null || cmpId(id, newestId) > 0) newestId = id;
}

// A state change: {ids:[…]} or {up_to_id}, plus any of seen/read/archived.
function applyChange(change, log = true) {
  const flags = {};
  for (const k of ['seen', 'read', 'archived']) {
    if (typeof change[k] === 'boolean') flags[k] = change[k];
  }
  const targets = [];
  if (Array.isArray(change.ids)) {
    for (const raw of change.ids) {
      const it = items.get(idOf(raw));
      if (it) targets.push(it);
    }
  }
  if (isId(change.up_to_id)) {
    const upTo = idOf(change.up_to_id);
    for (const it of items.values()) {
      if (cmpId(it.id, upTo) <= 0) targets.push(it);
    }
  }
  for (const it of targets) Object.assign(it, flags);
  if (log) record({ kind: 'state', ...change });
  return targets.length;
}

function applyDeleted(ids, log = true) {
  for (const raw of ids) items.delete(idOf(raw));
  if (log) record({ kind: 'deleted', ids });
}

function record(change, local = false) {
  seq += 1;
  if (local) pending.push(seq);
  if (inFlight.length || pending.length) changeLog.push({ seq, change });
  return seq;
}

// Fetches register here; what changed while they ran, and changes made here
// still on their way to the server, are replayed over what they return.
function beginFetch() {
  const start = pending.length ? pending[0] - 1 : seq;
  inFlight.push(start);
  return start;
}
function endFetch(start) {
  inFlight.splice(inFlight.indexOf(start), 1);
  pruneLog();
}
// A change made here has been answered (committed, or refused).
function settle(mine) {
  pending.splice(pending.indexOf(mine), 1);
  pruneLog();
}
function pruneLog() {
  let after = seq;
  if (inFlight.length) after = Math.min(after, ...inFlight);
  if (pending.length) after = Math.min(after, pending[0] - 1);
  while (changeLog.length && changeLog[0].seq <= after) changeLog.shift();
}
function replaySince(start) {
  for (const { seq: s, change } of changeLog) {
    if (s <= start) continue;
    if (change.kind === 'deleted') applyDeleted(change.ids, false);
    else applyChange(change, false);
  }
}

// ---------------------------------------------------------------- api ----
// The connection to notifyd (/v1/client.js); opened by start().
let client = null;

// A state change as the client's calls: ids or up_to_id, one flag each.
async function postState(c) {
  const target = Array.isArray(c.ids) ? c.ids.map(idOf) : { up_to_id: idOf(c.up_to_id) };
  if (Array.isArray(target) && !target.length) return;
  if (typeof c.seen === 'boolean') await client.markSeen(target);
  if (typeof c.read === 'boolean') await client.markRead(target, c.read);
  if (typeof c.archived === 'boolean') await client.setArchived(target, c.archived);
}

// A change made here: shown at once, then sent; undone if the server
// refuses (the stream's `state` events bring every other tab in step).
// Changes are sent one after another, in the order made: a change is
// several requests (seen, then read), and a quick second change (read,
// then unread at once) sent beside the first could reach the server first
// and be undone by it.
let sending = Promise.resolve();
async function change(c, failure) {
  applyChange(c, false);
  const mine = record({ kind: 'state', ...c }, true);
  render();
  const sent = sending.then(() => postState(c));
  sending = sent.catch(() => {});
  let error = null;
  try {
    await sent;
  } catch (e) {
    error = e;
  }
  settle(mine);
  if (error) {
    toast(failure + (error.message ? ': ' + error.message : ''));
    refresh();
  }
}

// -------------------------------------------------------------- loads ----
async function loadPage({ reset }) {
  const gen = view.generation;
  const filter = view.filter;
  const query = { filter, limit: PAGE_SIZE };
  if (!reset && view.floor) query.before_id = view.floor;
  view.loading = true;
  view.error = null;
  renderChrome();
  const start = beginFetch();
  try {
    const res = await client.list(query);
    if (gen !== view.generation) return;
    const list = Array.isArray(res.notifications) ? res.notifications : [];
    for (const raw of list) {
      const it = normalize(raw);
      const known = items.get(it.id);
      if (known) it.fresh = known.fresh;
      items.set(it.id, it);
      noteNewest(it.id);
    }
    replaySince(start);
    const next = res.next_before_id;
    view.more = isId(next) && list.length > 0;
    if (view.more) {
      view.floor = idOf(next);
    } else if (reset || view.loaded) {
      view.floor = null;
    }
    view.loaded = true;
  } catch (e) {
    if (gen !== view.generation) return;
    view.error = e;
  } finally {
    endFetch(start);
    if (gen === view.generation) view.loading = false;
  }
  render();
  markSeenSoon();
}

// The newest page of the current view again, merged into what is shown
// (new items, items that came into this view, and after a reconnect).
let refreshTimer = 0;
function refresh() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(async () => {
    const gen = view.generation;
    const start = beginFetch();
    const knownAtStart = new Set(items.keys());
    try {
      const res = await client.list({ filter: view.filter, limit: PAGE_SIZE });
      if (gen !== view.generation) return;
      const list = (res.notifications || []).map(normalize);
      // Items of this view within the refetched range that the server no
      // longer lists (deleted or expired while we were away) go; not those
      // that arrived while this ran.
      const oldest = list.length ? list[list.length - 1].id : null;
      const got = new Set(list.map((it) => it.id));
      const whole = list.length < PAGE_SIZE;
      for (const it of Array.from(items.values())) {
        if (!knownAtStart.has(it.id) || got.has(it.id)) continue;
        if (!FILTERS[view.filter].match(it)) continue;
        if (whole || cmpId(it.id, oldest) >= 0) items.delete(it.id);
      }
      for (const it of list) {
        const known = items.get(it.id);
        if (known) it.fresh = known.fresh;
        items.set(it.id, it);
        noteNewest(it.id);
      }
      replaySince(start);
      if (!view.loaded) {
        view.loaded = true;
        view.more = isId(res.next_before_id) && list.length > 0;
        view.floor = view.more ? idOf(res.next_before_id) : null;
      }
    } catch (e) {
      /* the next event or reconnect tries again */
    } finally {
      endFetch(start);
    }
    render();
    markSeenSoon();
  }, 150);
}

async function loadCounts() {
  const before = countsVersion;
  try {
    const c = await client.counts();
    if (countsVersion === before) setCounts(c);
  } catch (e) { /* the stream sends them too */ }
}

function selectTab(filter, focus) {
  if (!FILTERS[filter]) return;
  for (const tab of el.tabs) {
    const on = tab.dataset.filter === filter;
    tab.setAttribute('aria-selected', String(on));
    tab.tabIndex = on ? 0 : -1;
    if (on) {
      el.panel.setAttribute('aria-labelledby', tab.id);
      if (focus) tab.focus();
    }
  }
  if (filter === view.filter && view.loaded) return;
  view.filter = filter;
  view.generation += 1;
  view.loaded = false;
  view.floor = null;
  view.more = false;
  el.list.setAttribute('aria-label', FILTERS[filter].label);
  try { history.replaceState(null, '', withParam('view', filter === 'all' ? '' : filter)); } catch (e) { /* file: */ }
  loadPage({ reset: true });
}

function withParam(name, value) {
  const p = new URLSearchParams(location.hash.slice(1));
  if (value) p.set(name, value); else p.delete(name);
  const h = p.toString();
  return location.pathname + location.search + (h ? '#' + h : '');
}

// ------------------------------------------------------------- stream ----
let countsVersion = 0;
let sawNotification = false;
let wasLive = false;
let wasDown = false;

// The stream's events (client.js; shared with the other tabs of this inbox).
function listen() {
  let subscribed = false;
  client.on('status', (st) => {
    if (st.state === 'live') {
      wasLive = true;
      setConn('live');
      if (wasDown) {
        // Back after an outage: what changed meanwhile is fetched again.
        wasDown = false;
        refresh();
        loadCounts();
      }
    } else {
      wasDown = wasLive;
      setConn(st.state === 'connecting' && wasLive ? 'reconnecting' : st.state);
    }
  });
  client.on('notification', onNotification);
  client.on('counts', (c) => {
    const grew = counts && typeof c.unseen === 'number' && c.unseen > counts.unseen;
    countsVersion += 1;
    setCounts(c);
    if (!subscribed) {
      // The first event of every stream: from here on nothing is missed,
      // so what arrived before the stream was subscribed is fetched once.
      subscribed = true;
      refresh();
    } else if (grew && !sawNotification) {
      // A notification under an event name this page does not listen for
      // still moves the counts: fetch it.
      refresh();
    }
    sawNotification = false;
  });
  client.on('state', (c) => {
    const n = applyChange(c);
    const ids = Array.isArray(c.ids) ? c.ids : [];
    // Items that come into this view and were not known here.
    const joins = (c.archived === false && view.filter !== 'archived') ||
        (c.archived === true && view.filter === 'archived') ||
        (c.read === false && view.filter === 'unread');
    if (joins && (isId(c.up_to_id) || n < ids.length)) refresh();
    render();
  });
  client.on('deleted', (c) => {
    if (!Array.isArray(c.ids)) return;
    applyDeleted(c.ids);
    render();
  });
  // The server no longer holds where we were: start over.
  client.on('reset', () => {
    items.clear();
    view.loaded = false;
    view.generation += 1;
    loadPage({ reset: true });
    loadCounts();
  });
}

function onNotification(n) {
  const id = idOf(n.id);
  sawNotification = true;
  if (items.has(id)) return;
  const it = normalize({ id, event: n.event, data: n.data });
  it.fresh = true;
  items.set(id, it);
  noteNewest(id);
  record({ kind: 'new' });
  render();
  announce(it);
  markSeenSoon();
}

function parseJson(s) {
  try { return JSON.parse(s); } catch (e) { return null; }
}

// ------------------------------------------------------------- counts ----
function setCounts(c) {
  const unread = Math.max(0, Number(c.unread) || 0);
  const unseen = Math.max(0, Number(c.unseen) || 0);
  if (counts && unread > counts.unread) {
    el.badge.classList.remove('bump');
    void el.badge.offsetWidth; // restarts the animation
    el.badge.classList.add('bump');
  }
  counts = { unread, unseen };
  const label = unread > 99 ? '99+' : String(unread);
  el.badge.textContent = label;
  el.badge.hidden = unread === 0;
  el.bell.setAttribute('aria-label', unread === 0 ? 'No unread notifications'
      : unread + ' unread notification' + (unread === 1 ? '' : 's'));
  el.unreadCount.textContent = label;
  el.unreadCount.hidden = unread === 0;
  document.title = unread > 0 ? `(${label}) Inbox` : 'Inbox';
  el.markAll.disabled = unread === 0;
}

function setConn(state) {
  const labels = { connecting: 'Connecting', live: 'Live', reconnecting: 'Reconnecting',
                   offline: 'Offline' };
  el.state.dataset.state = state;
  el.state.querySelector('.conn-label').textContent = labels[state] || state;
}

// ------------------------------------------------------------- render ----
const rendered = new Map(); // id -> {li, key}

function visibleItems() {
  const f = FILTERS[view.filter];
  const out = [];
  for (const it of items.values()) {
    if (!f.match(it)) continue;
    if (view.floor && cmpId(it.id, view.floor) < 0) continue;
    out.push(it);
  }
  return out.sort((a, b) => cmpId(b.id, a.id));
}

function render() {
  const list = view.loaded ? visibleItems() : null;
  if (list) {
    const focusedId = el.list.contains(document.activeElement)
      ? document.activeElement.closest('li')?.dataset.id : null;
    const focusedWasAction = document.activeElement?.dataset?.action;
    const keep = new Set(list.map((it) => it.id));
    let focusFallback = null;
    if (focusedId && !keep.has(focusedId)) {
      // Focus moves to the neighbour of an item that leaves the view.
      const ids = Array.from(el.list.children).map((li) => li.dataset.id);
      const at = ids.indexOf(focusedId);
      focusFallback = ids.slice(at + 1).find((id) => keep.has(id)) ||
          ids.slice(0, at).reverse().find((id) => keep.has(id)) || 'panel';
    }
    for (const [id, r] of rendered) {
      if (!keep.has(id)) { r.li.remove(); rendered.delete(id); }
    }
    let cursor = el.list.firstElementChild;
    for (const it of list) {
      let r = rendered.get(it.id);
      const key = [it.read, it.archived, it.data, it.expiresAt].join('|');
      if (!r) {
        r = { li: buildItem(it), key };
        rendered.set(it.id, r);
      } else if (r.key !== key) {
        const hadFocus = r.li.contains(document.activeElement) ? document.activeElement.dataset.action : null;
        const li = buildItem(it);
        r.li.replaceWith(li);
        if (cursor === r.li) cursor = li;
        r.li = li;
        r.key = key;
        if (hadFocus) li.querySelector(`[data-action="${hadFocus}"]`)?.focus();
      }
      r.li.dataset.seen = String(it.seen);
      if (r.li !== cursor) el.list.insertBefore(r.li, cursor);
      else cursor = cursor.nextElementSibling;
    }
    if (focusFallback === 'panel') el.panel.focus();
    else if (focusFallback) {
      const li = rendered.get(focusFallback)?.li;
      (li?.querySelector(`[data-action="${focusedWasAction}"]`) || li?.querySelector('.open'))?.focus();
    }
  }
  renderChrome(list);
  if (!expiryQueued) {
    expiryQueued = true;
    setTimeout(() => { expiryQueued = false; scheduleExpiry(); }, 0);
  }
}
let expiryQueued = false;

function renderChrome(list = view.loaded ? visibleItems() : null) {
  const busy = !view.loaded && !view.error;
  el.panel.setAttribute('aria-busy', String(view.loading));
  el.panel.dataset.filter = view.filter;
  el.loading.hidden = !busy;
  el.error.hidden = !(view.error && !view.loaded);
  if (view.error && !view.loaded) el.errorText.textContent = describeError(view.error);
  const isEmpty = view.loaded && list && list.length === 0 && !view.more;
  el.empty.hidden = !isEmpty;
  if (isEmpty) {
    const [title, text] = FILTERS[view.filter].empty;
    el.emptyTitle.textContent = title;
    el.emptyText.textContent = text;
  }
  el.list.hidden = !view.loaded;
  el.more.hidden = !(view.loaded && view.more);
  el.more.disabled = view.loading;
  el.more.textContent = view.loading && view.loaded ? 'Loading…' : 'Load more';
  el.panel.classList.toggle('has-items', !!(list && list.length));
}

function describeError(e) {
  if (e.status === 401) return 'Your sign-in has expired or is not valid. Open the inbox again from its link.';
  if (e.status === 403) return 'This token may not read this inbox.';
  if (e.status === 429) return 'Too many requests. Try again in a moment.';
  return e.message || 'The server could not be reached.';
}

// The payload as a notification card, when it is a JSON object with any of
// title/body/url/icon as strings; otherwise null.
function cardOf(it) {
  const d = parseJson(it.data);
  if (!d || typeof d !== 'object' || Array.isArray(d)) return null;
  const str = (v) => (typeof v === 'string' && v.trim() ? v.trim() : '');
  const card = { title: str(d.title), body: str(d.body), url: safeUrl(d.url), icon: safeUrl(d.icon) };
  if (!card.title && !card.body && !card.url && !card.icon) return null;
  return card;
}

function safeUrl(v) {
  if (typeof v !== 'string' || !v) return '';
  try {
    const u = new URL(v, location.href);
    return u.protocol === 'https:' || u.protocol === 'http:' ? u.href : '';
  } catch (e) { return ''; }
}

function node(tag, cls, text) {
  const n = document.createElement(tag);
  if (cls) n.className = cls;
  if (text !== undefined) n.textContent = text;
  return n;
}

const ICONS = {
  read: 'M3.5 10.5l3.5 3.5 9-9',
  unread: 'M10 6.5a3.5 3.5 0 1 1 0 7 3.5 3.5 0 0 1 0-7Z',
  archive: 'M3 4.5h14v3H3zM4.5 7.5v8h11v-8M8 10.5h4',
  unarchive: 'M3 4.5h14v3H3zM4.5 7.5v8h11v-8M10 15v-5M7.75 12.25 10 10l2.25 2.25',
  external: 'M8 4.5H4.5v11h11V12M11 3.5h5.5V9M16.5 3.5 9 11',
  message: 'M4 4.5h12a1 1 0 0 1 1 1v7.5a1 1 0 0 1-1 1H9l-3.5 3v-3H4a1 1 0 0 1-1-1V5.5a1 1 0 0 1 1-1Z',
};
function icon(name) {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 20 20');
  svg.setAttribute('width', '16');
  svg.setAttribute('height', '16');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  const p = document.createElementNS(ns, 'path');
  p.setAttribute('d', ICONS[name]);
  p.setAttribute('fill', name === 'unread' ? 'currentColor' : 'none');
  p.setAttribute('stroke', 'currentColor');
  p.setAttribute('stroke-width', '1.6');
  p.setAttribute('stroke-linecap', 'round');
  p.setAttribute('stroke-linejoin', 'round');
  svg.append(p);
  return svg;
}

function avatarFor(it, card) {
  const box = node('span', 'avatar');
  box.setAttribute('aria-hidden', 'true');
  const letter = () => {
    const basis = (card && card.title) || it.event || 'N';
    const ch = Array.from(basis.trim())[0] || 'N';
    box.textContent = ch.toUpperCase();
    box.dataset.hue = String(hash(basis) % 6);
  };
  if (card && card.icon) {
    const img = node('img');
    img.alt = '';
    img.loading = 'lazy';
    img.decoding = 'async';
    img.referrerPolicy = 'no-referrer';
    img.src = card.icon;
    img.addEventListener('error', () => { img.remove(); letter(); }, { once: true });
    box.append(img);
    box.classList.add('has-img');
  } else if (card) {
    letter();
  } else {
    box.classList.add('generic');
    box.append(icon('message'));
  }
  return box;
}

function hash(s) {
  let h = 0;
  for (const c of s) h = (h * 31 + c.codePointAt(0)) >>> 0;
  return h;
}

function buildItem(it) {
  const card = cardOf(it);
  const li = node('li', 'item');
  li.dataset.id = it.id;
  li.dataset.read = String(it.read);
  li.dataset.seen = String(it.seen);
  li.dataset.archived = String(it.archived);
  if (!it.read && !it.archived) li.classList.add('unread');
  if (it.fresh) {
    // Highlighted once, when it arrives.
    li.classList.add('fresh');
    it.fresh = false;
  }

  const titleId = 'n' + it.id + '-title';
  const bodyId = 'n' + it.id + '-body';
  const metaId = 'n' + it.id + '-meta';

  // The whole card is one button (Enter/Space); its actions sit above it.
  const open = node('button', 'open');
  open.type = 'button';
  open.dataset.action = 'open';
  open.setAttribute('aria-labelledby', titleId);
  open.setAttribute('aria-describedby', `${bodyId} ${metaId}`);

  const dot = node('span', 'dot');
  dot.setAttribute('aria-hidden', 'true');

  const content = node('div', 'content');
  const head = node('div', 'head');
  const title = node('span', 'title');
  title.id = titleId;
  const body = node('div', 'body');
  body.id = bodyId;
  if (card) {
    title.textContent = card.title || card.body || (card.url && hostOf(card.url)) || 'Notification';
    body.textContent = card.title ? card.body : '';
  } else {
    const json = parseJson(it.data);
    if (json !== null && typeof json === 'object') {
      // Structured data that is not a card: shown as formatted JSON.
      title.textContent = DEFAULT_EVENTS.has(it.event) || !it.event ? 'Message' : it.event;
      body.append(node('pre', 'text', JSON.stringify(json, null, 2)));
    } else {
      // Plain text (or a JSON string/number): the text is the message.
      title.textContent = typeof json === 'string' ? json : it.data;
      title.classList.add('plain');
      if (!title.textContent.trim()) title.textContent = 'Message';
    }
  }
  const time = node('time', 'time');
  time.dataset.ts = String(it.createdAt);
  time.dateTime = new Date(it.createdAt).toISOString();
  time.title = new Date(it.createdAt).toLocaleString();
  time.textContent = relativeTime(it.createdAt);
  head.append(title, time);
  content.append(head);
  if (body.textContent) content.append(body);

  const meta = node('div', 'meta');
  meta.id = metaId;
  const parts = [];
  if (!it.read) parts.push(node('span', 'sr-only', 'Unread.'));
  if (card && card.url) {
    const link = node('span', 'link');
    link.append(icon('external'), document.createTextNode(hostOf(card.url)));
    parts.push(link);
  }
  if (it.expiresAt) {
    const exp = node('span', 'expires', expiresText(it.expiresAt));
    exp.dataset.expires = String(it.expiresAt);
    parts.push(exp);
  }
  // The event name, unless it is the default one or already the title.
  if (it.event && !DEFAULT_EVENTS.has(it.event) && title.textContent !== it.event) {
    parts.push(node('span', 'event', it.event));
  }
  meta.append(...parts);
  content.append(meta);

  const actions = node('div', 'actions');
  const readBtn = node('button', 'icon-btn');
  readBtn.type = 'button';
  readBtn.dataset.action = 'toggle-read';
  const readLabel = it.read ? 'Mark as unread' : 'Mark as read';
  readBtn.setAttribute('aria-label', readLabel);
  readBtn.title = readLabel;
  readBtn.append(icon(it.read ? 'unread' : 'read'));
  const archBtn = node('button', 'icon-btn');
  archBtn.type = 'button';
  archBtn.dataset.action = 'toggle-archive';
  const archLabel = it.archived ? 'Unarchive' : 'Archive';
  archBtn.setAttribute('aria-label', archLabel);
  archBtn.title = archLabel;
  archBtn.append(icon(it.archived ? 'unarchive' : 'archive'));
  actions.append(readBtn, archBtn);

  li.append(open, dot, avatarFor(it, card), content, actions);
  return li;
}

function hostOf(url) {
  try { return new URL(url).host; } catch (e) { return url; }
}

const MINUTE = 60e3, HOUR = 60 * MINUTE, DAY = 24 * HOUR;
function relativeTime(ts, now = Date.now()) {
  const d = now - ts;
  if (d < 45e3) return 'just now';
  if (d < HOUR) return `${Math.max(1, Math.round(d / MINUTE))} min ago`;
  if (d < DAY) return `${Math.round(d / HOUR)} h ago`;
  if (d < 2 * DAY) return 'yesterday';
  if (d < 7 * DAY) return `${Math.floor(d / DAY)} days ago`;
  const date = new Date(ts);
  const opts = { month: 'short', day: 'numeric' };
  if (date.getFullYear() !== new Date(now).getFullYear()) opts.year = 'numeric';
  return date.toLocaleDateString(undefined, opts);
}
function expiresText(ts, now = Date.now()) {
  const d = ts - now;
  if (d <= 0) return 'Expired';
  if (d < MINUTE) return 'Expires in < 1 min';
  if (d < HOUR) return `Expires in ${Math.round(d / MINUTE)} min`;
  if (d < DAY) return `Expires in ${Math.round(d / HOUR)} h`;
  return `Expires in ${Math.round(d / DAY)} days`;
}

function tick() {
  const now = Date.now();
  for (const t of el.list.querySelectorAll('time[data-ts]')) {
    t.textContent = relativeTime(Number(t.dataset.ts), now);
  }
  for (const e of el.list.querySelectorAll('[data-expires]')) {
    e.textContent = expiresText(Number(e.dataset.expires), now);
  }
}

// Expired items leave the page on time even if the server's `deleted`
// event is still on its way.
let expiryTimer = 0;
function scheduleExpiry() {
  clearTimeout(expiryTimer);
  let next = Infinity;
  const now = Date.now();
  let gone = false;
  for (const it of Array.from(items.values())) {
    if (!it.expiresAt) continue;
    if (it.expiresAt <= now) { items.delete(it.id); gone = true; } else next = Math.min(next, it.expiresAt);
  }
  if (gone) render();
  if (next !== Infinity) expiryTimer = setTimeout(scheduleExpiry, Math.min(next - now + 50, 2 ** 31 - 1));
}

function announce(it) {
  const card = cardOf(it);
  const json = card ? null : parseJson(it.data);
  let what = card ? (card.title || card.body || 'Notification')
    : typeof json === 'string' ? json
    : json !== null && typeof json === 'object' ? 'Message' : it.data;
  if (what.length > 140) what = what.slice(0, 139) + '…';
  el.announcer.textContent = '';
  // A fresh text node so screen readers announce repeats too.
  setTimeout(() => { el.announcer.textContent = 'New notification: ' + what; }, 50);
}

let toastTimer = 0;
function toast(msg) {
  el.toast.textContent = msg;
  el.toast.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.toast.hidden = true; }, 5000);
}

// --------------------------------------------------------------- seen ----
// What this page shows while it is visible and focused counts as seen.
let seenTimer = 0;
function markSeenSoon() {
  clearTimeout(seenTimer);
  seenTimer = setTimeout(markSeen, 400);
}
function markSeen() {
  if (document.visibilityState !== 'visible' || !document.hasFocus()) return;
  const ids = [];
  for (const li of el.list.children) {
    const it = items.get(li.dataset.id);
    if (it && !it.seen) ids.push(it.id);
  }
  if (!ids.length) return;
  change({ ids, seen: true }, "Couldn't mark notifications seen");
}

// ------------------------------------------------------------- events ----
el.list.addEventListener('click', (e) => {
  const btn = e.target.closest('button[data-action]');
  if (!btn) return;
  const li = btn.closest('li');
  const it = li && items.get(li.dataset.id);
  if (!it) return;
  const action = btn.dataset.action;
  // Acting on an item is seeing it: the change says so too, whether or not
  // the page's seen timer got there first.
  const seen = it.seen ? {} : { seen: true };
  if (action === 'open') {
    const card = cardOf(it);
    if (card && card.url) window.open(card.url, '_blank', 'noopener,noreferrer');
    if (!it.read) change({ ids: [it.id], read: true, ...seen }, "Couldn't mark it read");
    else render();
  } else if (action === 'toggle-read') {
    change({ ids: [it.id], read: !it.read, ...seen }, "Couldn't change it");
  } else if (action === 'toggle-archive') {
    change({ ids: [it.id], archived: !it.archived, ...seen },
        it.archived ? "Couldn't unarchive it" : "Couldn't archive it");
  }
});

// Up/Down (and j/k) move between cards; Home/End to the first/last.
el.list.addEventListener('keydown', (e) => {
  if (e.altKey || e.ctrlKey || e.metaKey) return;
  const li = e.target.closest('li');
  if (!li) return;
  let to = null;
  if (e.key === 'ArrowDown' || e.key === 'j') to = li.nextElementSibling;
  else if (e.key === 'ArrowUp' || e.key === 'k') to = li.previousElementSibling;
  else if (e.key === 'Home') to = el.list.firstElementChild;
  else if (e.key === 'End') to = el.list.lastElementChild;
  else return;
  e.preventDefault();
  to?.querySelector('.open')?.focus();
});

el.markAll.addEventListener('click', () => {
  if (!newestId) return;
  change({ up_to_id: newestId, read: true }, "Couldn't mark all read");
});

el.more.addEventListener('click', () => { if (!view.loading) loadPage({ reset: false }); });
el.retry.addEventListener('click', () => { view.generation += 1; loadPage({ reset: true }); });

for (const tab of el.tabs) {
  tab.addEventListener('click', () => selectTab(tab.dataset.filter, false));
}
// Tabs: arrows move and select (WAI-ARIA tabs pattern).
el.tabs[0].parentElement.addEventListener('keydown', (e) => {
  const i = el.tabs.indexOf(e.target);
  if (i < 0) return;
  let j = null;
  if (e.key === 'ArrowRight') j = (i + 1) % el.tabs.length;
  else if (e.key === 'ArrowLeft') j = (i - 1 + el.tabs.length) % el.tabs.length;
  else if (e.key === 'Home') j = 0;
  else if (e.key === 'End') j = el.tabs.length - 1;
  if (j === null) return;
  e.preventDefault();
  selectTab(el.tabs[j].dataset.filter, true);
});

document.addEventListener('visibilitychange', markSeenSoon);
window.addEventListener('focus', markSeenSoon);

// The user from the token's `sub` (display only; the server decides).
function subjectOf(t) {
  const part = t.split('.')[1];
  if (!part) return '';
  try {
    const json = atob(part.replace(/-/g, '+').replace(/_/g, '/'));
    const sub = JSON.parse(json).sub;
    return typeof sub === 'string' ? sub : '';
  } catch (e) { return ''; }
}

// -------------------------------------------------------------- start ----
function start() {
  if (!token && !user) {
    el.hint.hidden = false;
    el.loading.hidden = true;
    el.panel.hidden = true;
    document.querySelector('.tabs').hidden = true;
    setConn('offline');
    return;
  }
  el.user.textContent = user;
  // notifyd is where this file came from (also behind a proxy's path).
  const baseUrl = new URL('./', import.meta.url).href;
  client = connect(token ? { token, baseUrl } : { user, baseUrl });
  listen();
  const initial = params.get('view');
  if (initial && FILTERS[initial] && initial !== 'all') {
    view.filter = '';
    selectTab(initial, false);
  } else {
    loadPage({ reset: true });
  }
  loadCounts();
  setInterval(tick, MINUTE);
  setInterval(scheduleExpiry, 30e3);
}

start();
