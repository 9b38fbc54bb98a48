// notifyd's service worker, served at /v1/sw.js (README, "Browser push"):
// shows what notifyd pushes while no tab is open, and marks it seen and
// read when the user clicks it. Registered by enablePush() of
// /v1/client.js, which keeps in IndexedDB what this worker needs: where
// notifyd is and the subscription's credential (the worker has no access
// token; docs/DESIGN.md, Web Push).
//
// The payload notifyd pushes is JSON (docs/DESIGN.md, "The push payload"):
//   {"id":"42","event":"notification","title":"…","body":"…","icon":"…",
//    "url":"…","tag":"<collapse key>","created_at":"…"}
// Only id is always there; a payload that is not JSON is shown as the body.
//
// A classic script: loaded into a page (a <script> tag, as the tests do) it
// only defines self.notifydPush, the functions below, and listens to
// nothing.
(function () {
  'use strict';

  const DB_NAME = 'notifyd-push';
  const STORE = 'config';
  const KEY = 'push';
  const DEFAULT_TITLE = 'New notification';

  // The notification a push payload (text) shows: {title, options}.
  function notificationOf(text) {
    let p = null;
    try {
      p = JSON.parse(text);
    } catch (e) {
      p = null;
    }
    if (!p || typeof p !== 'object' || Array.isArray(p)) {
      p = { body: String(text || '') };
    }
    const str = (v) => (typeof v === 'string' ? v : '');
    const id = typeof p.id === 'number' ? String(p.id) : str(p.id);
    const options = {
      body: str(p.body),
      tag: str(p.tag) || (id ? 'notifyd-' + id : ''),
      data: { id, url: str(p.url) },
    };
    if (str(p.icon)) options.icon = p.icon;
    if (!options.tag) delete options.tag;
    return { title: str(p.title) || DEFAULT_TITLE, options };
  }

  // Opens the configuration database that enablePush() writes.
  function openDb() {
    return new Promise((resolve, reject) => {
      const req = indexedDB.open(DB_NAME, 1);
      req.onupgradeneeded = () => req.result.createObjectStore(STORE);
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
  }

  function withStore(mode, fn) {
    return openDb().then((db) => new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const req = fn(tx.objectStore(STORE));
      tx.oncomplete = () => { db.close(); resolve(req && req.result); };
      tx.onerror = () => { db.close(); reject(tx.error); };
    }));
  }

  // {server, credential, endpoint} as enablePush() stored it, or undefined.
  function readConfig() {
    return withStore('readonly', (s) => s.get(KEY));
  }
  function writeConfig(config) {
    return withStore('readwrite', (s) => s.put(config, KEY));
  }
  function clearConfig() {
    return withStore('readwrite', (s) => s.delete(KEY));
  }

  // Marks notification `id` seen and read through POST /v1/inbox/state,
  // authenticated by the subscription's credential. Resolves to the
  // server's answer ({changed}), or null when there is nothing to mark.
  async function markRead(id, fetchFn = fetch) {
    if (!/^[1-9][0-9]{0,19}$/.test(id)) return null;
    const config = await readConfig();
    if (!config || !config.server || !config.credential) return null;
    const res = await fetchFn(new URL('v1/inbox/state', config.server).href, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json',
                 Authorization: 'Push ' + config.credential },
      body: `{"ids":[${id}],"read":true}`,
      cache: 'no-store',
      credentials: 'omit',
    });
    if (!res.ok) throw new Error('notifyd answered ' + res.status);
    return res.json();
  }

  // Where a click goes: the payload's url (http or https only, relative
  // ones against `base`), else `base`.
  function clickTarget(url, base) {
    try {
      const target = new URL(url || base, base);
      if (target.protocol === 'https:' || target.protocol === 'http:') {
        return target.href;
      }
    } catch (e) {
      // fall through
    }
    return new URL(base).href;
  }

  // A click: focuses a window already at the target or opens one, and
  // marks the notification read. `clients` is the worker's Clients.
  async function onClick(notification, clients, base, fetchFn = fetch) {
    notification.close();
    const data = notification.data || {};
    const target = clickTarget(data.url, base);
    const marked = markRead(data.id || '', fetchFn).catch(() => null);
    const windows = await clients.matchAll({ type: 'window', includeUncontrolled: true });
    const open = windows.find((w) => w.url === target && 'focus' in w);
    const shown = open ? open.focus() : clients.openWindow(target);
    return Promise.all([marked, Promise.resolve(shown).catch(() => null)]);
  }

  self.notifydPush = { notificationOf, markRead, clickTarget, onClick,
                       readConfig, writeConfig, clearConfig };

  if (typeof ServiceWorkerGlobalScope === 'undefined' ||
      !(self instanceof ServiceWorkerGlobalScope)) {
    return;
  }
  self.addEventListener('install', () => self.skipWaiting());
  self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));
  self.addEventListener('push', (event) => {
    const { title, options } = notificationOf(event.data ? event.data.text() : '');
    event.waitUntil(self.registration.showNotification(title, options));
  });
  self.addEventListener('notificationclick', (event) => {
    event.waitUntil(onClick(event.notification, self.clients, self.registration.scope));
  });
  // enablePush() and disablePush() hand over the configuration:
  // {type: 'notifyd-push-config', config: {server, credential, endpoint} or
  // null}, answered {ok} on the message's port once stored.
  self.addEventListener('message', (event) => {
    const m = event.data;
    if (!m || m.type !== 'notifyd-push-config') return;
    const port = event.ports && event.ports[0];
    const stored = m.config ? writeConfig(m.config) : clearConfig();
    event.waitUntil(stored.then(
        () => port && port.postMessage({ ok: true }),
        (e) => port && port.postMessage({ ok: false, error: String(e) })));
  });
})();
