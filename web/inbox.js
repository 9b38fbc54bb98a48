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
// Model: `items` (inbox_items.js) holds every notification this page knows,
// by id, and the log that keeps a fetched list from undoing a newer change:
// every fetch here goes beginFetch, merge (or mergeNewest), endFetch.
// A view (tab) shows the known items that match its filter, newest first,
// down to the oldest id it has loaded (`view.floor`); "Load more" lowers
// the floor. How an item looks is inbox_card.js.
//
// Payload content is only ever set with textContent: never as HTML.

import { connect } from './v1/client.js';
import { Items, cmpId, idOf, isId, normalize } from './inbox_items.js';
import { MINUTE, buildItem, cardOf, expiresText, relativeTime, summaryOf } from './inbox_card.js';

const PAGE_SIZE = 30;

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

// -------------------------------------------------------------- state ----
const items = new Items();  // every notification this page knows (inbox_items.js)
let counts = null;          // {unread, unseen} as last reported

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
  const mine = items.applyLocal(c);
  render();
  const sent = sending.then(() => postState(c));
  sending = sent.catch(() => {});
  let error = null;
  try {
    await sent;
  } catch (e) {
    error = e;
  }
  items.settle(mine);
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
  const start = items.beginFetch();
  try {
    const res = await client.list(query);
    if (gen !== view.generation) return;
    const list = Array.isArray(res.notifications) ? res.notifications : [];
    items.merge(start, list.map(normalize));
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
    items.endFetch(start);
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
    const start = items.beginFetch();
    const knownAtStart = new Set(items.keys());
    try {
      const res = await client.list({ filter: view.filter, limit: PAGE_SIZE });
      if (gen !== view.generation) return;
      const list = (res.notifications || []).map(normalize);
      items.mergeNewest(start, knownAtStart, list, FILTERS[view.filter].match,
          list.length < PAGE_SIZE);
      if (!view.loaded) {
        view.loaded = true;
        view.more = isId(res.next_before_id) && list.length > 0;
        view.floor = view.more ? idOf(res.next_before_id) : null;
      }
    } catch (e) {
      /* the next event or reconnect tries again */
    } finally {
      items.endFetch(start);
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
    const n = items.applyChange(c);
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
    items.applyDeleted(c.ids);
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
  items.record({ kind: 'new' });
  render();
  announce(it);
  markSeenSoon();
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
  const what = summaryOf(it);
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
  if (!items.newestId) return;
  change({ up_to_id: items.newestId, read: true }, "Couldn't mark all read");
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
