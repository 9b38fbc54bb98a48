// What every browser test needs: a real notifyd (SQLite in a temporary
// directory, every port 0, subscriber tokens signed with a throwaway key),
// notifyctl against it (gRPC), Debian's headless Chromium, and a runner that
// gives each case its own browser context and fails it on any uncaught
// error in its pages.
import { spawn, execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, existsSync, readFileSync, rmSync, mkdirSync,
         writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

const execFileAsync = promisify(execFile);

// Starts notifyd and waits for its ports. `stop()` ends it and removes its
// directory.
export async function startNotifyd(notifyd, notifyctl) {
  const dir = mkdtempSync(join(tmpdir(), 'notifyd-browser-'));
  const ready = join(dir, 'ready.json');
  const keyFile = join(dir, 'token.key');
  writeFileSync(keyFile, randomBytes(32).toString('hex'), { mode: 0o600 });
  const server = spawn(notifyd, [
    '--store=sqlite', `--db=${join(dir, 'notify.db')}`,
    '--grpc_listen=127.0.0.1:0', '--http_listen=127.0.0.1:0',
    '--admin_listen=127.0.0.1:0', `--ready_file=${ready}`,
    `--token_key_file=${keyFile}`], { stdio: 'inherit' });
  let exited = false;
  server.once('exit', () => { exited = true; });
  let ports = null;
  for (let i = 0; i < 400 && !ports && !exited; i++) {
    if (existsSync(ready)) ports = JSON.parse(readFileSync(ready, 'utf8'));
    else await new Promise(r => setTimeout(r, 50));
  }
  const stop = async () => {
    server.kill('SIGTERM');
    if (!exited) await new Promise(r => server.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  };
  if (!ports) {
    await stop();
    throw new Error('notifyd did not start');
  }
  const ctlArgs = (args) => [`--server=127.0.0.1:${ports.grpc_port}`, ...args];
  const ctl = (...args) => execFileSync(notifyctl, ctlArgs(args)).toString();
  const ctlAsync = async (...args) =>
    (await execFileAsync(notifyctl, ctlArgs(args))).stdout.toString();
  const idOfSent = (out) => String(JSON.parse(out).notification.id);
  return {
    base: `http://127.0.0.1:${ports.http_port}`,
    admin: `http://127.0.0.1:${ports.admin_port}`,
    ctl,
    // Sends `data` to `user`'s inbox; the new id, as a decimal string.
    notify: (user, data, ...flags) => idOfSent(ctl('--json', ...flags, 'notify', user, data)),
    // The same without blocking this process (pages keep running meanwhile).
    notifyAsync: async (user, data) => idOfSent(await ctlAsync('--json', 'notify', user, data)),
    tokenFor: (user) => ctl('token', user, '--ttl=3600').trim(),
    stop,
  };
}

function launchChromium() {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update',
           '--disable-sync'],
  });
}

// Runs `cases` in Chromium (see runCases), then stops Chromium and `server`
// (startNotifyd); exits with status 1 when a case failed.
export async function runSuite(server, cases, { shotDir, onlyEnv, what }) {
  let browser;
  let failed = 0;
  try {
    browser = await launchChromium();
    failed = await runCases(browser, cases, { shotDir, onlyEnv });
  } finally {
    if (browser) await browser.close();
    await server.stop();
  }
  if (failed) {
    console.log(`${failed} of ${cases.length} ${what} cases failed`);
    process.exit(1);
  }
}

// Runs `cases` ([{name, fn(context, pageErrors)}]), each in a fresh context of
// `browser`, the ones named in $<onlyEnv> (comma-separated) when it is set.
// A failing case leaves screenshots of its pages in `shotDir`. Returns how
// many failed.
async function runCases(browser, cases, { shotDir, onlyEnv }) {
  const only = process.env[onlyEnv];
  let failed = 0;
  for (const { name, fn } of cases) {
    if (only && !only.split(',').includes(name)) continue;
    const context = await browser.newContext({ viewport: { width: 1000, height: 760 } });
    const pageErrors = [];
    context.on('page', p => p.on('pageerror', e => pageErrors.push(`${p.url()}: ${e.message}`)));
    const t0 = Date.now();
    try {
      await fn(context, pageErrors);
      assert.deepEqual(pageErrors, [], 'errors in the page');
      console.log(`ok   ${name} (${Date.now() - t0} ms)`);
    } catch (e) {
      failed++;
      console.log(`FAIL ${name}: ${e.stack || e}`);
      mkdirSync(shotDir, { recursive: true });
      let n = 0;
      for (const p of context.pages()) {
        await p.screenshot({ path: join(shotDir, `failed-${name.replace(/ /g, '-')}-${n++}.png`) })
            .catch(() => {});
      }
    } finally {
      await context.close();
    }
  }
  return failed;
}
