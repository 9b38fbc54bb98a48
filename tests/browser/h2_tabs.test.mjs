// Why notifyd serves HTTP/2 (SPEC §9), shown in headless Chromium: ten tabs
// of one browser context, each with a plain EventSource, against two real
// notifyd processes (SQLite in a temporary directory, every port 0):
//
//   h2     the TLS edge (a throwaway self-signed certificate; the context
//          ignores certificate errors): all ten tabs' streams go live on one
//          HTTP/2 connection and every tab gets the notification
//   h1     an HTTP/1.1-only edge (plain http): the first six tabs go live,
//          the seventh's EventSource stays CONNECTING. Browsers open at
//          most six HTTP/1.1 connections per origin, and an SSE stream holds
//          its connection for as long as it is open, so the seventh request
//          waits for a connection that never frees up; closing one tab lets
//          it connect, which shows the pool is what it waited for.
//
// Waits are for the page's state (waitForFunction), except the h1 stall,
// which can only be shown by waiting: the seventh must still be
// CONNECTING after kStallMs while the other six are open.
//
// Usage: node h2_tabs.test.mjs <notifyd> <notifyctl>
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, existsSync, readFileSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

const [notifyd, notifyctl] = process.argv.slice(2);
const dir = mkdtempSync(join(tmpdir(), 'notifyd-h2-tabs-'));
const kTabs = 10;
const kStallMs = 3000;

execFileSync('openssl', [
  'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
  '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
  '-addext', 'subjectAltName=IP:127.0.0.1',
  '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')],
  { stdio: 'ignore' });

// Starts notifyd in dir/<name>; resolves to its ports, its process and how
// to publish to it.
async function startServer(name, tls) {
  const home = join(dir, name);
  mkdirSync(home);
  const ready = join(home, 'ready.json');
  const tlsFlags = tls ? [`--tls_cert=${join(dir, 'cert.pem')}`,
                          `--tls_key=${join(dir, 'key.pem')}`] : [];
  const proc = spawn(notifyd, [
    '--store=sqlite', `--db=${join(home, 'notify.db')}`, '--synchronous=normal',
    '--grpc_listen=127.0.0.1:0', '--http_listen=127.0.0.1:0',
    '--admin_listen=127.0.0.1:0', `--ready_file=${ready}`,
    '--insecure_dev_identity', ...tlsFlags], { stdio: 'inherit' });
  let exited = false;
  proc.once('exit', () => { exited = true; });
  for (let i = 0; i < 400 && !existsSync(ready) && !exited; i++) {
    await new Promise(r => setTimeout(r, 50));
  }
  if (!existsSync(ready)) throw new Error(`notifyd (${name}) did not start`);
  const ports = JSON.parse(readFileSync(ready, 'utf8'));
  const tlsCa = tls ? [`--tls_ca=${join(dir, 'cert.pem')}`] : [];
  return {
    proc, exited: () => exited,
    base: `${tls ? 'https' : 'http'}://127.0.0.1:${ports.http_port}`,
    publish: (channel, data) => execFileSync(notifyctl, [
      `--server=127.0.0.1:${ports.grpc_port}`, ...tlsCa,
      'publish', channel, data]),
  };
}

// Loads `count` tabs on `base` (a plain-text page of the same origin), all
// before any stream opens: over HTTP/1.1 a seventh page load would wait for
// a connection too.
async function loadTabs(context, base, count) {
  const pages = [];
  for (let n = 0; n < count; n++) {
    const page = await context.newPage();
    await page.goto(`${base}/healthz`);
    pages.push(page);
  }
  return pages;
}

// Opens an EventSource on the channel `news` in each of `pages`, its state
// in window.sse; tab n is the user tab<n>.
async function startStreams(pages, first = 0) {
  for (const [i, page] of pages.entries()) {
    await page.evaluate((n) => {
      const es = new EventSource(`/v1/stream?user=tab${n}&channels=news`);
      window.sse = { es, got: [] };
      es.addEventListener('notification', e => window.sse.got.push(e.data));
    }, first + i);
  }
}
const readyState = (page) => page.evaluate(() => window.sse.es.readyState);
const waitOpen = (page, timeout = 20000) => page.waitForFunction(
    () => window.sse.es.readyState === EventSource.OPEN, null, { timeout });
const waitGot = (page, data) => page.waitForFunction(
    (d) => window.sse.got.includes(d), data, { timeout: 20000 });

const servers = [];
let browser;
let failed = 0;
try {
  const h2 = await startServer('h2', true);
  const h1 = await startServer('h1', false);
  servers.push(h2, h1);
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update',
           '--disable-sync'],
  });

  const cases = {
    async 'ten tabs live over HTTP/2'(context) {
      const pages = await loadTabs(context, h2.base, kTabs);
      await startStreams(pages);
      for (const p of pages) await waitOpen(p);
      const protocol = await pages[0].evaluate(
          () => performance.getEntriesByType('navigation')[0].nextHopProtocol);
      assert.equal(protocol, 'h2');
      h2.publish('news', 'to all ten');
      for (const p of pages) await waitGot(p, 'to all ten');
    },
    async 'the seventh tab stalls over HTTP/1.1'(context) {
      // The six streams go live first, then the seventh starts: started
      // together, the network service may queue any one of the seven.
      const pages = await loadTabs(context, h1.base, 7);
      await startStreams(pages.slice(0, 6));
      for (const p of pages.slice(0, 6)) await waitOpen(p);
      await startStreams(pages.slice(6), 6);
      await new Promise(r => setTimeout(r, kStallMs));
      assert.equal(await readyState(pages[6]), 0 /* CONNECTING */,
                   'the seventh EventSource connected over HTTP/1.1');
      h1.publish('news', 'to six');
      for (const p of pages.slice(0, 6)) await waitGot(p, 'to six');
      assert.deepEqual(await pages[6].evaluate(() => window.sse.got), []);
      // A tab closes, its connection frees up: the seventh goes live
      // (Chromium hands the freed socket to the queued request; on a loaded
      // machine that has taken over 10 s).
      await pages[0].close();
      await waitOpen(pages[6], 30000);
    },
  };
  for (const [name, fn] of Object.entries(cases)) {
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    const t0 = Date.now();
    try {
      await fn(context);
      console.log(`ok   ${name} (${Date.now() - t0} ms)`);
    } catch (e) {
      failed++;
      console.log(`FAIL ${name}: ${e.stack || e}`);
    } finally {
      await context.close();
    }
  }
} finally {
  if (browser) await browser.close();
  for (const s of servers) {
    s.proc.kill('SIGTERM');
    if (!s.exited()) await new Promise(r => s.proc.once('exit', r));
  }
  rmSync(dir, { recursive: true, force: true });
}
if (failed) {
  console.log(`${failed} browser cases failed`);
  process.exit(1);
}
