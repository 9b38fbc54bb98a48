// notifyd inbox: follows the user's SSE stream and lists notifications,
// newest first. Credentials come from the URL fragment (not sent to servers
// in logs) or the query: #user=alice&token=...&channels=a,b
(function () {
  'use strict';

  const params = new URLSearchParams(location.hash.slice(1) || location.search);
  const user = params.get('user') || '';
  const token = params.get('token') || params.get('access_token') || '';
  const channels = params.get('channels') || '';
  const storageKey = 'notifyd.last_event_id.' + user;

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

  function pretty(data) {
    try { return JSON.stringify(JSON.parse(data), null, 2); } catch (e) { return data; }
  }

  function show(event, data, id) {
    if (id && listEl.querySelector('li[data-id="' + CSS.escape(id) + '"]')) return;
    const li = document.createElement('li');
    li.className = 'fresh';
    if (id) li.dataset.id = id;
    const meta = document.createElement('div');
    meta.className = 'meta';
    const name = document.createElement('span');
    name.className = 'event';
    name.textContent = event;
    const time = document.createElement('time');
    time.textContent = new Date().toLocaleTimeString();
    const idEl = document.createElement('span');
    idEl.className = 'id';
    idEl.textContent = id ? '#' + id : '';
    meta.append(name, time, idEl);
    const body = document.createElement('pre');
    body.textContent = pretty(data);
    li.append(meta, body);
    listEl.prepend(li);
    emptyEl.hidden = true;
  }

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
    const oldest = parseInt(e.data, 10);
    if (oldest > 0) rememberId(String(oldest - 1));
  });
})();
