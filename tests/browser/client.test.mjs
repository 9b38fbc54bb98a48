// Headless Chromium runs /v1/client.js in many tabs of one browser context
// (one profile) against a real notifyd over plain HTTP/1.1, with
// notifications sent through notifyctl (gRPC). The tabs are a bare test page
// served at the server's origin (a Playwright route), which imports the
// client from the server and records every event it reports.
//
//   ten tabs    every tab gets every notification, in order, and the
//               server holds exactly one stream for the user (GetStats and
//               the notifyd_streams gauge on /metrics); one tab leads;
//               every tab knows the counts, also those that came after the
//               stream opened (they ask the leader)
//   handover    notifications are sent continuously while the leader tab is
//               closed, then the next leader's renderer crashes: each time
//               another tab takes over, and the ids in every remaining tab
//               are exactly the ids sent, in order (no gap, no duplicate);
//               still one stream
//   close()     a leader that calls close() hands the stream over at once;
//               as no tab had an id yet, each gets a reset (refetch)
//   no locks    without navigator.locks every tab streams on its own (N
//               streams on the server) and still gets everything
//   state       markRead/markSeen/setArchived in one tab: the state events
//               and counts reach every other tab; list() and counts() answer
//   timeout     an API call whose answer never comes fails (status 0) after
//               requestTimeoutMs instead of waiting for ever
//   inbox page  three tabs of the page at / hold one stream between them
//   readme      the README's complete example works as printed: it lists,
//               shows the badge, follows the stream, marks read
//
// Each case has its own user. Waits are for the pages' or the server's
// state, never fixed sleeps.
//
// Usage: node client.test.mjs <notifyd> <notifyctl> <screenshot dir>
import { readFileSync } from 'node:fs';
import assert from 'node:assert/strict';
import { startNotifyd, runSuite } from './fixture.mjs';

const [notifyd, notifyctl, shotDir] = process.argv.slice(2);
const server = await startNotifyd(notifyd, notifyctl);
const { base, admin, ctl, notify, notifyAsync, tokenFor } = server;

// The test page: the client connected with the token in the fragment, every
// event it reports kept in window.got.
const TEST_PAGE = `<!doctype html><meta charset="utf-8"><title>client.js test</title>
<p id="out">starting</p>
<script type="module">
import { connect } from '/v1/client.js';
const params = new URLSearchParams(location.hash.slice(1));
const options = { token: params.get('token') };
if (params.has('timeout')) options.requestTimeoutMs = Number(params.get('timeout'));
const got = { notification: [], counts: [], state: [], deleted: [], reset: [], status: [] };
window.got = got;
window.client = connect(options);
for (const name of Object.keys(got)) window.client.on(name, (d) => got[name].push(d));
window.client.on('notification', (n) => { document.getElementById('out').textContent = 'got ' + n.id; });
</script>`;
const pagePath = '/client-test.html';

async function openTabs(context, user, n) {
  const token = tokenFor(user);
  const pages = [];
  for (let i = 0; i < n; i++) {
    const page = await context.newPage();
    await page.goto(`${base}${pagePath}#token=${token}`);
    pages.push(page);
  }
  // Every tab is live: the leader's stream is open, the others heard so.
  for (const page of pages) {
    await page.waitForFunction(() => window.client?.status.state === 'live', null,
                               { timeout: 10000 });
  }
  return pages;
}

const ids = (page) => page.evaluate(() => window.got.notification.map(n => n.id));
const statusOf = (page) => page.evaluate(() => window.client.status);
async function leaders(pages) {
  const out = [];
  for (const p of pages) if ((await statusOf(p)).leader) out.push(p);
  return out;
}

// Waits until one of `pages` leads and its stream is open; that page.
async function liveLeader(pages, timeout = 10000) {
  for (const t0 = Date.now(); Date.now() - t0 < timeout;) {
    const ls = await leaders(pages);
    if (ls.length === 1 && (await statusOf(ls[0])).state === 'live') return ls[0];
    await new Promise(r => setTimeout(r, 50));
  }
  throw new Error('no tab took over the stream');
}

// Waits until `page` has received exactly `want` (ids), failing on anything
// else it received meanwhile.
async function waitIds(page, want, timeout = 10000) {
  try {
    await page.waitForFunction((n) => window.got.notification.length >= n, want.length,
                               { timeout });
  } finally {
    assert.deepEqual(await ids(page), want);
  }
}

// Polls `get` until it returns `want` (the server's view changes a moment
// after a tab's).
async function eventually(get, want, what, timeout = 10000) {
  const t0 = Date.now();
  let got;
  while ((got = await get()) !== want) {
    if (Date.now() - t0 > timeout) assert.equal(got, want, what);
    await new Promise(r => setTimeout(r, 50));
  }
}

// Streams open on the user's inbox, from GetStats.
function userStreams(user) {
  const stats = JSON.parse(ctl('--json', 'stats', '--top=1000'));
  const ch = (stats.channels || []).find(c => c.channel === `user:${user}`);
  return ch ? Number(ch.subscribers) : 0;
}
// All open SSE streams on the server, from the notifyd_streams gauge.
async function serverStreams() {
  const text = await (await fetch(`${admin}/metrics`)).text();
  let n = 0;
  for (const m of text.matchAll(/^notifyd_streams\{[^}]*\} (\d+)/gm)) n += Number(m[1]);
  return n;
}

// Stored events replayed to resuming streams, from /metrics.
async function replayedTotal() {
  const text = await (await fetch(`${admin}/metrics`)).text();
  return Number(/^notifyd_events_replayed_total (\d+)/m.exec(text)?.[1] ?? NaN);
}

const cases = [];
const test = (name, fn) => cases.push({ name, fn });

test('ten tabs', async (context) => {
  const user = 'ten';
  await eventually(serverStreams, 0, 'streams of earlier cases are gone');
  const res = await fetch(`${base}/v1/client.js`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'text/javascript; charset=utf-8');
  assert.equal((await fetch(`${base}/client.js`)).status, 404, 'served under /v1 only');
  const pages = await openTabs(context, user, 10);
  assert.equal((await leaders(pages)).length, 1, 'one tab leads');
  // Every tab has the counts before anything was sent: the leader from its
  // stream, the later tabs from the leader, whom they asked.
  for (const p of pages) {
    await p.waitForFunction(() => window.client.lastCounts !== null, null, { timeout: 10000 });
    assert.deepEqual(await p.evaluate(() => window.got.counts), [{ unread: 0, unseen: 0 }]);
  }
  for (const p of pages) {
    const st = await statusOf(p);
    assert.equal(st.shared, true);
    assert.equal(st.leaderTab, (await statusOf((await leaders(pages))[0])).leaderTab);
  }
  const sent = [];
  for (let i = 0; i < 5; i++) sent.push(notify(user, JSON.stringify({ title: `n${i}` })));
  for (const p of pages) await waitIds(p, sent);
  // Every tab learnt the counts: the late ones from the leader.
  for (const p of pages) {
    await p.waitForFunction(() => window.client.lastCounts?.unread === 5, null, { timeout: 10000 });
  }
  assert.equal(userStreams(user), 1, 'one stream for the user');
  assert.equal(await serverStreams(), 1, 'one stream on the server');
  const first = await pages[0].evaluate(() => window.got.notification[0]);
  assert.deepEqual(first, { id: sent[0], event: 'notification', data: '{"title":"n0"}' });
  await pages[0].screenshot({ path: `${shotDir}/client-ten-tabs.png` }).catch(() => {});
});

test('handover', async (context) => {
  const user = 'handover';
  const pages = await openTabs(context, user, 5);
  const sent = [];
  let sending = true;
  const sender = (async () => {
    while (sending) sent.push(await notifyAsync(user, `m${sent.length}`));
  })();
  const waitSent = async (n) => {
    while (sent.length < n) await new Promise(r => setTimeout(r, 20));
  };
  // The next stream a tab opens is held back until 5 more notifications
  // were sent, so that each takeover has something to replay.
  const resumedFrom = [];
  let held = false;
  await context.route((url) => url.pathname === '/v1/stream', async (route) => {
    if (held) {
      held = false;
      resumedFrom.push(new URL(route.request().url()).searchParams.get('last_event_id'));
      await waitSent(sent.length + 5);
    }
    await route.continue();
  });
  const replayedBefore = await replayedTotal();
  let [leader] = await leaders(pages);
  try {
    await waitSent(5);
    for (const p of pages) {
      await p.waitForFunction(() => window.got.notification.length > 0, null, { timeout: 10000 });
    }
    // The leader tab closes.
    held = true;
    pages.splice(pages.indexOf(leader), 1);
    await leader.close();
    leader = await liveLeader(pages);
    await waitSent(sent.length + 3);
    // The next leader crashes (its renderer is killed: no unload, nothing).
    held = true;
    pages.splice(pages.indexOf(leader), 1);
    const crashed = new Promise(r => leader.once('crash', r));
    const cdp = await context.newCDPSession(leader);
    cdp.send('Page.crash').catch(() => { /* never answered: the page is gone */ });
    await crashed;
    await liveLeader(pages);
    await waitSent(sent.length + 3);
  } finally {
    sending = false;
    await sender;
  }
  for (const p of pages) await waitIds(p, sent);
  assert.equal((await leaders(pages)).length, 1, 'one tab leads again');
  for (const p of pages) {
    assert.deepEqual(await p.evaluate(() => window.got.reset), [], 'each knew where it was');
  }
  // Both new leaders resumed from an id the tabs had, and the server
  // replayed what was sent while they were connecting.
  assert.equal(resumedFrom.length, 2, 'two takeovers');
  for (const from of resumedFrom) assert.ok(sent.includes(from), `resumed from ${from}`);
  assert.ok(await replayedTotal() - replayedBefore >= 10, 'the takeovers replayed');
  await eventually(() => userStreams(user), 1, 'one stream for the user');
  console.log(`  ${sent.length} sent across two leader changes, all in ${pages.length} tabs`);
});

test('close()', async (context) => {
  const user = 'closer';
  const pages = await openTabs(context, user, 3);
  const [leader] = await leaders(pages);
  const before = await statusOf(leader);
  await leader.evaluate(() => window.client.close());
  const rest = pages.filter(p => p !== leader);
  await rest[0].waitForFunction((old) => window.client.status.state === 'live' &&
      window.client.status.leaderTab !== '' && window.client.status.leaderTab !== old,
  before.leaderTab, { timeout: 10000 });
  assert.equal((await leaders(rest)).length, 1, 'another tab leads');
  // No tab had an id from the stream when it changed hands: none can tell
  // what it may have missed, so each is told to refetch.
  for (const p of rest) {
    await p.waitForFunction(() => window.got.reset.length > 0, null, { timeout: 10000 });
    assert.deepEqual(await p.evaluate(() => window.got.reset), [{ oldest_id: '' }]);
  }
  const id = notify(user, 'after close');
  for (const p of rest) await waitIds(p, [id]);
  // The closed client reports nothing more.
  assert.deepEqual(await ids(leader), []);
  await eventually(() => userStreams(user), 1, 'one stream for the user');
});

test('no locks', async (context) => {
  const user = 'nolocks';
  // Four tabs: with HTTP/1.1 a browser opens at most six connections to
  // one server, which is the reason for sharing the stream.
  await context.addInitScript(() => { delete Navigator.prototype.locks; });
  const pages = await openTabs(context, user, 4);
  for (const p of pages) {
    assert.equal(await p.evaluate(() => navigator.locks), undefined);
    const st = await statusOf(p);
    assert.equal(st.leader, true, 'every tab streams');
    assert.equal(st.shared, false);
  }
  await eventually(() => userStreams(user), 4, 'a stream per tab');
  const sent = [1, 2, 3].map(n => notify(user, `solo ${n}`));
  for (const p of pages) await waitIds(p, sent);
});

test('state', async (context) => {
  const user = 'marks';
  const sent = [1, 2, 3].map(n => notify(user, `s${n}`));
  const pages = await openTabs(context, user, 3);
  const [one, ...others] = pages;
  for (const p of pages) {
    await p.waitForFunction(() => window.client.lastCounts?.unread === 3, null, { timeout: 10000 });
  }
  // list() and counts() from any tab (a follower's too).
  const list = await others[0].evaluate(() => window.client.list({ filter: 'unread', limit: 2 }));
  assert.deepEqual(list.notifications.map(n => n.id), [sent[2], sent[1]]);
  assert.equal(list.next_before_id, sent[1]);
  assert.deepEqual(await others[1].evaluate(() => window.client.counts()), { unread: 3, unseen: 3 });

  const lastState = (p) => p.evaluate(() => window.got.state.at(-1));
  const waitState = (p, n) =>
    p.waitForFunction((k) => window.got.state.length >= k, n, { timeout: 10000 });
  assert.deepEqual(await one.evaluate((id) => window.client.markRead([id]), sent[1]),
                   { changed: 1 });
  for (const p of others) {
    await waitState(p, 1);
    const st = await lastState(p);
    assert.deepEqual([st.ids, st.read], [[sent[1]], true]);
    await p.waitForFunction(() => window.client.lastCounts.unread === 2, null, { timeout: 10000 });
  }
  await one.evaluate((id) => window.client.markSeen({ up_to_id: id }), sent[2]);
  await one.evaluate((ids) => window.client.setArchived(ids, true), [sent[0]]);
  await one.evaluate((id) => window.client.markRead({ up_to_id: id }, true), sent[2]);
  for (const p of others) {
    await waitState(p, 4);
    const got = await p.evaluate(() => window.got.state.slice(1).map(
        ({ ids, up_to_id, seen, read, archived }) => ({ ids, up_to_id, seen, read, archived })));
    assert.deepEqual(got, [
      { ids: undefined, up_to_id: sent[2], seen: true, read: undefined, archived: undefined },
      { ids: [sent[0]], up_to_id: undefined, seen: undefined, read: undefined, archived: true },
      // Reading is seeing too.
      { ids: undefined, up_to_id: sent[2], seen: true, read: true, archived: undefined },
    ]);
    await p.waitForFunction(() => window.client.lastCounts.unread === 0 &&
        window.client.lastCounts.unseen === 0, null, { timeout: 10000 });
  }
  // Long id lists go in requests of at most 100 ids.
  const posts = [];
  one.on('request', (r) => { if (r.url().endsWith('/v1/inbox/state')) posts.push(r); });
  const many = Array.from({ length: 247 }, (_, i) => String(1000000 + i)).concat(sent);
  assert.deepEqual(await one.evaluate((ids) => window.client.markRead(ids, false), many),
                   { changed: 3 });
  assert.equal(posts.length, 3);
  for (const p of pages) {
    await p.waitForFunction(() => window.client.lastCounts.unread === 2, null, { timeout: 10000 });
  }
  // Refusals are errors with the HTTP status and the server's message.
  const err = await one.evaluate(() =>
      window.client.list({ limit: 501 }).catch(e => [e.name, e.status, e.message]));
  assert.equal(err[0], 'NotifydError');
  assert.equal(err[1], 400);
  assert.match(err[2], /limit/);
  assert.deepEqual(await one.evaluate(() => window.client.markRead(['0']).catch(e => e.status)),
                   400, 'an id that is none is refused before it is sent');
});

test('timeout', async (context) => {
  const user = 'silent';
  notify(user, 'one');
  const page = await context.newPage();
  await page.goto(`${base}${pagePath}#token=${tokenFor(user)}&timeout=500`);
  await page.waitForFunction(() => window.client?.status.state === 'live', null,
                             { timeout: 10000 });
  // The inbox API goes silent: requests are taken and never answered.
  const silent = (url) => new URL(url).pathname.startsWith('/v1/inbox');
  await page.route(silent, () => {});
  const err = await page.evaluate(() =>
      window.client.counts().catch(e => [e.name, e.status, e.message]));
  assert.deepEqual(err.slice(0, 2), ['NotifydError', 0]);
  assert.match(err[2], /did not answer within 0.5 s/);
  const change = await page.evaluate(() =>
      window.client.markRead({ up_to_id: '1' }).catch(e => e.status));
  assert.equal(change, 0);
  // Answers flow again: the same client works.
  await page.unroute(silent);
  assert.deepEqual(await page.evaluate(() => window.client.counts()), { unread: 1, unseen: 1 });
});

test('inbox page', async (context) => {
  // The page at / is built on the client: its tabs share one stream too.
  const user = 'page';
  const url = `${base}/#user=${user}&token=${tokenFor(user)}`;
  const pages = [];
  for (let i = 0; i < 3; i++) {
    const page = await context.newPage();
    await page.goto(url);
    await page.waitForFunction(() => document.querySelector('#state')?.dataset.state === 'live',
                               null, { timeout: 10000 });
    pages.push(page);
  }
  const id = notify(user, JSON.stringify({ title: 'to every tab' }));
  for (const p of pages) await p.waitForSelector(`#list li[data-id="${id}"]`, { timeout: 10000 });
  assert.equal(userStreams(user), 1, 'one stream for three inbox tabs');
});

test('readme', async (context) => {
  // The README's complete example, as printed, with notifyd's address for
  // notify.example.com and a token where it asks its backend for one.
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf('## In your own page: `/v1/client.js`'));
  const html = /```html\n([\s\S]*?)```/.exec(section)[1]
      .replaceAll('https://notify.example.com', base);
  const user = 'readme';
  const old = notify(user, 'from before');
  await context.route(`${base}/example.html`, (route) => route.fulfill({
    status: 200, contentType: 'text/html; charset=utf-8', body: html }));
  await context.route(`${base}/my-app/notify-token`, (route) => route.fulfill({
    status: 200, contentType: 'text/plain', body: tokenFor(user) }));
  const page = await context.newPage();
  await page.goto(`${base}/example.html`);
  await page.waitForSelector(`li[data-id="${old}"]`);
  await page.waitForFunction(() => document.getElementById('status').textContent === 'live');
  await page.waitForFunction(() => document.getElementById('badge').textContent === '1');
  const id = notify(user, 'live one');
  await page.waitForSelector(`li[data-id="${id}"]`);
  assert.deepEqual(await page.$$eval('li', lis => lis.map(li => li.textContent)),
                   ['live one', 'from before']);
  await page.waitForFunction(() => document.getElementById('badge').textContent === '2');
  await page.click(`li[data-id="${id}"]`);
  await page.waitForFunction((sel) => document.querySelector(sel).style.fontWeight === 'normal',
                             `li[data-id="${id}"]`);
  await page.waitForFunction(() => document.getElementById('badge').textContent === '1');
  await page.click('#all-read');
  await page.waitForFunction(() => document.getElementById('badge').textContent === '');
  assert.deepEqual(await (await fetch(`${base}/v1/inbox/counts`, {
    headers: { Authorization: `Bearer ${tokenFor(user)}` } })).json(), { unread: 0, unseen: 0 });
});

// Every context serves the test page at the server's origin.
const withPage = cases.map(({ name, fn }) => ({
  name,
  fn: async (context, pageErrors) => {
    await context.route(`${base}${pagePath}`, (route) => route.fulfill({
      status: 200, contentType: 'text/html; charset=utf-8', body: TEST_PAGE }));
    await fn(context, pageErrors);
  },
}));
await runSuite(server, withPage, { shotDir, onlyEnv: 'CLIENT_TEST_ONLY', what: 'client' });
console.log(`client test passed: ${cases.length} cases`);
