// notifyd inbox: follows the user's SSE stream and lists notifications,
// newest first. Credentials come from the URL fragment (not sent to servers
// in logs) or the query: #user=alice&token=...&channels=a,b
//
// The newest notifications shown are kept in this browser's localStorage
// with the time they arrived, so a reload shows them again and the stream
// resumes after the last one (Last-Event-ID) instead of repeating them.
(function () {
  'use strict';

  const params = new URLSearchParams(location.hash.slice(1) || location.search);
  const user = params.get('user') || '';
  const token = params.get('token') || params.get('access_token') || '';
  const channels = params.get('channels') || '';
  const storageKey = 'notifyd.last_event_id.' + user;
  const inboxKey = 'notifyd.inbox.' + user;
  const keepShown = 100;

  const stateEl = document.getElementById('state');
  const listEl = document.getElementById('list');
  const emptyEl = document.getElementById('empty');
  document.getElementById('user').textContent = user ? '— ' + user : '';

  function setState(state) {
    stateEl.textContent = state;
    stateEl.className = 'state ' + state;
    stateEl.dataset.state = state;
  }

  function lastId() {
    try { return localStorage.getItem(storageKey) || ''; } catch (e) { return ''; }
  }
  function rememberId(id) {
    try { localStorage.setItem(storageKey, id); } catch (e) { /* private mode */ }
  }

  function loadShown() {
    try {
      const items = JSON.parse(localStorage.getItem(inboxKey) || '[]');
      return Array.isArray(items) ? items : [];
    } catch (e) { return []; }
  }
  function saveShown(items) {
    try { localStorage.setItem(inboxKey, JSON.stringify(items)); } catch (e) { /* full or private mode */ }
  }
  // Newest first, at most keepShown.
  let shown = loadShown();

  function pretty(data) {
    try { return JSON.stringify(JSON.parse(data), null, 2); } catch (e) { return data; }
  }

  // item: {id, event, data, at (ms since the epoch, when it arrived)}.
  function render(item, fresh) {
    const id = item.id;
    if (id && listEl.querySelector('li[data-id="' + CSS.escape(id) + '"]')) return false;
    const li = document.createElement('li');
    if (fresh) li.className = 'fresh';
    if (id) li.dataset.id = id;
    const meta = document.createElement('div');
    meta.className = 'meta';
    const name = document.createElement('span');
    name.className = 'event';
    name.textContent = item.event;
    const time = document.createElement('time');
    const at = new Date(item.at);
    time.dateTime = at.toISOString();
    time.textContent = at.toLocaleString();
    const idEl = document.createElement('span');
    idEl.className = 'id';
    idEl.textContent = id ? '#' + id : '';
    meta.append(name, time, idEl);
    const body = document.createElement('pre');
    body.textContent = pretty(item.data);
    li.append(meta, body);
    listEl.prepend(li);
    // The page shows what a reload would: the newest keepShown.
    while (listEl.children.length > keepShown) listEl.lastElementChild.remove();
    emptyEl.hidden = true;
    return true;
  }

  function show(event, data, id) {
    const item = { id: id, event: event, data: data, at: Date.now() };
    if (!render(item, true)) return;
    shown = [item].concat(shown).slice(0, keepShown);
    saveShown(shown);
  }

  // Oldest first, so that each prepend leaves the newest on top.
  shown.slice().reverse().forEach(function (item) {
    if (item && typeof item.data === 'string') render(item, false);
  });

  if (!user && !token) {
    document.getElementById('hint').hidden = false;
    setState('error');
    return;
  }

  const query = new URLSearchParams();
  if (user) query.set('user', user);
  if (token) query.set('access_token', token);
  if (channels) query.set('channels', channels);
  const since = lastId();
  if (since) query.set('last_event_id', since);

  setState('connecting');
  const source = new EventSource('/v1/stream?' + query.toString());
  source.onopen = function () { setState('live'); };
  source.onerror = function () {
    setState(source.readyState === EventSource.CLOSED ? 'error' : 'reconnecting');
  };

  function onEvent(e) {
    show(e.type, e.data, e.lastEventId);
    if (e.lastEventId) rememberId(e.lastEventId);
  }
  // Named events need their own listeners; 'message' covers unnamed ones.
  const known = new Set();
  function listen(name) {
    if (known.has(name)) return;
    known.add(name);
    source.addEventListener(name, onEvent);
  }
  ['message', 'notification'].forEach(listen);
  (params.get('events') || '').split(',').filter(Boolean).forEach(listen);

  // The server no longer holds what we last saw: start over from its oldest.
  source.addEventListener('reset', function (e) {
    listEl.replaceChildren();
    emptyEl.hidden = false;
    shown = [];
    saveShown(shown);
    const oldest = parseInt(e.data, 10);
    if (oldest > 0) rememberId(String(oldest - 1));
  });
})();
