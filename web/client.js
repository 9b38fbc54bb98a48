// notifyd browser client, served by notifyd at /v1/client.js: an ES module
// with no dependencies and no build step (README, "/v1/client.js").
//
//   import { connect } from 'https://notify.example.com/v1/client.js';
//   const inbox = connect({ token, baseUrl: 'https://notify.example.com' });
//   inbox.on('counts', (c) => { badge.textContent = c.unread; });
//
// One stream per browser: every tab of one profile that connects with the
// same user, channels and server shares ONE EventSource. The tab that holds
// a Web Lock named after them (navigator.locks, held for the tab's life) is
// the leader: it opens the stream and relays every event over a
// BroadcastChannel of the same name; the other tabs (followers) never open
// one. When the leader closes or crashes the browser hands the lock to
// another tab, which asks the others for the last id each received and
// resumes the stream from the lowest (last_event_id), so no tab misses an
// event; every tab drops events whose id it has already passed, so none
// sees one twice. Without Web Locks or BroadcastChannel each tab streams on
// its own.
//
// Browser push: enablePush() registers the service worker notifyd serves at
// /v1/sw.js and hands it what it needs to mark a clicked notification read;
// disablePush() undoes it.
//
// Ids are unsigned 64-bit: they are decimal strings everywhere here.

const STREAM_PATH = 'v1/stream';  // paths are relative to baseUrl
const DEFAULT_EVENTS = ['notification', 'message'];
// Ids per POST /v1/inbox/state (the server takes at most 1000 and 16 KiB).
const IDS_PER_REQUEST = 100;
// How long a new leader waits for the other tabs' last ids.
const ELECTION_MS = 150;
const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 30000;
const REQUEST_TIMEOUT_MS = 15000;  // an API call's default limit

/**
 * An error answer of the inbox API (or a network failure, status 0).
 */
export class NotifydError extends Error {
  /**
   * @param {number} status HTTP status; 0 when the server was not reached.
   * @param {string} message The server's `error` message or the status text.
   */
  constructor(status, message) {
    super(message);
    this.name = 'NotifydError';
    /** @type {number} */
    this.status = status;
  }
}

/**
 * @typedef {Object} ConnectOptions
 * @property {string} [token] Subscriber token (JWT). Sent in the
 *   Authorization header of the inbox API and as access_token on the stream.
 * @property {string[]|string} [channels] Named channels to follow besides
 *   the user's own inbox (the token must list them); an array or 'a,b'.
 * @property {string} [baseUrl] Where notifyd is, e.g.
 *   'https://notify.example.com', or 'https://example.com/notify/' behind a
 *   proxy that serves it under a path; default: this page's origin. Another
 *   origin must be allowed with --cors_origins.
 * @property {string[]} [events] Notification event names to receive besides
 *   'notification' and 'message' (an EventSource only reports names it
 *   listens for).
 * @property {string} [user] Without a token: the user, for servers started
 *   with --insecure_dev_identity (local experiments only).
 * @property {boolean} [shared] false: this tab streams on its own even where
 *   the browser could share (default true).
 * @property {number} [requestTimeoutMs] How long an API call (list, counts,
 *   markSeen...) waits for its whole answer before it fails with status 0
 *   (default 15000; 0: no limit). A state change that timed out may still
 *   have been made: the stream says so if it was.
 */

/**
 * @typedef {Object} Notification
 * @property {string} id The store's id, a decimal string.
 * @property {string} event The event name ('' for an unnamed one).
 * @property {string} data The payload as sent.
 */

/**
 * @typedef {Object} Status
 * @property {'connecting'|'live'|'offline'} state Whether the shared stream
 *   is open ('offline': refused or unreachable; retried with backoff).
 * @property {boolean} leader This tab holds the stream.
 * @property {boolean} shared The stream is shared with other tabs (false
 *   where Web Locks or BroadcastChannel are missing).
 * @property {string} leaderTab The id of the tab holding the stream ('' when
 *   none is known yet).
 */

/**
 * Connects to notifyd: the stream (shared between tabs, see the module's
 * comment) and the inbox API.
 *
 * Events (`on(name, fn)`): 'notification' ({@link Notification}), 'counts'
 * ({unread, unseen}), 'state' ({id, ids?, up_to_id?, seen?, read?,
 * archived?}), 'deleted' ({id, ids}), 'reset' ({oldest_id}: what this tab
 * knows may be stale, refetch it; oldest_id is '' when a new leader could
 * not tell where the stream was) and 'status' ({@link Status}).
 *
 * @param {ConnectOptions} options
 * @returns {Client}
 */
export function connect(options = {}) {
  return new Client(options);
}

/**
 * A connection made by {@link connect}. Every method may be called at once;
 * events start arriving asynchronously.
 */
export class Client {
  /** @param {ConnectOptions} options */
  constructor(options = {}) {
    const { token = '', channels = [], baseUrl = '', events = [], user = '',
            shared = true, requestTimeoutMs = REQUEST_TIMEOUT_MS } = options;
    this._requestTimeoutMs = Math.max(0, Number(requestTimeoutMs) || 0);
    this._token = String(token);
    this._user = String(user);
    const list = typeof channels === 'string' ? channels.split(',') : Array.from(channels);
    this._channels = Array.from(new Set(list.map(String).filter(Boolean))).sort();
    this._events = Array.from(new Set([...DEFAULT_EVENTS, ...events.map(String)]));
    this._base = new URL(baseUrl || '/', location.href);
    if (!this._base.pathname.endsWith('/')) this._base.pathname += '/';
    this._base.search = '';
    this._base.hash = '';
    this._listeners = new Map();
    this._tab = Math.random().toString(36).slice(2) + Date.now().toString(36);
    this._lastId = '';       // the newest id this tab has received
    this._counts = null;     // the newest counts
    this._status = { state: 'connecting', leader: false, shared: false, leaderTab: '' };
    this._closed = false;
    this._source = null;
    this._retryMs = RETRY_MIN_MS;
    this._retryTimer = 0;
    this._election = null;   // {ids: [...], timer} while electing
    this._resumedFrom = '';  // the last_event_id of the open stream
    this._sawLive = false;   // a stream (this tab's or the leader's) was live
    this._resetOnCounts = false;
    this._releaseLock = null;
    this._abort = null;
    this._channel = null;

    const canShare = shared && typeof navigator !== 'undefined' && navigator.locks &&
        typeof navigator.locks.request === 'function' &&
        typeof BroadcastChannel === 'function';
    if (canShare) {
      this._startShared();
    } else {
      this._setStatus({ leader: true, leaderTab: this._tab });
      queueMicrotask(() => this._openStream(''));
    }
  }

  /**
   * Calls `fn(detail)` for each event named `event` ('notification',
   * 'counts', 'state', 'deleted', 'reset', 'status').
   * @param {string} event
   * @param {function(Object): void} fn
   * @returns {function(): void} Stops calling `fn`.
   */
  on(event, fn) {
    if (!this._listeners.has(event)) this._listeners.set(event, new Set());
    this._listeners.get(event).add(fn);
    return () => this._listeners.get(event)?.delete(fn);
  }

  /**
   * The stream's state now (see the 'status' event).
   * @returns {Status}
   */
  get status() { return { ...this._status }; }

  /**
   * The newest counts this tab has, or null before the first.
   * @returns {?{unread: number, unseen: number}}
   */
  get lastCounts() { return this._counts && { ...this._counts }; }

  /**
   * One page of the inbox, newest first (GET /v1/inbox).
   * @param {{filter?: 'all'|'unread'|'unseen'|'archived', limit?: number,
   *          before_id?: string|number}} [query]
   * @returns {Promise<{notifications: Object[], next_before_id: string}>}
   *   Ids are decimal strings; next_before_id is '0' on the last page.
   * @throws {NotifydError}
   */
  list({ filter, limit, before_id } = {}) {
    const q = {};
    if (filter) q.filter = filter;
    if (limit !== undefined) q.limit = String(limit);
    if (before_id !== undefined && before_id !== null && before_id !== '') q.before_id = String(before_id);
    return this._api('GET', 'v1/inbox', q);
  }

  /**
   * The unread and unseen counts (GET /v1/inbox/counts).
   * @returns {Promise<{unread: number, unseen: number}>}
   * @throws {NotifydError}
   */
  counts() {
    return this._api('GET', 'v1/inbox/counts');
  }

  /**
   * Marks notifications seen (POST /v1/inbox/state).
   * @param {Array<string|number>|{up_to_id: string|number}} target Ids, or
   *   every notification up to and including an id.
   * @returns {Promise<{changed: number}>} How many changed.
   * @throws {NotifydError}
   */
  markSeen(target) {
    return this._setState(target, 'seen', true);
  }

  /**
   * Marks notifications read (or unread again with read = false).
   * @param {Array<string|number>|{up_to_id: string|number}} target Ids, or
   *   every notification up to and including an id.
   * @param {boolean} [read]
   * @returns {Promise<{changed: number}>}
   * @throws {NotifydError}
   */
  markRead(target, read = true) {
    return this._setState(target, 'read', !!read);
  }

  /**
   * Archives notifications (or brings them back with archived = false).
   * @param {Array<string|number>|{up_to_id: string|number}} target
   * @param {boolean} [archived]
   * @returns {Promise<{changed: number}>}
   * @throws {NotifydError}
   */
  setArchived(target, archived = true) {
    return this._setState(target, 'archived', !!archived);
  }

  /**
   * Turns on browser push (README, "Browser push"): registers notifyd's
   * service worker, subscribes this browser profile with the server's key
   * (GET /v1/push/key) and stores the subscription on the server (POST
   * /v1/push/subscriptions); the worker keeps the credential the server
   * answers, to mark a clicked notification read. Call it from a user
   * gesture: the browser asks for the notification permission. Calling it
   * again refreshes the subscription.
   * @param {{serviceWorkerUrl?: string, scope?: string}} [options]
   *   serviceWorkerUrl: where the PAGE's origin serves /v1/sw.js (a service
   *   worker must come from the page's origin: proxy it, or serve a file
   *   that runs importScripts('https://notify.example.com/v1/sw.js'));
   *   default baseUrl + 'v1/sw.js', right when notifyd serves the page.
   *   scope: the pages the worker serves, default '/'.
   * @returns {Promise<{endpoint: string}>} The push service's endpoint.
   * @throws {NotifydError} status 0 when the browser cannot push or the
   *   permission was refused; the server's refusals otherwise (404 'push not
   *   configured', 429 at the per-user limit...).
   */
  async enablePush({ serviceWorkerUrl, scope = '/' } = {}) {
    if (typeof navigator === 'undefined' || !navigator.serviceWorker ||
        typeof PushManager === 'undefined') {
      throw new NotifydError(0, 'push is not supported in this browser');
    }
    const swUrl = serviceWorkerUrl ? new URL(serviceWorkerUrl, location.href).href
                                   : new URL('v1/sw.js', this._base).href;
    const registration = await activated(
        await navigator.serviceWorker.register(swUrl, { scope }));
    const { public_key: key } = await this._api('GET', 'v1/push/key');
    const serverKey = base64UrlBytes(String(key || ''));
    let sub = await registration.pushManager.getSubscription();
    if (sub && !sameBytes(sub.options && sub.options.applicationServerKey, serverKey)) {
      await sub.unsubscribe();  // made for another key: useless now
      sub = null;
    }
    if (!sub) {
      try {
        sub = await registration.pushManager.subscribe({
          userVisibleOnly: true, applicationServerKey: serverKey });
      } catch (e) {
        throw new NotifydError(0, 'the browser refused to subscribe: ' + (e && e.message));
      }
    }
    const json = sub.toJSON();
    const { credential } = await this._api('POST', 'v1/push/subscriptions', {},
                                           JSON.stringify(json));
    await tellWorker(registration, { server: this._base.href, credential,
                                     endpoint: json.endpoint });
    return { endpoint: json.endpoint };
  }

  /**
   * Turns browser push off for this browser profile: removes the
   * subscription from the server (DELETE /v1/push/subscriptions) and from
   * the browser, and forgets the worker's credential.
   * @param {{scope?: string}} [options] The scope enablePush() used.
   * @returns {Promise<boolean>} false when push was not on.
   * @throws {NotifydError}
   */
  async disablePush({ scope = '/' } = {}) {
    if (typeof navigator === 'undefined' || !navigator.serviceWorker) return false;
    const registration = await navigator.serviceWorker.getRegistration(
        new URL(scope, location.href).href);
    const sub = registration && await registration.pushManager.getSubscription();
    if (!sub) return false;
    try {
      await this._api('DELETE', 'v1/push/subscriptions', {},
                      JSON.stringify({ endpoint: sub.endpoint }));
    } catch (e) {
      if (e.status !== 404) throw e;  // 404: the server had dropped it
    }
    await sub.unsubscribe();
    if (registration.active) await tellWorker(registration, null);
    return true;
  }

  /**
   * Stops: closes the stream (handing it to another tab when this one held
   * it) and calls no listener again.
   */
  close() {
    if (this._closed) return;
    this._closed = true;
    clearTimeout(this._retryTimer);
    if (this._election) clearTimeout(this._election.timer);
    if (this._source) this._source.close();
    this._source = null;
    if (this._status.leader && this._channel) {
      this._post({ type: 'status', status: { state: 'connecting', leaderTab: '' } });
    }
    if (this._releaseLock) this._releaseLock();
    if (this._abort) this._abort.abort();
    if (this._channel) this._channel.close();
    this._listeners.clear();
  }

  // ------------------------------------------------------------ sharing --
  _startShared() {
    const who = this._token ? subjectOf(this._token) || this._token : 'user:' + this._user;
    const name = 'notifyd:' + JSON.stringify([this._base.href, who,
                                              this._channels, this._events]);
    this._channel = new BroadcastChannel(name);
    this._channel.onmessage = (e) => this._onMessage(e.data);
    this._abort = new AbortController();
    this._setStatus({ shared: true });
    navigator.locks.request(name, { signal: this._abort.signal }, () => {
      if (this._closed) return undefined;
      this._lead();
      // Held until close() or the tab goes away.
      return new Promise((resolve) => { this._releaseLock = resolve; });
    }).catch(() => { /* aborted by close() */ });
    // A late tab asks the leader (if any) for what it has.
    this._post({ type: 'hello', from: this._tab });
  }

  _post(msg) {
    try { this._channel.postMessage(msg); } catch (e) { /* closed */ }
  }

  _onMessage(m) {
    if (this._closed || !m || typeof m !== 'object') return;
    switch (m.type) {
      case 'event':   // a follower hears the leader's stream
        if (!this._status.leader) this._deliver(m.event);
        break;
      case 'status':
        if (!this._status.leader) this._setStatus(m.status);
        break;
      case 'hello':   // a new tab: what the leader has
        if (this._status.leader) {
          this._post({ type: 'snapshot', to: m.from, counts: this._counts,
                       lastId: this._lastId, status: this._leaderStatus() });
        }
        break;
      case 'snapshot':
        if (m.to !== this._tab || this._status.leader) break;
        if (isId(m.lastId) && !this._lastId) this._lastId = m.lastId;
        this._setStatus(m.status);
        if (m.counts && !this._counts) this._deliver({ name: 'counts', id: '', data: m.counts });
        break;
      case 'elect':   // a new leader asks where each tab is
        if (!this._status.leader) {
          this._setStatus({ state: 'connecting', leaderTab: m.from });
          this._post({ type: 'last', to: m.from, lastId: this._lastId, live: this._sawLive });
        }
        break;
      case 'last':
        if (m.to !== this._tab || !this._status.leader) break;
        if (this._election && m.live) this._election.live = true;
        if (!isId(m.lastId)) break;
        if (this._election) {
          this._election.ids.push(m.lastId);
        } else if (this._source && (!this._resumedFrom || cmpId(m.lastId, this._resumedFrom) < 0)) {
          // An answer that came after the election and is behind where the
          // stream resumed: resume again from it (the tabs drop what they
          // have), rather than leave that tab with a gap.
          this._source.close();
          this._openStream(m.lastId);
        }
        break;
      default:
        break;
    }
  }

  // This tab got the lock: collect the others' last ids, then resume from
  // the lowest so that none of them misses what the old leader had not
  // relayed to it yet.
  _lead() {
    this._setStatus({ leader: true, state: 'connecting', leaderTab: this._tab });
    this._post({ type: 'status', status: this._leaderStatus() });
    this._post({ type: 'elect', from: this._tab });
    const ids = this._lastId ? [this._lastId] : [];
    this._election = { ids, live: this._sawLive, timer: setTimeout(() => {
      const { ids: all, live } = this._election;
      const from = all.reduce((a, b) => (!a || cmpId(b, a) < 0 ? b : a), '');
      this._election = null;
      // A stream was live but no tab got an id from it: where it was is
      // unknown, so what came meanwhile may be missed. The new stream's
      // first event comes with a reset: every tab refetches.
      this._resetOnCounts = !from && live;
      if (!this._closed) this._openStream(from);
    }, ELECTION_MS) };
  }

  _leaderStatus() {
    const { state, leaderTab } = this._status;
    return { state, leaderTab };
  }

  // ------------------------------------------------------------- stream --
  _openStream(fromId) {
    if (this._closed) return;
    const q = new URLSearchParams();
    if (this._token) q.set('access_token', this._token);
    else if (this._user) q.set('user', this._user);
    if (this._channels.length) q.set('channels', this._channels.join(','));
    if (isId(fromId)) q.set('last_event_id', fromId);
    this._resumedFrom = isId(fromId) ? fromId : '';
    const s = new EventSource(new URL(STREAM_PATH + '?' + q, this._base).href);
    this._source = s;
    this._streamStatus('connecting');
    s.onopen = () => {
      this._retryMs = RETRY_MIN_MS;
      this._streamStatus('live');
    };
    s.onerror = () => {
      if (this._source !== s) return;
      if (s.readyState !== EventSource.CLOSED) {
        this._streamStatus('connecting');  // the browser retries by itself
        return;
      }
      // Refused (401, 403, 429, ...): the browser gave up; retry later from
      // where this tab is.
      s.close();
      this._source = null;
      this._streamStatus('offline');
      this._retryTimer = setTimeout(() => this._openStream(this._lastId), this._retryMs);
      this._retryMs = Math.min(this._retryMs * 2, RETRY_MAX_MS);
    };
    const relay = (event) => {
      if (this._source !== s) return;
      if (this._channel) this._post({ type: 'event', event });
      this._deliver(event);
    };
    for (const name of this._events) {
      s.addEventListener(name, (e) => relay({ name: 'notification', id: e.lastEventId,
                                              event: name === 'message' ? '' : name,
                                              data: e.data }));
    }
    for (const name of ['state', 'deleted']) {
      s.addEventListener(name, (e) => relay({ name, id: e.lastEventId, data: parseJson(e.data, true) }));
    }
    // No id: on these; the browser's lastEventId is the previous event's.
    s.addEventListener('counts', (e) => {
      if (this._resetOnCounts) {
        this._resetOnCounts = false;
        relay({ name: 'reset', id: '', data: { oldest_id: '' } });
      }
      relay({ name: 'counts', id: '', data: parseJson(e.data) });
    });
    s.addEventListener('reset', (e) => relay({ name: 'reset', id: '', data: { oldest_id: e.data } }));
  }

  _streamStatus(state) {
    this._setStatus({ state });
    if (this._channel && this._status.leader) {
      this._post({ type: 'status', status: this._leaderStatus() });
    }
  }

  _setStatus(change) {
    const next = { ...this._status, ...change };
    if (next.state === 'live') this._sawLive = true;
    const before = this._status;
    this._status = next;
    if (before.state !== next.state || before.leader !== next.leader ||
        before.leaderTab !== next.leaderTab || before.shared !== next.shared) {
      queueMicrotask(() => this._emit('status', { ...next }));
    }
  }

  // One event into this tab: dropped when its id is not past the newest
  // this tab has (a replay after a leader change), else to the listeners.
  _deliver(ev) {
    if (!ev || typeof ev !== 'object') return;
    if (isId(ev.id)) {
      if (this._lastId && cmpId(ev.id, this._lastId) <= 0) return;
      this._lastId = ev.id;
    }
    switch (ev.name) {
      case 'notification':
        if (!isId(ev.id)) return;
        this._emit('notification', { id: ev.id, event: ev.event, data: ev.data });
        break;
      case 'counts':
        if (!ev.data || typeof ev.data !== 'object') return;
        this._counts = { unread: Number(ev.data.unread) || 0, unseen: Number(ev.data.unseen) || 0 };
        this._emit('counts', { ...this._counts });
        break;
      case 'state':
      case 'deleted':
        if (!ev.data || typeof ev.data !== 'object') return;
        this._emit(ev.name, { ...ev.data, id: ev.id });
        break;
      case 'reset':
        this._emit('reset', { ...ev.data });
        break;
      default:
        break;
    }
  }

  _emit(name, detail) {
    const set = this._listeners.get(name);
    if (!set) return;
    for (const fn of Array.from(set)) {
      try {
        fn(detail);
      } catch (e) {
        // One listener's error neither stops the others nor the stream.
        setTimeout(() => { throw e; });
      }
    }
  }

  // ---------------------------------------------------------------- api --
  async _api(method, path, query = {}, body) {
    const url = new URL(path, this._base);
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    if (!this._token && this._user) url.searchParams.set('user', this._user);
    const headers = { Accept: 'application/json' };
    if (this._token) headers.Authorization = 'Bearer ' + this._token;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    // A request that hangs (a connection gone silent) must not hold its
    // caller, or the calls queued behind it, for ever.
    const limit = this._requestTimeoutMs;
    const abort = limit > 0 && typeof AbortController === 'function' ? new AbortController() : null;
    const timer = abort ? setTimeout(() => abort.abort(), limit) : 0;
    let res;
    let text;
    try {
      res = await fetch(url.href, { method, headers, body, cache: 'no-store',
                                    credentials: 'same-origin', signal: abort?.signal });
      text = await res.text();
    } catch (e) {
      throw new NotifydError(0, abort?.signal.aborted
          ? `the server did not answer within ${limit / 1000} s`
          : 'the server could not be reached');
    } finally {
      clearTimeout(timer);
    }
    const json = parseJson(text, true);
    if (!res.ok) {
      const msg = json && typeof json.error === 'string' ? json.error : res.statusText;
      throw new NotifydError(res.status, msg || 'request failed');
    }
    return json || {};
  }

  // POST /v1/inbox/state with `flag` set to `value` on `target` (ids, in
  // requests of at most IDS_PER_REQUEST, or {up_to_id}). Ids are written as
  // JSON numbers from their decimal text, so 64-bit ids stay exact.
  async _setState(target, flag, value) {
    const tail = `,"${flag}":${value ? 'true' : 'false'}}`;
    if (target && !Array.isArray(target) && target.up_to_id !== undefined) {
      const id = String(target.up_to_id);
      if (!isId(id)) throw new NotifydError(400, 'up_to_id must be a positive integer');
      return this._api('POST', 'v1/inbox/state', {}, `{"up_to_id":${id}${tail}`);
    }
    const ids = Array.from(target || [], String);
    const bad = ids.find((id) => !isId(id));
    if (bad !== undefined) throw new NotifydError(400, 'ids must be positive integers');
    let changed = 0;
    for (let i = 0; i < ids.length; i += IDS_PER_REQUEST) {
      const chunk = ids.slice(i, i + IDS_PER_REQUEST).join(',');
      const res = await this._api('POST', 'v1/inbox/state', {}, `{"ids":[${chunk}]${tail}`);
      changed += Number(res.changed) || 0;
    }
    return { changed };
  }
}

// ------------------------------------------------------------- helpers --
// `registration` once its worker is active (pushManager.subscribe needs one).
function activated(registration) {
  if (registration.active) return Promise.resolve(registration);
  const worker = registration.installing || registration.waiting;
  return new Promise((resolve, reject) => {
    worker.addEventListener('statechange', () => {
      if (worker.state === 'activated') resolve(registration);
      if (worker.state === 'redundant') {
        reject(new NotifydError(0, 'the service worker failed to install'));
      }
    });
  });
}

// Hands the push configuration (or null: forget it) to the active worker
// (web/sw.js keeps it in IndexedDB) and waits until it is stored.
function tellWorker(registration, config) {
  return new Promise((resolve, reject) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = (e) => (e.data && e.data.ok ? resolve()
        : reject(new NotifydError(0, 'the service worker could not store the push settings')));
    registration.active.postMessage({ type: 'notifyd-push-config', config },
                                    [channel.port2]);
  });
}

// base64url (padding tolerated) as bytes.
function base64UrlBytes(text) {
  const b64 = text.replace(/-/g, '+').replace(/_/g, '/').replace(/=+$/, '');
  const bin = atob(b64 + '='.repeat((4 - b64.length % 4) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

function sameBytes(buffer, bytes) {
  if (!buffer) return false;
  const a = new Uint8Array(buffer);
  return a.length === bytes.length && a.every((v, i) => v === bytes[i]);
}

function isId(v) {
  return typeof v === 'string' && /^[1-9][0-9]{0,19}$/.test(v);
}

// Decimal id strings compared as numbers.
function cmpId(a, b) {
  if (a.length !== b.length) return a.length < b.length ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

// JSON, or null. With `ids`, numbers in arrays and the members named id,
// next_before_id and up_to_id become decimal strings taken from the text
// itself (exact past 2^53 where the browser gives revivers the source).
function parseJson(text, ids = false) {
  const idKeys = new Set(['id', 'next_before_id', 'up_to_id']);
  function revive(key, value, ctx) {
    if (typeof value !== 'number' || !(idKeys.has(key) || Array.isArray(this))) return value;
    return ctx && typeof ctx.source === 'string' ? ctx.source : String(value);
  }
  try {
    return JSON.parse(text, ids ? revive : undefined);
  } catch (e) {
    return null;
  }
}

// The token's subject (unverified: it only names the group of tabs that
// share a stream; the server decides who the caller is).
function subjectOf(token) {
  const part = token.split('.')[1];
  if (!part) return '';
  try {
    const sub = JSON.parse(atob(part.replace(/-/g, '+').replace(/_/g, '/'))).sub;
    return typeof sub === 'string' ? sub : '';
  } catch (e) {
    return '';
  }
}
