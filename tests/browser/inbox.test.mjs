// Headless Chromium opens the inbox page served by a real notifyd, sees a
// notification sent over gRPC arrive live, then is closed; a notification
// sent while no page was open appears when the page comes back, because the
// page resumes from the last id it saw. A reload shows the same list, and
// the page keeps only the newest 100.
//
// Usage: node inbox.test.mjs <notifyd> <notifyctl> <screenshot dir>
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, existsSync, readFileSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

const [notifyd, notifyctl, shotDir] = process.argv.slice(2);
const dir = mkdtempSync(join(tmpdir(), 'notifyd-browser-'));
const ready = join(dir, 'ready.json');
const server = spawn(notifyd, [
  `--db=${join(dir, 'notify.db')}`, '--grpc_listen=127.0.0.1:0',
  '--http_listen=127.0.0.1:0', '--admin_listen=127.0.0.1:0',
  `--ready_file=${ready}`,
  '--insecure_dev_identity'], { stdio: 'inherit' });

async function waitForPorts() {
  for (let i = 0; i < 400; i++) {
    if (existsSync(ready)) return JSON.parse(readFileSync(ready, 'utf8'));
    await new Promise(r => setTimeout(r, 50));
  }
  throw new Error('notifyd did not start');
}

function notify(grpcPort, user, data) {
  const out = execFileSync(notifyctl, [
    `--server=127.0.0.1:${grpcPort}`, '--json', 'notify', user, data]);
  return JSON.parse(out.toString()).notification.id;
}

let browser;
try {
  const ports = await waitForPorts();
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update',
           '--disable-sync'],
  });
  const context = await browser.newContext();
  const url = `http://127.0.0.1:${ports.http_port}/#user=browser-user`;

  let page = await context.newPage();
  await page.goto(url);
  await page.waitForFunction(
      () => /live/i.test(document.querySelector('#state')?.textContent ?? ''),
      null, { timeout: 10000 });

  const firstId = notify(ports.grpc_port, 'browser-user',
                         '{"title":"First from gRPC"}');
  await page.waitForSelector(`#list li[data-id="${firstId}"]`, { timeout: 10000 });
  assert.match(await page.textContent(`#list li[data-id="${firstId}"]`),
               /First from gRPC/);
  mkdirSync(shotDir, { recursive: true });
  await page.screenshot({ path: join(shotDir, 'inbox-live.png') });
  await page.close();

  // Sent while no page is open.
  const missedId = notify(ports.grpc_port, 'browser-user',
                          '{"title":"Sent while away"}');

  page = await context.newPage();
  await page.goto(url);
  await page.waitForSelector(`#list li[data-id="${missedId}"]`, { timeout: 10000 });
  // Newest first.
  const ids = await page.$$eval('#list li[data-id]',
                                items => items.map(li => Number(li.dataset.id)));
  assert.equal(ids[0], Number(missedId));
  await page.screenshot({ path: join(shotDir, 'inbox-resumed.png') });

  // A reload resumes too, keeps the list, and shows nothing twice.
  const thirdId = notify(ports.grpc_port, 'browser-user', '{"title":"Third"}');
  await page.waitForSelector(`#list li[data-id="${thirdId}"]`, { timeout: 10000 });
  await page.reload();
  await page.waitForFunction(
      () => /live/i.test(document.querySelector('#state')?.textContent ?? ''),
      null, { timeout: 10000 });
  const afterReload = await page.$$eval('#list li[data-id]',
                                        items => items.map(li => li.dataset.id));
  // What was shown before the reload is shown again, newest first, once.
  assert.deepEqual(afterReload.map(Number),
                   [Number(thirdId), Number(missedId), Number(firstId)],
                   `list after reload: ${afterReload}`);
  assert.match(await page.textContent(`#list li[data-id="${firstId}"]`),
               /First from gRPC/);
  // The page shows and keeps the newest 100: 100 more push the first three
  // out, on screen and after a reload.
  const more = [];
  for (let i = 0; i < 100; i++) {
    more.push(Number(notify(ports.grpc_port, 'browser-user', `{"n":${i}}`)));
  }
  await page.waitForSelector(`#list li[data-id="${more[99]}"]`, { timeout: 10000 });
  const newest100 = more.slice().reverse();
  const shownIds = () => page.$$eval('#list li[data-id]',
                                     items => items.map(li => Number(li.dataset.id)));
  assert.deepEqual(await shownIds(), newest100);
  await page.reload();
  await page.waitForFunction(
      () => /live/i.test(document.querySelector('#state')?.textContent ?? ''),
      null, { timeout: 10000 });
  assert.deepEqual(await shownIds(), newest100);
  const kept = await page.evaluate(
      () => JSON.parse(localStorage.getItem('notifyd.inbox.browser-user'))
                .map(item => Number(item.id)));
  assert.deepEqual(kept, newest100);
  console.log('browser test passed: ids', firstId, missedId, thirdId,
              `and ${more[0]}..${more[99]}`);
} finally {
  if (browser) await browser.close();
  server.kill('SIGTERM');
  await new Promise(r => server.once('exit', r));
  rmSync(dir, { recursive: true, force: true });
}
