// The inbox page's model (web/inbox_items.js) under Node, without a browser:
// ids, normalizing API items, state changes, the log that keeps a list
// fetched before a change from undoing it, in every order the page meets,
// and what a refetch of the newest page drops and keeps.
// (tests/browser/inbox.test.mjs makes two of those orders happen in a real
// page, against a real notifyd.)
//
// Usage: node --test tests/web/inbox_items.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Items, cmpId, isId, normalize } from '../../web/inbox_items.js';

// An item as GET /v1/inbox lists it.
const listed = (id, flags = {}) => normalize({
  id, event: 'notification', data: '{"title":"t"}',
  created_at: '2026-12-06T10:00:00Z', seen: false, read: false, archived: false, ...flags,
});
// Puts a fetch's answer the way the page's loadPage does.
function answer(items, start, list) {
  items.merge(start, list);
  items.endFetch(start);
}
// The page's refresh: the newest page of a view again (here: All, the
// items not archived), `whole` when the answer is shorter than a page.
const inAll = (it) => !it.archived;
function refetch(items, start, knownAtStart, list, whole = true) {
  items.mergeNewest(start, knownAtStart, list, inAll, whole);
  items.endFetch(start);
}
function withItems(...ids) {
  const items = new Items();
  for (const id of ids) items.set(id, listed(id));
  return items;
}

test('ids compare as numbers, beyond 2^53, without floating point', () => {
  assert.equal(cmpId('9', '10'), -1);
  assert.equal(cmpId('18446744073709551615', '18446744073709551614'), 1);
  assert.equal(cmpId('42', '42'), 0);
  assert.ok(isId('1') && isId(7) && isId('18446744073709551615'));
  for (const bad of ['0', '', '01', '-1', '1.5', 'x', null, undefined]) assert.ok(!isId(bad), bad);
});

test('normalize: times in ms, flags as booleans, data always a string', () => {
  const it = normalize({ id: 12, data: { a: 1 }, created_at: '2026-12-06T10:00:00Z',
                         expires_at: '2026-12-07T10:00:00Z', read: 1 });
  assert.equal(it.id, '12');
  assert.equal(it.data, '{"a":1}');
  assert.equal(it.createdAt, Date.parse('2026-12-06T10:00:00Z'));
  assert.equal(it.expiresAt, Date.parse('2026-12-07T10:00:00Z'));
  assert.deepEqual([it.seen, it.read, it.archived, it.fresh], [false, true, false, false]);
  assert.equal(normalize({ id: 1, expires_at: 'not a time' }).expiresAt, null);
});

test('newestId follows the largest id put, compared as a number', () => {
  const items = withItems('9', '10', '8');
  assert.equal(items.newestId, '10');
});

test('a change names ids or everything up to an id; unknown ids are skipped', () => {
  const items = withItems('8', '9', '10', '11');
  assert.equal(items.applyChange({ ids: ['9', '404'], read: true }), 1);
  assert.equal(items.get('9').read, true);
  assert.equal(items.applyChange({ up_to_id: '10', seen: true }), 3);
  assert.deepEqual(['8', '9', '10', '11'].map(id => items.get(id).seen), [true, true, true, false]);
  // Only boolean flags are applied.
  items.applyChange({ ids: ['8'], archived: 'yes' });
  assert.equal(items.get('8').archived, false);
});

test('a streamed change during a fetch is replayed over its answer', () => {
  const items = withItems('1');
  const start = items.beginFetch();
  items.applyChange({ ids: ['1'], read: true });
  answer(items, start, [listed('1')]);   // read on the server after the list
  assert.equal(items.get('1').read, true);
  assert.equal(items.logged, 0);
});

test('a change streamed before a fetch began is not replayed: the answer is newer', () => {
  const items = withItems('1');
  items.applyChange({ ids: ['1'], read: true });
  const start = items.beginFetch();
  answer(items, start, [listed('1', { read: false })]); // unread again since
  assert.equal(items.get('1').read, false);
});

test('two fetches begun at the same point each keep the log they need', () => {
  const items = withItems('1');
  const first = items.beginFetch();
  const second = items.beginFetch();
  assert.equal(first, second);
  answer(items, first, [listed('1')]);
  items.applyChange({ ids: ['1'], read: true });
  answer(items, second, [listed('1')]);  // read before this change arrived
  assert.equal(items.get('1').read, true);
  assert.equal(items.logged, 0);
});

test('a change made here is replayed over fetches begun before the server answered it', () => {
  const items = withItems('1', '2');
  const mine = items.applyLocal({ ids: ['1'], read: true });
  assert.equal(items.get('1').read, true);
  // Begun after the change was made, before it was committed.
  const start = items.beginFetch();
  answer(items, start, [listed('1'), listed('2')]);
  assert.equal(items.get('1').read, true);
  assert.ok(items.logged > 0, 'kept while unanswered');
  items.settle(mine);
  assert.equal(items.logged, 0);
  // Answered: a later fetch's answer wins (a refused change is undone).
  const after = items.beginFetch();
  answer(items, after, [listed('1')]);
  assert.equal(items.get('1').read, false);
});

test('changes are replayed in the order made, local and streamed alike', () => {
  const items = withItems('1');
  const start = items.beginFetch();
  const read = items.applyLocal({ ids: ['1'], read: true });
  const unread = items.applyLocal({ ids: ['1'], read: false });
  items.applyChange({ ids: ['1'], archived: true });
  answer(items, start, [listed('1', { read: true })]);
  assert.deepEqual([items.get('1').read, items.get('1').archived], [false, true]);
  items.settle(unread);
  items.settle(read);
  assert.equal(items.logged, 0);
});

test('a deleted item is not brought back by a list from before the deletion', () => {
  const items = withItems('1', '2');
  const start = items.beginFetch();
  items.applyDeleted(['1']);
  assert.equal(items.has('1'), false);
  answer(items, start, [listed('2'), listed('1')]);
  assert.equal(items.has('1'), false);
  assert.equal(items.has('2'), true);
});

test('nothing is logged while no fetch runs and nothing is unanswered', () => {
  const items = withItems('1');
  items.applyChange({ ids: ['1'], read: true });
  items.applyDeleted(['1']);
  items.record({ kind: 'new' });
  assert.equal(items.logged, 0);
});

test('a refetch drops what the server no longer lists, within its range', () => {
  const items = withItems('1', '2', '3', '4');
  const start = items.beginFetch();
  const known = new Set(items.keys());
  // 4 was deleted while the page was away; 1 is older than this page.
  refetch(items, start, known, [listed('3'), listed('2')], false);
  assert.deepEqual([...items.keys()].sort(), ['1', '2', '3']);
  // A whole answer (shorter than a page) covers the view down to the first.
  const again = items.beginFetch();
  refetch(items, again, new Set(items.keys()), [listed('3')], true);
  assert.deepEqual([...items.keys()], ['3']);
});

test('a refetch keeps what arrived after it began', () => {
  const items = withItems('1');
  const start = items.beginFetch();
  const known = new Set(items.keys());
  items.set('2', listed('2'));  // live, after the list was read
  items.record({ kind: 'new' });
  refetch(items, start, known, [listed('1')]);
  assert.ok(items.has('2'));
});

test('a refetch keeps an item a change since it began brought into the view', () => {
  // Known archived (from the Archived tab); unarchived in another tab while
  // All is refetched: the answer, from before, does not list it.
  const items = withItems('1', '2');
  items.applyChange({ ids: ['2'], archived: true });
  const start = items.beginFetch();
  const known = new Set(items.keys());
  items.applyChange({ ids: ['2'], archived: false });
  refetch(items, start, known, [listed('1')]);
  assert.ok(items.has('2'), 'not dropped');
  assert.equal(items.get('2').archived, false);
  // Marking all read up to an id spares what it names as well.
  const later = items.beginFetch();
  items.applyChange({ up_to_id: '2', read: true });
  refetch(items, later, new Set(items.keys()), []);
  assert.deepEqual([...items.keys()].sort(), ['1', '2']);
});

test('a refetch keeps the highlight of an item shown as fresh', () => {
  const items = withItems('1');
  items.get('1').fresh = true;
  const start = items.beginFetch();
  refetch(items, start, new Set(items.keys()), [listed('1')]);
  assert.equal(items.get('1').fresh, true);
});
