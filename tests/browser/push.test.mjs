// Browser push in headless Chromium against a real notifyd (README,
// "Browser push"): what can run without a real push service, which a
// headless browser offline cannot reach.
//
//   worker       /v1/sw.js is served as JavaScript with
//                Service-Worker-Allowed: /, so a page registers it for the
//                whole origin, and it activates
//   push         a push message delivered to the registered worker (the
//                DevTools protocol's ServiceWorker.deliverPushMessage, as
//                the push service would) shows the notification its JSON
//                payload describes; payloads without a title or that are
//                not JSON still show something
//   enablePush   with pushManager stubbed (a real P-256 key pair, a made-up
//                endpoint) and the server's key served: enablePush()
//                subscribes with that key and userVisibleOnly, the server
//                stores the subscription (its credential works), the worker
//                keeps the credential; a click on a pushed notification
//                marks it read through POST /v1/inbox/state and opens its
//                url; disablePush() removes the subscription on the server
//                (the credential is refused, a second DELETE is 404) and
//                in the browser
//   no key       while the server has no VAPID key enablePush() fails with
//                404 "push not configured"
//
// Usage: node push.test.mjs <notifyd> <notifyctl> <screenshot dir>
import assert from 'node:assert/strict';
import { startNotifyd, runSuite } from './fixture.mjs';

const [notifyd, notifyctl, shotDir] = process.argv.slice(2);
const server = await startNotifyd(notifyd, notifyctl);
const { base, notify, tokenFor } = server;

// The test page: the worker's functions (sw.js as a plain script defines
// self.notifydPush and listens to nothing) and a client connected with the
// token in the fragment.
const TEST_PAGE = `<!doctype html><meta charset="utf-8"><title>push test</title>
<script src="/v1/sw.js"></script>
<script type="module">
import { connect } from '/v1/client.js';
const token = new URLSearchParams(location.hash.slice(1)).get('token');
window.client = connect({ token });
window.ready = true;
</script>`;
const pagePath = '/push-test.html';

// A server key (RFC 8291's user agent key: any point on P-256 will do).
const SERVER_KEY = 'BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bj' +
                   'yPjs7Vd8pZGH6SRpkNtoIAiw4';

// pushManager as a push service would answer it: a subscription with a
// fresh P-256 key pair and auth secret, recorded in window.pushStub.
const STUB_PUSH_MANAGER = `
window.pushStub = { subscribed: null, options: null, unsubscribed: 0 };
const b64 = (u8) => btoa(String.fromCharCode(...u8)).replace(/\\+/g, '-')
    .replace(/\\//g, '_').replace(/=+$/, '');
PushManager.prototype.getSubscription = async function () {
  return window.pushStub.subscribed;
};
PushManager.prototype.subscribe = async function (options) {
  const pair = await crypto.subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' },
                                              true, ['deriveBits']);
  const raw = new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey));
  const auth = crypto.getRandomValues(new Uint8Array(16));
  const endpoint = 'https://push.example.net/wpush/' +
      b64(crypto.getRandomValues(new Uint8Array(12)));
  const key = new Uint8Array(options.applicationServerKey).buffer;
  const sub = {
    endpoint,
    options: { userVisibleOnly: options.userVisibleOnly, applicationServerKey: key },
    toJSON: () => ({ endpoint, expirationTime: null,
                     keys: { p256dh: b64(raw), auth: b64(auth) } }),
    unsubscribe: async () => {
      window.pushStub.subscribed = null;
      window.pushStub.unsubscribed++;
      return true;
    },
  };
  window.pushStub.subscribed = sub;
  window.pushStub.options = { userVisibleOnly: options.userVisibleOnly, key: b64(new Uint8Array(key)) };
  return sub;
};`;

async function openPage(context, user) {
  await context.route(`${base}${pagePath}`, (route) =>
    route.fulfill({ status: 200, contentType: 'text/html', body: TEST_PAGE }));
  const page = await context.newPage();
  await page.goto(`${base}${pagePath}#token=${tokenFor(user)}`);
  await page.waitForFunction(() => window.ready === true && window.notifydPush);
  return page;
}

// Registers /v1/sw.js for the whole origin and waits until it is active.
async function registerWorker(page) {
  return page.evaluate(async () => {
    await navigator.serviceWorker.register('/v1/sw.js', { scope: '/' });
    const registration = await navigator.serviceWorker.ready;
    const worker = registration.active;
    if (worker.state !== 'activated') {
      await new Promise((resolve) => worker.addEventListener('statechange', () => {
        if (worker.state === 'activated') resolve();
      }));
    }
    return { scope: registration.scope, active: worker.state };
  });
}

const cases = [
  {
    name: 'worker',
    fn: async (context) => {
      const page = await openPage(context, 'push-worker');
      const served = await page.evaluate(async () => {
        const r = await fetch('/v1/sw.js');
        return { status: r.status, type: r.headers.get('content-type'),
                 allowed: r.headers.get('service-worker-allowed') };
      });
      assert.deepEqual(served, { status: 200, type: 'text/javascript; charset=utf-8',
                                 allowed: '/' });
      assert.deepEqual(await registerWorker(page), { scope: `${base}/`, active: 'activated' });
    },
  },
  {
    name: 'push',
    fn: async (context) => {
      await context.grantPermissions(['notifications'], { origin: base });
      const page = await openPage(context, 'push-show');
      await registerWorker(page);
      const cdp = await context.newCDPSession(page);
      const registrationId = new Promise((resolve) => {
        cdp.on('ServiceWorker.workerRegistrationUpdated', ({ registrations }) => {
          const r = registrations.find((x) => x.scopeURL === `${base}/` && !x.isDeleted);
          if (r) resolve(r.registrationId);
        });
      });
      await cdp.send('ServiceWorker.enable');
      const id = await registrationId;
      const deliver = (data) => cdp.send('ServiceWorker.deliverPushMessage',
                                         { origin: base, registrationId: id, data });
      const shown = () => page.evaluate(async () => {
        const registration = await navigator.serviceWorker.ready;
        return (await registration.getNotifications()).map((n) => ({
          title: n.title, body: n.body, tag: n.tag, icon: n.icon, data: n.data }));
      });
      const waitFor = async (count) => {
        for (const t0 = Date.now(); Date.now() - t0 < 10000;) {
          const list = await shown();
          if (list.length >= count) return list;
          await new Promise((r) => setTimeout(r, 50));
        }
        throw new Error(`fewer than ${count} notifications shown`);
      };

      await deliver(JSON.stringify({ id: '7', event: 'notification', title: 'Build failed',
                                     body: 'main is red', icon: `${base}/icon.png`,
                                     url: '/builds/7', tag: 'build-main' }));
      let list = await waitFor(1);
      assert.deepEqual(list[0], { title: 'Build failed', body: 'main is red', tag: 'build-main',
                                  icon: `${base}/icon.png`, data: { id: '7', url: '/builds/7' } });
      // Without a title or a tag: the fallback title, the id as the tag.
      await deliver(JSON.stringify({ id: '8', body: 'no title' }));
      list = await waitFor(2);
      const untitled = list.find((n) => n.tag === 'notifyd-8');
      assert.equal(untitled.title, 'New notification');
      assert.equal(untitled.body, 'no title');
      // Not JSON: shown as the body.
      await deliver('plain words');
      list = await waitFor(3);
      assert.ok(list.some((n) => n.body === 'plain words' && n.title === 'New notification'),
                JSON.stringify(list));
    },
  },
  {
    name: 'enablePush',
    fn: async (context) => {
      const user = 'push-enable';
      await context.addInitScript(STUB_PUSH_MANAGER);
      await context.route(`${base}/v1/push/key`, (route) =>
        route.fulfill({ status: 200, contentType: 'application/json',
                        body: JSON.stringify({ public_key: SERVER_KEY }) }));
      const page = await openPage(context, user);

      const { endpoint } = await page.evaluate(() => window.client.enablePush());
      const stub = await page.evaluate(() => window.pushStub.options);
      assert.deepEqual(stub, { userVisibleOnly: true, key: SERVER_KEY });
      // The worker keeps where notifyd is and the credential the server gave.
      const config = await page.evaluate(() => window.notifydPush.readConfig());
      assert.equal(config.server, `${base}/`);
      assert.equal(config.endpoint, endpoint);
      assert.match(config.credential, /^[A-Za-z0-9_-]{43}$/);

      // A pushed notification clicked: opened, and read on the server
      // through the credential (the worker has no token).
      const id = notify(user, JSON.stringify({ title: 'Hi', url: '/inbox#latest' }));
      assert.deepEqual(await page.evaluate(() => window.client.counts()), { unread: 1, unseen: 1 });
      const click = await page.evaluate(async (id) => {
        const out = { closed: false, opened: '' };
        const clients = { matchAll: async () => [],
                          openWindow: async (url) => { out.opened = url; } };
        const notification = { data: { id, url: '/inbox#latest' },
                               close: () => { out.closed = true; } };
        await window.notifydPush.onClick(notification, clients, location.origin + '/');
        return out;
      }, id);
      assert.deepEqual(click, { closed: true, opened: `${base}/inbox#latest` });
      assert.deepEqual(await page.evaluate(() => window.client.counts()), { unread: 0, unseen: 0 });

      // disablePush: gone on the server and in the browser.
      assert.equal(await page.evaluate(() => window.client.disablePush()), true);
      assert.equal(await page.evaluate(() => window.pushStub.unsubscribed), 1);
      assert.equal(await page.evaluate(() => window.notifydPush.readConfig()), undefined);
      const after = await page.evaluate(async ({ credential, endpoint, id }) => {
        const state = await fetch('/v1/inbox/state', {
          method: 'POST', body: `{"ids":[${id}],"seen":true}`,
          headers: { 'Content-Type': 'application/json', Authorization: 'Push ' + credential } });
        const token = new URLSearchParams(location.hash.slice(1)).get('token');
        const removed = await fetch('/v1/push/subscriptions', {
          method: 'DELETE', body: JSON.stringify({ endpoint }),
          headers: { 'Content-Type': 'application/json', Authorization: 'Bearer ' + token } });
        return { state: state.status, removed: removed.status };
      }, { credential: config.credential, endpoint, id });
      assert.deepEqual(after, { state: 401, removed: 404 });
      assert.equal(await page.evaluate(() => window.client.disablePush()), false);
    },
  },
  {
    name: 'no key',
    fn: async (context) => {
      await context.addInitScript(STUB_PUSH_MANAGER);
      const page = await openPage(context, 'push-nokey');
      const error = await page.evaluate(() => window.client.enablePush().then(
          () => null, (e) => ({ status: e.status, message: e.message })));
      assert.deepEqual(error, { status: 404, message: 'push not configured' });
      assert.equal(await page.evaluate(() => window.pushStub.subscribed), null);
    },
  },
];

await runSuite(server, cases, { shotDir, onlyEnv: 'PUSH_CASES', what: 'push' });
