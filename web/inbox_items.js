// The inbox page's model (docs/DESIGN.md, "The browser side"): every
// notification the page knows, by id, with its seen/read/archived state, and
// the log that keeps a fetched list from undoing a newer change.
//
// No DOM and no network here: the page (inbox.js) fetches, streams and
// renders; tests/web/inbox_items.test.mjs runs this file under Node.
//
// Why a log. The page shows a change the moment it is made or streamed, but
// a list it fetched meanwhile answers the server's state from some moment
// before: applying that answer as it is would undo the change. So while a
// fetch runs, or a change made here is not yet answered by the server, every
// change (made here or streamed) is logged with a sequence number, and the
// fetch's answer gets the log replayed over it from where the fetch may
// have missed changes: the seq at which it began, or just before the oldest
// change made here that was still unanswered then (the server may not have
// committed it when the list was read).

// ---------------------------------------------------------------- ids ----
// Ids are unsigned 64-bit; they are kept as decimal strings and compared
// without going through floating point.
export const idOf = (v) => String(v);
export function cmpId(a, b) {
  if (a.length !== b.length) return a.length < b.length ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}
export const isId = (v) => v !== undefined && v !== null && /^[1-9][0-9]*$/.test(String(v));

function parseTime(v) {
  if (!v) return null;
  const t = Date.parse(v);
  return Number.isNaN(t) ? null : t;
}

// An item as the API lists it (or as the stream announces it): id as a
// string, times in ms since the epoch (expiresAt null: never), the flags as
// booleans, `fresh` for the page (highlighted once when it arrived live).
export function normalize(n) {
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

// The known items (a Map by id, with the Map calls the page needs) and the
// change log. Single-threaded like the page: no call waits.
export class Items {
  constructor() {
    this._byId = new Map();
    this.newestId = null;   // the newest id ever put here (null: none)
    this._seq = 0;          // numbers every change, made here or streamed
    this._log = [];         // [{seq, change}] a running fetch may have missed
    this._inFlight = [];    // where each running fetch begins, once per fetch
    this._pending = [];     // seq of each change made here, not yet answered
  }

  get(id) { return this._byId.get(id); }
  has(id) { return this._byId.has(id); }
  keys() { return this._byId.keys(); }
  values() { return this._byId.values(); }
  delete(id) { return this._byId.delete(id); }
  clear() { this._byId.clear(); }
  // Puts (or replaces) an item; remembers the newest id.
  set(id, it) {
    this._byId.set(id, it);
    if (this.newestId === null || cmpId(id, this.newestId) > 0) this.newestId = id;
    return this;
  }

  // A state change, {ids:[…]} or {up_to_id}, plus any of seen/read/archived
  // as booleans, applied to the known items it names (unknown ids are
  // skipped); logged as a streamed change unless `log` is false. Returns how
  // many known items it named.
  applyChange(change, log = true) {
    const flags = {};
    for (const k of ['seen', 'read', 'archived']) {
      if (typeof change[k] === 'boolean') flags[k] = change[k];
    }
    const targets = [];
    if (Array.isArray(change.ids)) {
      for (const raw of change.ids) {
        const it = this._byId.get(idOf(raw));
        if (it) targets.push(it);
      }
    }
    if (isId(change.up_to_id)) {
      const upTo = idOf(change.up_to_id);
      for (const it of this._byId.values()) {
        if (cmpId(it.id, upTo) <= 0) targets.push(it);
      }
    }
    for (const it of targets) Object.assign(it, flags);
    if (log) this.record({ kind: 'state', ...change });
    return targets.length;
  }

  // Items the server deleted (or that expired): gone, and logged so that
  // a list fetched before cannot bring them back.
  applyDeleted(ids, log = true) {
    for (const raw of ids) this._byId.delete(idOf(raw));
    if (log) this.record({ kind: 'deleted', ids });
  }

  // A change made on this page: applied and logged until settle(token) says
  // the server answered it (committed or refused). Returns the token.
  applyLocal(change) {
    this.applyChange(change, false);
    return this.record({ kind: 'state', ...change }, true);
  }
  settle(token) {
    this._pending.splice(this._pending.indexOf(token), 1);
    this._prune();
  }

  // Counts a change that has no state to replay (a notification that
  // arrived live), so that fetches begun after it know they have it.
  record(change, local = false) {
    this._seq += 1;
    if (local) this._pending.push(this._seq);
    if (this._inFlight.length || this._pending.length) {
      this._log.push({ seq: this._seq, change });
    }
    return this._seq;
  }

  // Call before sending a fetch whose answer will be put here; pass what it
  // returns to replaySince() after putting the answer, and to endFetch()
  // when the fetch is over, whatever its outcome.
  beginFetch() {
    const start = this._pending.length ? this._pending[0] - 1 : this._seq;
    this._inFlight.push(start);
    return start;
  }
  endFetch(start) {
    this._inFlight.splice(this._inFlight.indexOf(start), 1);
    this._prune();
  }
  // Puts a fetch's answer (normalized items; an item shown as fresh stays
  // so), then replays the log over it.
  merge(start, list) {
    for (const it of list) {
      const known = this._byId.get(it.id);
      if (known) it.fresh = known.fresh;
      this.set(it.id, it);
    }
    this.replaySince(start);
  }

  // merge() for a refetch of the newest page of a view, which also drops
  // the items of the view that the server no longer lists (deleted or
  // expired while the page was away) within the answer's range: all of the
  // view when the answer is `whole`, else down to its oldest item. Spared:
  // items not known when the fetch began (`knownAtStart`: they arrived
  // since) and items a change logged since names (the answer may be from
  // before it: an item unarchived meanwhile is in view now, not gone).
  // `matches(it)`: the item belongs to the view.
  mergeNewest(start, knownAtStart, list, matches, whole) {
    const got = new Set(list.map((it) => it.id));
    const oldest = list.length ? list[list.length - 1].id : null;
    const changed = this._changedSince(start);
    for (const it of Array.from(this._byId.values())) {
      if (!knownAtStart.has(it.id) || got.has(it.id) || changed(it.id)) continue;
      if (!matches(it)) continue;
      if (whole || (oldest !== null && cmpId(it.id, oldest) >= 0)) this._byId.delete(it.id);
    }
    this.merge(start, list);
  }

  // Applies again, in order, every logged change the fetch may have missed.
  replaySince(start) {
    for (const { seq, change } of this._log) {
      if (seq <= start) continue;
      if (change.kind === 'deleted') this.applyDeleted(change.ids, false);
      else if (change.kind === 'state') this.applyChange(change, false);
    }
  }

  // How many changes are logged (for tests: the log empties when nothing
  // runs and nothing is pending).
  get logged() { return this._log.length; }

  // Whether a state change logged after `start` names an id.
  _changedSince(start) {
    const ids = new Set();
    let upTo = null;
    for (const { seq, change } of this._log) {
      if (seq <= start || change.kind !== 'state') continue;
      if (Array.isArray(change.ids)) for (const raw of change.ids) ids.add(idOf(raw));
      if (isId(change.up_to_id) && (upTo === null || cmpId(idOf(change.up_to_id), upTo) > 0)) {
        upTo = idOf(change.up_to_id);
      }
    }
    return (id) => ids.has(id) || (upTo !== null && cmpId(id, upTo) <= 0);
  }

  _prune() {
    let after = this._seq;
    if (this._inFlight.length) after = Math.min(after, ...this._inFlight);
    if (this._pending.length) after = Math.min(after, this._pending[0] - 1);
    while (this._log.length && this._log[0].seq <= after) this._log.shift();
  }
}
