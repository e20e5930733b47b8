// The machinery under the journey: a real `tessera serve` in a temporary folder of its own, a
// real Chromium (Debian's, never a downloaded one), pages that record every console error,
// uncaught exception, failed request, unexpected HTTP error and CSP violation, and steps that
// print one line each, take a screenshot and stop the run at the first failure.

import { spawn, spawnSync } from 'node:child_process';
import { cpSync, createWriteStream, mkdirSync, mkdtempSync, readdirSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { chromium } from 'playwright-core';

export const REPO = resolve(import.meta.dirname, '..', '..');

// Every knob, from the environment (.ci/browser sets TESSERA_BIN after building it).
export const settings = {
  bin: resolve(REPO, process.env.TESSERA_BIN || 'target/debug/tessera'),
  chromium: process.env.STUDIO_CHROMIUM || '/usr/bin/chromium',
  screenshots: resolve(REPO, process.env.STUDIO_SCREENSHOTS || 'target/studio-screenshots'),
  // Keep the server's temporary folder (images, database, log) for a look after the run.
  keep: process.env.STUDIO_KEEP === '1',
  headed: process.env.STUDIO_HEADED === '1',
  // How long one wait (an element, a response) may take before the step fails.
  timeout: Number(process.env.STUDIO_TIMEOUT_MS || 20000),
};

// ---------------------------------------------------------------------------------------------
// The server

// Starts `tessera serve` on a port the system picks (never one of the dev servers'), with a
// copy of sample-images as the image root and its own data and cache folders. `users` are made
// with the command line first: [{ email, name, role, password }].
export async function startServer(users) {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-browser-'));
  let child = null;
  let exited = null;
  // Stop it and clear its folder whatever happens to this process (an exception, Ctrl-C).
  const kill = () => {
    if (child && exited === null) child.kill('SIGKILL');
    if (!settings.keep) rmSync(dir, { recursive: true, force: true });
  };
  const onSignal = (signal) => process.exit(signal === 'SIGINT' ? 130 : 143);
  process.on('exit', kill);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const forget = () => {
    process.off('exit', kill);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };

  const root = join(dir, 'images');
  const logFile = join(dir, 'server.log');
  const log = [];
  let url;
  try {
    cpSync(join(REPO, 'sample-images'), root, { recursive: true });
    const folders = ['--root', root, '--data-dir', join(dir, 'data'), '--cache-dir', join(dir, 'cache')];
    for (const u of users) {
      const made = spawnSync(settings.bin, [...folders, 'users', 'add', '--email', u.email, '--name', u.name,
        '--role', u.role], { env: { ...process.env, TESSERA_PASSWORD: u.password }, encoding: 'utf8' });
      if (made.status !== 0) {
        throw new Error(`tessera users add ${u.email} failed (${made.status}): ${made.stderr || made.error}`);
      }
    }
    const logStream = createWriteStream(logFile);
    child = spawn(settings.bin, [...folders, 'serve', '--bind', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (text) => {
      logStream.write(text);
      log.push(text);
      if (log.length > 400) log.splice(0, 200);
    });
    child.on('exit', (code, signal) => { exited = signal || code; });
    url = await new Promise((done, fail) => {
      let out = '';
      const timer = setTimeout(() => fail(new Error('tessera did not say where it listens within 20 s')), 20000);
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (text) => {
        out += text;
        const m = /^tessera listening on (http:\/\/\S+)$/m.exec(out);
        if (m) { clearTimeout(timer); done(m[1]); }
      });
      child.on('exit', (code) => {
        clearTimeout(timer);
        fail(new Error(`tessera serve exited (${code}) before listening:\n${log.join('')}`));
      });
    });
  } catch (e) {
    kill();
    forget();
    throw e;
  }
  // The line names the IIIF service (http://127.0.0.1:PORT/iiif/3); the Studio and the admin
  // API live at the root of the same origin.
  return {
    url: new URL(url).origin,
    iiif: url.replace(/\/$/, ''),
    dir,
    logTail: (lines = 20) => log.join('').split('\n').filter(Boolean).slice(-lines).join('\n'),
    async stop() {
      forget();
      if (exited === null) {
        const gone = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await gone;
        clearTimeout(timer);
      }
      if (!settings.keep) rmSync(dir, { recursive: true, force: true });
      else console.log(`  server folder kept: ${dir} (log: ${logFile})`);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The browser

// Chromium from Debian, never a download. Playwright gives the launch a fresh temporary
// profile (user data dir) of its own and deletes it on close; each person in the journey
// gets a separate context (own cookies and storage), as on separate machines.
export async function launchBrowser() {
  return chromium.launch({
    executablePath: settings.chromium,
    headless: !settings.headed,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

// Everything that went wrong in any page, in order; each step looks at what arrived during it.
const problems = [];
// What the current step expects to fail: [{ status, url: RegExp, method? }].
let expected = [];

function isExpected(status, method, url) {
  return expected.some((e) => e.status === status && e.url.test(url) && (!e.method || e.method === method));
}

// Records what a page does wrong. `who` names the page in messages ("designer").
function watch(page, who) {
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const text = msg.text();
    // Chromium also logs every HTTP error and network failure to the console; those are judged
    // below from the response itself (a step may expect a 403), not from the log line.
    if (text.startsWith('Failed to load resource:')) return;
    const where = msg.location()?.url ? ` (${msg.location().url}:${msg.location().lineNumber})` : '';
    problems.push(`${who}: console error: ${text}${where}`);
  });
  page.on('pageerror', (err) => problems.push(`${who}: uncaught exception: ${err.message}`));
  page.on('requestfailed', (req) => {
    const why = req.failure()?.errorText || 'failed';
    // A request the page itself gave up on (an aborted preview superseded by a newer one, an
    // image whose <img> was replaced) is not a failure of the server.
    if (why === 'net::ERR_ABORTED') return;
    problems.push(`${who}: request failed: ${req.method()} ${req.url()} (${why})`);
  });
  page.on('response', (res) => {
    const status = res.status();
    if (status < 400) return;
    const method = res.request().method();
    if (isExpected(status, method, res.url())) return;
    problems.push(`${who}: unexpected HTTP ${status} ${res.statusText()} for ${method} ${res.url()}`);
  });
}

// The CSP check: every violation the page reports reaches the test at once (a binding
// survives navigations; the init script runs before the page's own scripts).
const CSP_LISTENER = `document.addEventListener('securitypolicyviolation', (e) => {
  window.__tesseraCspViolation?.({ directive: e.violatedDirective, blocked: e.blockedURI,
    source: e.sourceFile, line: e.lineNumber, sample: e.sample });
});`;

// A signed-out browser for one person: its own context, one page, everything watched.
export async function openAs(browser, baseURL, who, { clipboard = false } = {}) {
  const context = await browser.newContext({ baseURL, viewport: { width: 1280, height: 800 } });
  context.setDefaultTimeout(settings.timeout);
  if (clipboard) await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: baseURL });
  await context.exposeBinding('__tesseraCspViolation', ({ page }, v) => {
    problems.push(`${who}: CSP violation on ${page.url()}: ${v.directive} blocked ${v.blocked || '(inline)'}`
      + `${v.source ? ` at ${v.source}:${v.line}` : ''}${v.sample ? ` [${v.sample}]` : ''}`);
  });
  await context.addInitScript(CSP_LISTENER);
  const page = await context.newPage();
  watch(page, who);
  trackImages(page);
  trackInFlight(page);
  return page;
}

// Bodies of the personalized images a page received (draft previews, published renders),
// by URL, so a step can compare what was drawn before and after an edit: a draft's URL
// renders whatever the draft is now, so fetching an old URL again would not tell.
function trackImages(page) {
  page.imageBodies = new Map();
  page.on('response', async (res) => {
    if (!/\/iiif\/3\/tpl~/.test(res.url()) || res.status() !== 200) return;
    try { page.imageBodies.set(res.url(), await res.body()); } catch { /* page gone */ }
  });
}

// Requests a page has in flight, for waiting until a screen has finished loading.
function trackInFlight(page) {
  let count = 0;
  let waiters = [];
  const changed = () => { for (const w of waiters) w(count); };
  page.on('request', () => { count += 1; changed(); });
  const done = () => { count = Math.max(0, count - 1); changed(); };
  page.on('requestfinished', done);
  page.on('requestfailed', done);
  page.inFlight = () => count;
  page.onInFlight = (fn) => { waiters.push(fn); return () => { waiters = waiters.filter((w) => w !== fn); }; };
}

// Resolves once the page has had no request in flight for `quietMs` (a screen's requests
// often come in a chain: the list, then its thumbnails).
export function settled(page, { quietMs = 300, timeout = settings.timeout } = {}) {
  return new Promise((done, fail) => {
    let timer = null;
    const deadline = setTimeout(() => { off(); clearTimeout(timer); fail(new Error(`page still loading after ${timeout} ms`)); }, timeout);
    const check = (n) => {
      clearTimeout(timer);
      if (n === 0) timer = setTimeout(() => { off(); clearTimeout(deadline); done(); }, quietMs);
    };
    const off = page.onInFlight(check);
    check(page.inFlight());
  });
}

// ---------------------------------------------------------------------------------------------
// Steps

const started = Date.now();
let stepNo = 0;
let stepSlug = '';
let lastShot = null;

export function prepareScreenshots() {
  mkdirSync(settings.screenshots, { recursive: true });
  // Only this run's pictures in the folder, so whoever looks sees no stale ones; nothing else
  // there is touched.
  for (const f of readdirSync(settings.screenshots)) {
    if (/^\d\d-[a-z0-9-]+\.png$/.test(f)) unlinkSync(join(settings.screenshots, f));
  }
  return shown(settings.screenshots);
}

// A path as short as it can be said: relative to where the run started, unless that climbs out.
const shown = (path) => {
  const r = relative(process.cwd(), path);
  return r && !r.startsWith('..') ? r : path;
};

const slug = (s) => s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 48);

export class StepFailure extends Error {}

// Runs one step: `body()` against `page`, then a screenshot, then no new problems allowed
// (console errors, exceptions, failed requests, HTTP errors not in `allow`, CSP violations).
// `allow`: [{ status, url: RegExp, method? }] — the HTTP errors this step expects.
export async function step(title, page, body, { allow = [] } = {}) {
  stepNo += 1;
  const no = String(stepNo).padStart(2, '0');
  stepSlug = `${no}-${slug(title)}`;
  const t0 = Date.now();
  const seen = problems.length;
  expected = allow;
  let error = null;
  let result;
  try {
    result = await body();
  } catch (e) {
    error = e;
  }
  const shot = join(settings.screenshots, `${stepSlug}.png`);
  if (page && !page.isClosed()) {
    try {
      await page.screenshot({ path: shot, fullPage: true });
      lastShot = shot;
    } catch { /* the failure below says more than a missing picture */ }
  }
  const fresh = problems.slice(seen);
  expected = [];
  const secs = ((Date.now() - t0) / 1000).toFixed(1);
  if (error || fresh.length) {
    console.log(`  ✗ ${no} ${title} (${secs} s)`);
    const reason = [error ? (error.message || String(error)).split('\n').slice(0, 12).join('\n') : null, ...fresh]
      .filter(Boolean).map((l) => `      ${l.replace(/\n/g, '\n      ')}`).join('\n');
    throw new StepFailure(`step ${no} "${title}" failed:\n${reason}\n    last screenshot: ${lastShot ? shown(lastShot) : '(none)'}`);
  }
  console.log(`  ✓ ${no} ${title} (${secs} s)`);
  return result;
}

// A picture of a moment inside the current step (NN-step-what.png), besides the one at its end.
export async function snapshot(page, what) {
  const shot = join(settings.screenshots, `${stepSlug}-${slug(what)}.png`);
  await page.screenshot({ path: shot, fullPage: true });
  lastShot = shot;
}

export const elapsed = () => ((Date.now() - started) / 1000).toFixed(1);

// Asserts, with the message a reader needs.
export function check(condition, message) {
  if (!condition) throw new Error(message);
}

