// SPDX-License-Identifier: MIT
// ui.test.mjs - the web UI in a real headless Chromium (Debian's, driven by playwright-core)
// against the real `poolpatch serve` and `poolpatch sim` started by run.sh.  Every check compares
// the page with the daemon's API or with the pool state read from the simulator (GET /sim/state,
// XAPI), never with what the UI says of itself.  A screenshot of each step goes to $ARTIFACTS.
// Steps: token login, Check for Updates Now, both views, sort, filters (and the URL keeping
// them), dismiss / restore, CSV bytes, Pools' "N updates missing", a pool's live-patching switch
// (off and on again, judged from the pool's own pool.live_patching_disabled), the check interval (PUT
// /settings), an https pool added through the form after confirming its certificate's fingerprint
// (and later, when its master moves to a host with an unconfirmed certificate, confirmed again from
// the Pools page),
// the Install Update wizard (policy `return` by default) through Prechecks with Resolve All to a
// live rollout compared with GET /rollouts/{id} every second and the pool's phases (Resolve All,
// upload, restore) against the event stream, a halted rollout's Retry (a migration fault), the
// cancel of a running rollout and of a halted one (a precheck fault), a cancel that fails
// (cancel_failed, its findings, Retry cancel), the Rolling Pool Upgrade wizard (automated to
// done, manual with one host skipped, judged from the simulator), an unreachable pool (a
// partition fault), and at 390 px (no sideways scrolling) and 1280 px axe-core in both themes.
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const AXE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const URL0 = process.env.SERVE_URL;
const TOKEN = process.env.SERVE_TOKEN_VALUE;
const SHOTS = process.env.ARTIFACTS;
const MASTERS = Object.fromEntries((process.env.SIM_MASTERS || '').trim().split(/\s+/).map((x) => x.split('=')));
const LAUNCH = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let shot = 0;
let failures = 0;
const t0 = Date.now();

function check(cond, what) {
  if (!cond) throw new Error(what);
}

// A screenshot in the middle of a step.
async function snap(page, name) {
  shot++;
  await page.screenshot({ path: path.join(SHOTS, String(shot).padStart(2, '0') + '-' + name + '.png'), fullPage: true }).catch(() => {});
}

// BROWSER_ONLY (a regular expression, for working on a step): run only the steps it matches
// (token login always runs); the others print "skip".  make check never sets it.
const ONLY = process.env.BROWSER_ONLY ? new RegExp(process.env.BROWSER_ONLY, 'i') : null;

// One named step: run it, screenshot the page, print ok / FAIL (a failure stops the run).
async function step(page, name, fn) {
  if (ONLY && name !== 'token login' && !ONLY.test(name)) { console.log(`skip - ${name} (BROWSER_ONLY)`); return; }
  const started = Date.now();
  try {
    await fn();
    console.log(`ok - ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  } catch (e) {
    failures++;
    console.log(`FAIL - ${name}: ${e.stack || e}`);
  } finally {
    shot++;
    const f = path.join(SHOTS, String(shot).padStart(2, '0') + '-' + name.replace(/[^a-z0-9]+/gi, '-').toLowerCase() + '.png');
    await page.screenshot({ path: f, fullPage: true }).catch(() => {});
  }
  if (failures) throw new Error('STOP');
}

// A zip of one stored (uncompressed) entry, as a vendor's update zip looks to the daemon.
function storedZip(name, data) {
  const table = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  let crc = 0xffffffff;
  for (const b of data) crc = table[(crc ^ b) & 0xff] ^ (crc >>> 8);
  crc = (crc ^ 0xffffffff) >>> 0;
  const nm = Buffer.from(name);
  const local = Buffer.alloc(30), central = Buffer.alloc(46), end = Buffer.alloc(22);
  local.writeUInt32LE(0x04034b50, 0); local.writeUInt16LE(20, 4); local.writeUInt16LE(0x21, 12);
  local.writeUInt32LE(crc, 14); local.writeUInt32LE(data.length, 18); local.writeUInt32LE(data.length, 22);
  local.writeUInt16LE(nm.length, 26);
  central.writeUInt32LE(0x02014b50, 0); central.writeUInt16LE(20, 4); central.writeUInt16LE(20, 6);
  central.writeUInt16LE(0x21, 14); central.writeUInt32LE(crc, 16); central.writeUInt32LE(data.length, 20);
  central.writeUInt32LE(data.length, 24); central.writeUInt16LE(nm.length, 28);
  end.writeUInt32LE(0x06054b50, 0); end.writeUInt16LE(1, 8); end.writeUInt16LE(1, 10);
  end.writeUInt32LE(46 + nm.length, 12); end.writeUInt32LE(30 + nm.length + data.length, 16);
  return Buffer.concat([local, nm, data, central, nm, end]);
}

// Register a pool as a script would: POST /pools answers once the pool is registered; its objects
// (what plans, checks and the wizards read) arrive a moment after the login: wait for them (GET
// /pools shows name_label then).
async function addPool(name, url) {
  await api('POST', '/pools', { name, url, username: 'root', password: 'xenroot' });
  for (let i = 0; ; i++) {
    const ps = await api('GET', '/pools');
    if (ps.pools.some((p) => p.name === name && p.connected && p.name_label !== undefined)) return;
    check(i < 200, name + ' connected and its objects read within 20 s');
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function api(method, p, body) {
  const r = await fetch(URL0 + '/api/v1' + p, { method, headers: { Authorization: 'Bearer ' + TOKEN,
    ...(body ? { 'Content-Type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
  if (!r.ok) throw new Error(`${method} ${p}: ${r.status} ${await r.text()}`);
  if (r.status === 204) return null;
  const ct = r.headers.get('content-type') || '';
  return ct.includes('json') ? r.json() : Buffer.from(await r.arrayBuffer());
}

// GET (or POST body to) a simulator's /sim/... route; base: one of its masters' URLs.  A request
// that never reached the simulator (node's fetch reusing a keep-alive connection the simulator
// closed while a step waited) is sent again, at most three times.
async function simAt(base, p, body) {
  const url = base.replace(/\/?$/, '/') + p.replace(/^\//, '');
  const init = body ? { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) } : {};
  let r;
  for (let tries = 1; ; tries++) {
    try {
      r = await fetch(url, init);
      break;
    } catch (e) {
      if (tries >= 3 || !(e instanceof TypeError)) throw new Error(`sim ${p}: ${e.message} (${e.cause && e.cause.code})`);
      await new Promise((res) => setTimeout(res, 300));
    }
  }
  if (!r.ok) throw new Error(`sim ${p}: ${r.status} ${await r.text()}`);
  return r.json();
}

const sim = (p, body) => simAt(MASTERS.prod, p, body);

// The VMs resident on a pool's hosts in a /sim/state, sorted (each running VM once).
const residentVms = (st, pool) => st.pools.filter((p) => !pool || p.name === pool).flatMap((p) => p.hosts.flatMap((x) => x.resident_vms || [])).sort();

async function xapi(pool, method, params) {
  const r = await fetch(MASTERS[pool] + 'jsonrpc', { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', method, params, id: 1 }) });
  const j = await r.json();
  if (j.error) throw new Error(`${method}: ${JSON.stringify(j.error)}`);
  return j.result;
}

// The pool's live-patching switch as the pool itself has it (pool.live_patching_disabled over XAPI).
async function poolLivePatchingOff(pool) {
  const s = await xapi(pool, 'session.login_with_password', ['root', 'xenroot']);
  const [p] = await xapi(pool, 'pool.get_all', [s]);
  return xapi(pool, 'pool.get_live_patching_disabled', [s, p]);
}

// The pool's other_config as XenCenter would read it (dismissals live there).
async function poolOtherConfig(pool) {
  const s = await xapi(pool, 'session.login_with_password', ['root', 'xenroot']);
  const [p] = await xapi(pool, 'pool.get_all', [s]);
  return xapi(pool, 'pool.get_other_config', [s, p]);
}

// The https simulator's state (its self-signed certificate is the trust anchor).
function simTlsState() {
  const u = new URL(process.env.TLS_POOL_URL);
  return new Promise((resolve, reject) => {
    https.get({ host: u.hostname, port: u.port, path: '/sim/state', ca: fs.readFileSync(process.env.TLS_POOL_PEM) }, (res) => {
      let b = '';
      res.on('data', (d) => { b += d; });
      res.on('end', () => { try { resolve(JSON.parse(b)); } catch (e) { reject(e); } });
    }).on('error', reject);
  });
}

// A request to the https simulator's host at addr, trusting that host's own certificate (as
// written in --tls-dir now): POST with a JSON body, or GET.  Resolves with the JSON answer.
function tlsAt(addr, p, body) {
  const u = new URL(process.env.TLS_POOL_URL);
  const data = body ? JSON.stringify(body) : null;
  return new Promise((resolve, reject) => {
    const rq = https.request({ host: addr, port: u.port, path: p, method: data ? 'POST' : 'GET',
      headers: data ? { 'Content-Type': 'application/json' } : {},
      ca: fs.readFileSync(path.join(path.dirname(process.env.TLS_POOL_PEM), addr + '.pem')) }, (res) => {
      let b = '';
      res.on('data', (d) => { b += d; });
      res.on('end', () => { try { resolve(JSON.parse(b)); } catch (e) { reject(new Error(`${p} at ${addr}: ${res.statusCode} ${b}`)); } });
    });
    rq.on('error', reject);
    rq.end(data || undefined);
  });
}

// A JSON-RPC call to the https simulator's host at addr; the result, or an error naming the call.
async function tlsXapi(addr, method, params) {
  const j = await tlsAt(addr, '/jsonrpc', { jsonrpc: '2.0', method, params, id: 1 });
  if (j.error) throw new Error(`${method}: ${JSON.stringify(j.error)}`);
  return j.result;
}

// The SHA-256 fingerprint (AB:CD:…) of the certificate the https simulator's host addr has now.
const tlsFingerprint = (addr) => new crypto.X509Certificate(fs.readFileSync(path.join(path.dirname(process.env.TLS_POOL_PEM), addr + '.pem'))).fingerprint256;

// The daemon's event stream, collected from node while a step runs (the truth the page's pool
// phases are compared with).  stop() ends it.
function collectEvents() {
  const events = [];
  const ac = new AbortController();
  const done = (async () => {
    const r = await fetch(URL0 + '/api/v1/events', { headers: { Authorization: 'Bearer ' + TOKEN }, signal: ac.signal });
    const rd = r.body.getReader();
    let buf = '';
    for (;;) {
      const { value, done: end } = await rd.read();
      if (end) break;
      buf += Buffer.from(value).toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (line.startsWith('data:')) { try { events.push(JSON.parse(line.slice(5))); } catch (_) { /* keep-alive */ } }
      }
    }
  })().catch(() => {});
  return { events, stop: async () => { ac.abort(); await done; } };
}

const simHost = (st, pool, host) => st.pools.find((p) => p.name === pool).hosts.find((x) => x.name === host);

async function waitFor(what, fn, seconds) {
  const end = Date.now() + seconds * 1000;
  let last;
  while (Date.now() < end) {
    last = await fn();
    if (last) return last;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('timed out (' + seconds + ' s) waiting for ' + what);
}

// A catalog date as milliseconds: ISO 8601, also XAPI's compact "20251104T09:00:00Z" (which
// Date.parse cannot read).
function when(t) {
  const m = String(t || '').match(/^(\d{4})(\d{2})(\d{2})T(.*)$/);
  return Date.parse(m ? `${m[1]}-${m[2]}-${m[3]}T${m[4]}` : t) || 0; // undated: the epoch, as the page
}

const rowIds = (page, attr) => page.$$eval(`tr[${attr}]`, (rs, a) => rs.map((r) => r.getAttribute(a)), attr);
const text = (page, sel) => page.textContent(sel);
const hashParams = async (page) => new URLSearchParams((await page.evaluate(() => location.hash)).split('?')[1] || '');

async function gotoHash(page, hash, sel) {
  await page.evaluate((hh) => { location.hash = hh; }, hash);
  await page.waitForSelector(sel || '#main h2');
}

// ------------------------------------------------------------------ the rollout page vs the API

// The page's view of a rollout: header counters and, per host, state and percent.
async function pageRollout(page) {
  return page.evaluate(() => ({
    state: document.getElementById('rollout-state')?.textContent,
    header: document.getElementById('rollout-header')?.textContent,
    hosts: [...document.querySelectorAll('tr[data-host]')].map((r) => ({ pool: r.dataset.pool, name: r.dataset.host,
      state: r.dataset.state, percent: Number(r.dataset.percent),
      aria: Number(r.querySelector('[role=progressbar]').getAttribute('aria-valuenow')),
      shown: r.querySelector('.pct').textContent })),
  }));
}

function sameAsApi(pg, r) {
  const c = r.counters || {};
  const m = (pg.header || '').match(/Hosts (\d+)\/(\d+) done.*?(\d+) updates applied · (\d+) migrations · (\d+) reboots · (\d+) toolstack restarts · (\d+) live-patched/);
  if (!m) return 'header not understood: ' + pg.header;
  const want = [c.hosts_done, c.hosts_total, c.updates_applied, c.migrations, c.reboots, c.toolstack_restarts, c.live_patched].map((x) => x ?? 0);
  if (m.slice(1).map(Number).join() !== want.join()) return `header ${m.slice(1).join()} vs API ${want.join()}`;
  if (pg.state !== r.state) return `state ${pg.state} vs API ${r.state}`;
  for (const p of r.pools || []) {
    for (const x of p.hosts || []) {
      const y = pg.hosts.find((z) => z.pool === p.name && z.name === x.name);
      const pct = Math.round(x.percent ?? 0);
      if (!y) return `host ${x.name} not on the page`;
      if (y.state !== x.state || y.percent !== pct || y.aria !== pct || y.shown !== pct + '%') {
        return `host ${x.name}: page ${y.state} ${y.percent}% (aria ${y.aria}, shown ${y.shown}) vs API ${x.state} ${pct}%`;
      }
    }
  }
  return null;
}

// Compare the page with GET /rollouts/{id} every second until the rollout ends; a mismatch may
// last at most 3 s (the page re-reads on each event and every second).  Returns the samples.
async function followAndCompare(page, id, seconds) {
  const samples = [];
  const end = Date.now() + seconds * 1000;
  for (;;) {
    let r, pg, why, tries = 0;
    const t = Date.now();
    do {
      if (tries++) await new Promise((res) => setTimeout(res, 200));
      r = await api('GET', '/rollouts/' + id);
      pg = await pageRollout(page);
      why = sameAsApi(pg, r);
    } while (why && Date.now() - t < 3000);
    check(!why, 'the page differs from GET /rollouts/' + id + ' for 3 s: ' + why);
    samples.push(r);
    if (samples.length === 5 || (r.state === 'running' && samples.length % 10 === 0)) await snap(page, 'live-rollout-' + samples.length + 's');
    if (['done', 'halted', 'cancelled', 'failed', 'cancel_failed'].includes(r.state)) return samples;
    check(Date.now() < end, `rollout ${id} still ${r.state} after ${seconds} s`);
    await new Promise((res) => setTimeout(res, Math.max(0, 1000 - (Date.now() - t))));
  }
}

async function newestRollout() {
  return (await api('GET', '/rollouts')).rollouts[0];
}

// ------------------------------------------------------------------ accessibility and layout

async function axe(page, where, onlyContrast) {
  await page.addScriptTag({ content: AXE });
  const res = await page.evaluate(async (only) => window.axe.run(document, Object.assign({ resultTypes: ['violations'] },
    only ? { runOnly: { type: 'rule', values: ['color-contrast'] } } : {})), onlyContrast);
  const bad = res.violations.filter((v) => ['critical', 'serious'].includes(v.impact));
  check(!bad.length, `axe on ${where}: ` + bad.map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join('; ')}`).join(' | '));
  return res.violations.length;
}

async function noOverflow(page, where) {
  const w = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
  check(w[0] <= w[1], `${where}: the page is ${w[0]} px wide in a ${w[1]} px window`);
}

// ------------------------------------------------------------------ the run

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: LAUNCH });
try {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true, colorScheme: 'dark' });
  const page = await ctx.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('dialog', (d) => d.accept());

  await step(page, 'token login', async () => {
    await page.goto(URL0 + '/');
    await page.waitForSelector('#token');
    check((await page.title()).includes('poolpatch'), 'title');
    await page.fill('#token', 'wrong-token');
    await page.click('#token-form button[type=submit]');
    await page.waitForSelector('#token-form .warn', { timeout: 10000 });
    await page.fill('#token', TOKEN);
    await page.click('#token-form button[type=submit]');
    await page.waitForSelector('#updates-body');
    await page.waitForSelector('#live.on', { timeout: 10000 });
    check(await page.evaluate(() => document.activeElement && document.activeElement.tagName) === 'H2', 'focus on the page heading');
    const fav = await fetch(URL0 + '/favicon.svg');
    check(fav.ok && (fav.headers.get('content-type') || '').includes('svg'), 'favicon served');
  });

  let byU;
  await step(page, 'check for updates now', async () => {
    await page.click('text=Check for Updates Now');
    await page.waitForSelector('#banner:has-text("Checked")', { timeout: 60000 });
    byU = await api('GET', '/updates?view=by-update');
    const n = byU.updates.length;
    check(n >= 5, 'the demo catalog should give several updates, got ' + n);
    check((await text(page, '#banner')).includes(`${n} updates available`), 'banner count: ' + await text(page, '#banner'));
    check((await rowIds(page, 'data-update')).length === n, 'By Update rows = API rows');
    const sev = byU.updates.find((u) => u.severity);
    check(sev, 'the demo has an XS8 update with a severity');
    check((await text(page, `tr[data-update="${sev.id}"]`)).includes('Severity: ' + sev.severity), 'XS8 severity shown');
  });

  await step(page, 'by update sorted by date and by pool', async () => {
    const top = new Set(byU.updates.filter((u) => ['release', 'cumulative'].includes(u.kind)).map((u) => u.id));
    const dateOf = new Map(byU.updates.map((u) => [u.id, when(u.date)]));
    let ids = (await rowIds(page, 'data-update')).filter((i) => !top.has(i));
    for (let i = 1; i < ids.length; i++) check(dateOf.get(ids[i - 1]) >= dateOf.get(ids[i]), 'date order at row ' + i);
    await page.selectOption('select:near(:text("Sort"))', 'pool');
    await page.waitForFunction(() => location.hash.includes('sort=pool'));
    const poolOf = new Map(byU.updates.map((u) => [u.id, [...u.pools].sort()[0]]));
    ids = (await rowIds(page, 'data-update')).filter((i) => !top.has(i));
    for (let i = 1; i < ids.length; i++) check(poolOf.get(ids[i - 1]) <= poolOf.get(ids[i]), 'pool order at row ' + i + ': ' + ids);
    check(ids.join() !== [...ids].sort((a, b) => dateOf.get(b) - dateOf.get(a)).join(), 'sort by pool changed the order');
  });

  await step(page, 'by server sorted by pool and by date', async () => {
    await page.click('button.tab:has-text("By Server")');
    await page.waitForSelector('#servers-table');
    const q = await hashParams(page);
    check(q.get('view') === 'by-server' && q.get('sort') === 'pool', 'view and sort in the URL: ' + q);
    const byS = await api('GET', '/updates?view=by-server');
    let rows = await rowIds(page, 'data-server');
    check(rows.length === byS.servers.length, `By Server rows ${rows.length} vs API ${byS.servers.length}`);
    const pools = rows.map((r) => r.split('/')[0]);
    check(pools.join() === [...pools].sort().join(), 'pool order: ' + pools);
    await page.selectOption('select:near(:text("Sort"))', 'date');
    await page.waitForFunction(() => location.hash.includes('sort=date'));
    const dateOf = new Map(byU.updates.map((u) => [u.id, when(u.date)]));
    const newest = new Map(byS.servers.map((s) => [s.pool + '/' + s.server, Math.max(0, ...s.required.map((r) => dateOf.get(r.id) || 0))]));
    rows = await rowIds(page, 'data-server');
    for (let i = 1; i < rows.length; i++) check(newest.get(rows[i - 1]) >= newest.get(rows[i]), 'date order at ' + rows[i]);
  });

  await step(page, 'filters by pool server and date kept in the URL', async () => {
    await page.selectOption('select:near(:text("Pool"))', 'prod');
    await page.waitForFunction(() => location.hash.includes('pool=prod'));
    let rows = await rowIds(page, 'data-server');
    check(rows.length && rows.every((r) => r.startsWith('prod/')), 'pool filter: ' + rows);
    await page.selectOption('select:near(:text("Server"))', 'prod-2');
    rows = await rowIds(page, 'data-server');
    check(rows.join() === 'prod/prod-2', 'server filter: ' + rows);
    await page.reload();
    await page.waitForSelector('#servers-table');
    check((await rowIds(page, 'data-server')).join() === 'prod/prod-2', 'filters survive a reload');
    check(await page.inputValue('select:near(:text("Server"))') === 'prod-2', 'the select shows the filter');
    await gotoHash(page, '#/updates?view=by-update&date=old', '#updates-body');
    const old = byU.updates.filter((u) => Date.now() - when(u.date) > 365 * 86400000).map((u) => u.id).sort();
    // '#updates-body' may still be the By Server page's: wait (10 s at most) for the rows to settle
    let oldRows = [];
    await waitFor('the date filter', async () => {
      oldRows = (await rowIds(page, 'data-update')).sort();
      return oldRows.join() === old.join();
    }, 10).catch(() => {});
    check(oldRows.join() === old.join(), `date filter: older than 12 months: page ${oldRows} vs API ${old}`);
    await gotoHash(page, '#/updates?view=by-update&pool=lab', '#updates-body');
    const lab = byU.updates.filter((u) => u.pools.includes('lab')).map((u) => u.id).sort();
    check((await rowIds(page, 'data-update')).sort().join() === lab.join(), 'By Update pool filter');
  });

  await step(page, 'dismiss and restore', async () => {
    await gotoHash(page, '#/updates?view=by-update', '#updates-table');
    const u = byU.updates.find((x) => x.source !== 'repository' && x.kind !== 'release' && x.pools.includes('prod'));
    await page.check(`tr[data-update="${u.id}"] input[type=checkbox]`);
    await page.click('button:has-text("Dismiss Selected")');
    await page.waitForSelector('#dismissed-line');
    check((await text(page, '#dismissed-line')).startsWith('1 dismissed'), 'the dismissed line: ' + await text(page, '#dismissed-line'));
    check(!(await rowIds(page, 'data-update')).includes(u.id), 'the dismissed row is gone');
    check(String((await poolOtherConfig('prod'))['XenCenter.IgnorePatches'] || '').includes(u.id), 'stored in the pool as XenCenter stores it');
    await page.click('#dismissed-line button:has-text("Restore")');
    await page.waitForSelector('#dismissed-line', { state: 'detached' });
    check((await rowIds(page, 'data-update')).includes(u.id), 'restored row back');
    check(!String((await poolOtherConfig('prod'))['XenCenter.IgnorePatches'] || '').includes(u.id), 'removed from the pool');
    await page.click('button:has-text("Dismiss All")');
    await page.waitForSelector('#dismissed-line');
    check((await text(page, '#dismissed-line')).startsWith(`${byU.updates.length} dismissed`), 'Dismiss All count: ' + await text(page, '#dismissed-line'));
    check(!(await text(page, '#updates-body')).includes('No updates available'), 'not "No updates available" after Dismiss All');
    await page.click('#dismissed-line button:has-text("Restore")');
    await page.waitForSelector('#updates-table');
    check((await rowIds(page, 'data-update')).length === byU.updates.length, 'all restored');
  });

  await step(page, 'export csv byte for byte', async () => {
    for (const view of ['by-update', 'by-server']) {
      await gotoHash(page, '#/updates?view=' + view, view === 'by-update' ? '#updates-table' : '#servers-table');
      const [dl] = await Promise.all([page.waitForEvent('download'), page.click('button:has-text("Export CSV")')]);
      const got = fs.readFileSync(await dl.path());
      const want = await api('GET', '/updates/export.csv?view=' + view);
      check(Buffer.compare(got, want) === 0, `CSV ${view}: ${got.length} bytes vs the API's ${want.length}`);
      check(dl.suggestedFilename() === `updates-${view}.csv`, 'file name ' + dl.suggestedFilename());
    }
  });

  await step(page, 'per-row download and install', async () => {
    await gotoHash(page, '#/updates?view=by-update', '#updates-table');
    const u = byU.updates.find((x) => x.source !== 'repository' && x.kind === 'hotfix' && x.url);
    await page.click(`tr[data-update="${u.id}"] button:has-text("Download")`);
    await page.waitForSelector('#banner:has-text("downloaded")', { timeout: 60000 });
    const m = (await text(page, '#banner')).match(/downloaded to (\/\S+) \((\d+) bytes\)/);
    check(m, 'the banner names the file: ' + await text(page, '#banner'));
    check(fs.existsSync(m[1]) && fs.statSync(m[1]).size === Number(m[2]) && Number(m[2]) > 0, 'the file is in the daemon\'s cache: ' + m[1]);
    await page.click(`tr[data-update="${u.id}"] a:has-text("Install")`);
    await page.waitForSelector('#wizard-heading:has-text("Select Update")');
    check(await page.isChecked('input[value=chosen]'), 'the wizard opens on chosen updates');
    const label = await page.$$eval('.updates-pick .choice', (l) => l.filter((c) => c.querySelector('input').checked).map((c) => c.textContent));
    check(label.length === 1 && label[0].trim().startsWith(u.name), 'with that update ticked: ' + label);
  });

  await step(page, 'pools with updates missing and settings', async () => {
    await gotoHash(page, '#/pools', '#pools-table');
    const byS = await api('GET', '/updates?view=by-server');
    for (const pool of ['prod', 'lab']) {
      const n = new Set(byS.servers.filter((s) => s.pool === pool).flatMap((s) => s.required.map((r) => r.id))).size;
      const cell = await text(page, `tr[data-pool="${pool}"] td.missing`);
      check(cell.includes(`${n} update${n === 1 ? '' : 's'} missing`), `${pool}: "${cell}" vs ${n}`);
    }
    check(await page.isVisible('#client-id-file') && await page.isVisible('#default-policy'), 'settings shown');
    check(await page.inputValue('#default-policy') === 'return', 'the default policy is return: ' + await page.inputValue('#default-policy'));
  });

  await step(page, 'live patching switched off and on from the pools page', async () => {
    await gotoHash(page, '#/pools', '#lp-lab-ask');
    check(await poolLivePatchingOff('lab') === false, 'lab starts with live patching on');
    check((await text(page, '#lp-lab-state')) === 'On', 'the row says On: ' + await text(page, '#lp-lab-state'));
    // asked, then cancelled: nothing changes on the pool
    await page.click('#lp-lab-ask');
    await page.waitForSelector('#lp-box h4');
    await page.click('#lp-box button.quiet');
    check(await page.$('#lp-box h4') === null, 'cancel closes the question');
    check(await poolLivePatchingOff('lab') === false, 'a cancelled question changes nothing');
    // off, with the confirmation saying what it means
    await page.click('#lp-lab-ask');
    await page.waitForSelector('#lp-lab-confirm');
    const ask = await text(page, '#lp-box');
    check(ask.includes('live patching off') && ask.includes('need a reboot'), 'the question says what it means: ' + ask);
    await snap(page, 'live-patching-confirm-off');
    await page.click('#lp-lab-confirm');
    await page.waitForSelector('#lp-lab-state:has-text("Off")', { timeout: 30000 });
    check(await poolLivePatchingOff('lab') === true, 'the pool has live patching off (pool.get_live_patching_disabled)');
    const st = await sim('/sim/state');
    check(st.pools.find((x) => x.name === 'lab').live_patching_disabled === true, 'GET /sim/state says lab has it off');
    check(st.pools.find((x) => x.name === 'prod').live_patching_disabled === false, 'prod is untouched');
    // and on again
    await page.click('#lp-lab-ask');
    await page.waitForSelector('#lp-lab-confirm:has-text("on")');
    check((await text(page, '#lp-box')).includes('without a reboot'), 'turning it on says what it means');
    await page.click('#lp-lab-confirm');
    await page.waitForSelector('#lp-lab-state:has-text("On")', { timeout: 30000 });
    check(await poolLivePatchingOff('lab') === false, 'the pool has live patching on again');
  });

  await step(page, 'check interval set in settings', async () => {
    check((await api('GET', '/settings')).check_interval_s === 0, 'the daemon starts with checking off');
    await page.fill('#check-interval', '12');
    await page.click('#check-interval-save');
    await page.waitForSelector('#check-interval-status:has-text("every 12 h")');
    const st = await api('GET', '/settings');
    check(st.check_interval_s === 43200 && st.automatic_checks === true, 'the daemon has 12 h: ' + JSON.stringify(st));
    check((await api('GET', '/updates')).checking.interval_s === 43200, 'the views say 12 h');
    await page.fill('#check-interval', '-3');
    await page.click('#check-interval-save');
    await page.waitForSelector('#banner:has-text("Check interval")');
    check((await api('GET', '/settings')).check_interval_s === 43200, 'a bad value changes nothing');
    await page.fill('#check-interval', '0');
    await page.click('#check-interval-save');
    await page.waitForSelector('#check-interval-status:has-text("off")');
    check((await api('GET', '/settings')).check_interval_s === 0, 'turned off again');
  });

  await step(page, 'default policy set in settings and used by the wizard', async () => {
    // scenarios/small.json on its own simulator: a rollout of it judged from the simulator
    const base = process.env.POL_POOL_URL;
    await addPool('pol-small', base);
    await api('POST', '/updates/check', {});
    check((await api('GET', '/settings')).default_policy === 'return', 'the daemon starts with policy return');
    await gotoHash(page, '#/pools', '#default-policy');
    check(await page.inputValue('#default-policy') === 'return', 'Settings shows return');
    await page.selectOption('#default-policy', 'minimal');
    await page.waitForSelector('#default-policy-status:has-text("minimal migrations")');
    check((await api('GET', '/settings')).default_policy === 'minimal', 'the daemon has minimal');
    const dry = await api('POST', '/plans', { pools: ['pol-small'], automated: true });
    check(dry.policy === 'minimal', 'a plan request without a policy gets the default: ' + dry.policy);
    await snap(page, 'settings-default-policy');
    // the wizard starts with it
    await gotoHash(page, '#/install?new=1', '#wizard-heading:has-text("Select Update")');
    await page.check('input[value=automated]');
    await page.click('#wizard-next');
    await page.waitForSelector('#wizard-heading:has-text("Select Servers")');
    await page.check('.pool-pick[data-pool="pol-small"] > input[type=checkbox]');
    await page.click('#wizard-next');
    await page.waitForSelector('#wizard-heading:has-text("Prechecks")', { timeout: 60000 });
    if (await page.isEnabled('#resolve-all')) await page.click('#resolve-all');
    await page.click('#wizard-next');
    await page.waitForSelector('#wizard-heading:has-text("Update Mode")');
    await page.click('#wizard-next');
    await page.waitForSelector('#wizard-heading:has-text("Review")');
    check((await page.textContent('#main')).includes('Policy: minimal migrations'), 'the wizard plans with the default minimal');
    const migs = await page.$$eval('li.migration', (l) => l.length);
    check(migs === dry.pools[0].totals.migrations, `the wizard's migrations ${migs} = the API's minimal plan's ${dry.pools[0].totals.migrations}`);
    const before = await simAt(base, '/sim/state');
    const home = Object.fromEntries(before.pools[0].hosts.flatMap((x) => (x.resident_vms || []).map((v) => [v, x.name])));
    await page.click('#wizard-next');
    await page.waitForSelector('#rollout-header');
    const id = (await newestRollout()).id;
    const samples = await followAndCompare(page, id, 240);
    check(samples[samples.length - 1].state === 'done', 'the rollout ended ' + samples[samples.length - 1].state);
    // minimal: VMs are not taken back home (with return every VM would end on its own host)
    const st = await simAt(base, '/sim/state');
    const now = Object.fromEntries(st.pools[0].hosts.flatMap((x) => (x.resident_vms || []).map((v) => [v, x.name])));
    check(Object.keys(now).sort().join() === Object.keys(home).sort().join(), 'every VM running once');
    const moved = Object.keys(home).filter((v) => now[v] !== home[v]);
    check(moved.length > 0, 'policy minimal: some VM stays where it landed: ' + JSON.stringify(now));
    for (const x of st.pools[0].hosts) check(x.enabled, x.name + ' enabled');
    // back to return through Settings (the later steps plan with it)
    await gotoHash(page, '#/pools', '#default-policy');
    check(await page.inputValue('#default-policy') === 'minimal', 'Settings shows the stored minimal');
    await page.selectOption('#default-policy', 'return');
    await page.waitForSelector('#default-policy-status:has-text("return VMs")');
    check((await api('GET', '/settings')).default_policy === 'return', 'back to return');
    await api('DELETE', '/pools/pol-small');
  });

  await step(page, 'add an https pool after confirming its fingerprint', async () => {
    await gotoHash(page, '#/pools', '#pools-table');
    await page.fill('#pool-name', 'tls-small');
    await page.fill('#pool-url', process.env.TLS_POOL_URL);
    await page.fill('#pool-username', 'root');
    await page.fill('#pool-password', 'xenroot');
    await page.click('#pool-add button[type=submit]');
    await page.waitForSelector('#pool-fp', { timeout: 60000 });
    check(await text(page, '#pool-fp') === 'SHA256:' + process.env.TLS_POOL_FP, `the page shows ${await text(page, '#pool-fp')}, the certificate is ${process.env.TLS_POOL_FP}`);
    check(!(await api('GET', '/pools')).pools.some((p) => p.name === 'tls-small'), 'nothing registered before the confirmation');
    check((await simTlsState()).counters.calls === 0, 'no XAPI call (no password) reached the pool before the confirmation');
    await snap(page, 'pool-add-fingerprint');
    await page.click('#pool-fp-confirm');
    await page.waitForSelector('tr[data-pool="tls-small"]', { timeout: 60000 });
    const p = (await api('GET', '/pools')).pools.find((x) => x.name === 'tls-small');
    check(p && p.tls_fingerprint === process.env.TLS_POOL_FP, 'registered with the confirmed fingerprint: ' + JSON.stringify(p));
    check((await simTlsState()).counters.calls > 0, 'the daemon talks to the pool after the confirmation');
  });

  let prodId;
  await step(page, 'wizard select update and servers', async () => {
    await gotoHash(page, '#/install?new=1', '#wizard-heading:has-text("Select Update")');
    // a downloaded update zip, uploaded through the API: the daemon names what the file holds
    check(await page.isDisabled('#wiz-upload'), 'the upload belongs to its own choice');
    await page.check('input[value=file]');
    const xml = '<?xml version="1.0"?>\n<update uuid="9d1a7d9e-2b9b-4f0f-a3a4-6e1d5b0c4b12" ' +
      'name-label="XS82ECU1002" version="1.0" after-apply-guidance="restartXAPI"/>\n';
    const img = Buffer.concat([Buffer.from(xml), Buffer.alloc(512)]);
    await page.setInputFiles('#wiz-upload', { name: 'XS82ECU1002.zip', mimeType: 'application/zip',
      buffer: storedZip('XS82ECU1002.iso', img) });
    await page.waitForSelector('#wiz-file-info:has-text("holds XS82ECU1002")');
    const kept = (await api('GET', '/files')).files;
    check(kept.length === 1 && kept[0].name === 'XS82ECU1002.zip' &&
      kept[0].update.uuid === '9d1a7d9e-2b9b-4f0f-a3a4-6e1d5b0c4b12', 'the daemon kept and identified the upload: ' + JSON.stringify(kept));
    await snap(page, 'wizard-upload');
    await api('DELETE', '/files/' + kept[0].id);
    await page.check('input[value=chosen]');
    await page.click('#wizard-next');
    check((await text(page, '#wizard-problem')).includes('Tick at least one update'), 'Chosen updates with none ticked is refused');
    await page.check('input[value=automated]');
    await snap(page, 'wizard-select-update');
    await page.click('#wizard-next');
    await page.waitForSelector('#wizard-heading:has-text("Select Servers")');
    const labHosts = await page.$$eval('.pool-pick[data-pool="lab"] li', (l) => l.map((x) => x.textContent));
    check(labHosts.length === 2 && labHosts.every((t) => t.includes('will be updated') || t.includes('cannot be chosen: ')), 'a reason or a yes beside every host: ' + labHosts);
    await page.check('.pool-pick[data-pool="prod"] > input[type=checkbox]');
    // one server left out: the dry run names the others (the engine's side: e2e rollout_select_hosts)
    const planBodies = [];
    const onReq = (rq) => { if (rq.method() === 'POST' && rq.url().endsWith('/api/v1/plans')) planBodies.push(JSON.parse(rq.postData() || '{}')); };
    page.on('request', onReq);
    await page.uncheck('.pool-pick[data-pool="prod"] li[data-host="prod-3"] input.host-box');
    await snap(page, 'wizard-select-servers-one-left-out');
    await page.click('#wizard-next');
    await page.waitForSelector('#wizard-heading:has-text("Prechecks")');
    const partial = planBodies[planBodies.length - 1] || {};
    check(JSON.stringify(partial.hosts) === JSON.stringify(['prod-1', 'prod-2', 'prod-4']), 'the plan request names the ticked servers: ' + JSON.stringify(partial));
    const planned = await api('POST', '/plans', partial);
    const busy = planned.pools[0].hosts.filter((x) => (x.actions || []).length).map((x) => x.name);
    check(!busy.includes('prod-3') && busy.length === 3, 'prod-3 gets no actions in that plan: ' + busy);
    await page.click('button:has-text("< Previous")');
    await page.waitForSelector('#wizard-heading:has-text("Select Servers")');
    await page.check('.pool-pick[data-pool="prod"] li[data-host="prod-3"] input.host-box');
    await snap(page, 'wizard-select-servers');
    await page.click('#wizard-next');
    await page.waitForSelector('#wizard-heading:has-text("Prechecks")');
    page.off('request', onReq);
    check(!('hosts' in planBodies[planBodies.length - 1]), 'every server ticked again: the request names pools only');
  });

  await step(page, 'wizard prechecks resolve all', async () => {
    const plan = await api('POST', '/plans', { pools: ['prod'], automated: true, policy: 'return', stay_on_release: false });
    const fixable = plan.pools[0].prechecks.filter((c) => c.resolution && c.severity !== 'info');
    check(fixable.length >= 2, 'the demo prod pool has resolvable problems');
    check(await page.$$eval('.precheck-pool .sev-error', (l) => l.length) === 0, 'no red problem badge for resolvable checks');
    check((await page.$$('tr.check-fixable')).length === fixable.length, 'each resolvable check listed once');
    const ha = await text(page, 'tr[data-check="ha_enabled"]');
    check(ha.includes('Turn HA off') && ha.includes('Turn HA back on'), 'the HA resolution and its undo: ' + ha);
    await page.click('#wizard-next');
    check((await text(page, '#wizard-problem')).includes('Resolve All'), 'Next needs Resolve All consent');
    await page.click('#resolve-all');
    await snap(page, 'wizard-prechecks-resolved');
    check((await text(page, 'tr[data-check="ha_enabled"]')).includes('Will be resolved: Turn HA off'), 'consent shown');
    await page.click('#wizard-next');
    await page.waitForSelector('#wizard-heading:has-text("Update Mode")');
    const modes = await page.$$eval('tr[data-host]', (l) => l.map((x) => x.children[2].textContent));
    check(modes.length === 4 && modes.every((m) => m === 'Reboot'), 'per-host update mode: ' + modes);
    // "I will carry out the post-update tasks myself": the re-plan leaves every reboot to the user
    await page.check('#manual-mode');
    await page.waitForFunction(() => [...document.querySelectorAll('tr[data-host]')].length === 4 &&
      [...document.querySelectorAll('tr[data-host]')].every((x) => x.children[2].textContent === 'Reboot — left to you'), null, { timeout: 60000 });
    await snap(page, 'wizard-update-mode-manual');
    await page.uncheck('#manual-mode');
    await page.waitForFunction(() => [...document.querySelectorAll('tr[data-host]')].length === 4 &&
      [...document.querySelectorAll('tr[data-host]')].every((x) => x.children[2].textContent === 'Reboot'), null, { timeout: 60000 });
    await snap(page, 'wizard-update-mode');
    await page.click('#wizard-next');
    await page.waitForSelector('#wizard-heading:has-text("Review")');
    const migs = await page.$$eval('li.migration', (l) => l.map((x) => x.textContent));
    check(migs.length === plan.pools[0].totals.migrations, `each migration once: ${migs.length} vs ${plan.pools[0].totals.migrations}`);
    check(new Set(migs).size === migs.length || migs.length > 0, 'migrations listed');
    check((await text(page, '.review-pool')).includes('Upload to: ' + plan.pools[0].upload.sr_name), 'upload SR shown');
    check((await text(page, '#review-totals')).includes('predicted window'), 'window shown');
    check(/Resolve All will: [^]*Turn HA off for the update \(then: Turn HA back on\)/.test(await text(page, '.review-pool')), 'the agreed resolutions in the review');
    check((await page.textContent('#main')).includes('Policy: return VMs home'), 'the wizard plans with policy return by default');
  });

  await step(page, 'install: live rollout compared with the API every second', async () => {
    const before = (await api('GET', '/rollouts')).rollouts.length;
    const evs = collectEvents();
    await page.click('#wizard-next');
    await page.waitForSelector('#rollout-header');
    const r0 = await newestRollout();
    check((await api('GET', '/rollouts')).rollouts.length === before + 1, 'one rollout started');
    prodId = r0.id;
    check(page.url().includes(encodeURIComponent(prodId)), 'the page is the new rollout');
    check((await page.evaluate(() => window.scrollY)) === 0, 'opened at the top');
    await page.evaluate(() => {
      window.__rows = [...document.querySelectorAll('tr[data-host]')];
      document.getElementById('cancel').focus();
    });
    const samples = await followAndCompare(page, prodId, 150);
    await evs.stop();
    const last = samples[samples.length - 1];
    check(last.policy === undefined || last.policy === 'return', 'the rollout runs with policy return: ' + last.policy);
    // the pool's phases: every pool-level step of the event stream is listed on the page, in order
    const evSteps = [...new Set(evs.events.filter((e) => e.rollout === prodId && e.pool === 'prod' && !e.host && e.step).map((e) => e.step))];
    const shown = await page.$$eval('.pool-live[data-pool="prod"] .pool-phases li', (l) => l.map((x) => [x.dataset.phase, x.textContent]));
    const shownSteps = shown.map((x) => x[0]);
    for (const want of ['resolve', 'upload', 'restore']) {
      check(evSteps.includes(want), `the engine sent no pool-level "${want}" event: ${evSteps}`);
    }
    for (const st of evSteps) check(shownSteps.includes(st), `pool phase "${st}" (from the event stream) not shown: ${JSON.stringify(shown)}`);
    const order = evSteps.filter((x) => shownSteps.includes(x));
    check(order.join() === shownSteps.filter((x) => evSteps.includes(x)).join(), `phase order: page ${shownSteps} vs events ${evSteps}`);
    check(/Resolving prechecks/.test(shown.find((x) => x[0] === 'resolve')[1]) && /Uploading the update/.test(shown.find((x) => x[0] === 'upload')[1]) &&
      /Restoring what Resolve All changed/.test(shown.find((x) => x[0] === 'restore')[1]), 'the phases in words: ' + JSON.stringify(shown));
    check(last.state === 'done', 'the prod rollout ended ' + last.state + ' ' + JSON.stringify(last.error));
    check(samples.length >= 5, 'followed it live (' + samples.length + ' samples)');
    const moved = new Set(samples.map((s) => s.counters.hosts_done));
    check(moved.size >= 3, 'the header counters moved: ' + [...moved]);
    check(await page.evaluate(() => window.__rows.every((r) => r.isConnected)), 'host rows updated in place (no redraw)');
    check(await page.evaluate(() => document.activeElement && ['cancel', 'retry'].includes(document.activeElement.id) ||
      document.activeElement === document.body), 'focus not moved by updates');
    check((await page.title()).startsWith('done — prod'), 'tab title: ' + await page.title());
    await page.waitForSelector('#finish');
    // The per-host record (when the engine gives one): what was applied, by name, in Finish.
    for (const x of last.pools[0].hosts) {
      if (!Array.isArray(x.updates_applied)) continue;
      const li = await text(page, `#finish li[data-applied="${x.name}"]`);
      for (const u of x.updates_applied) check(li.includes(u.name || u.uuid), `${x.name}: ${u.name} in "${li}"`);
      check(!/[0-9a-f]{8}-[0-9a-f]{4}-/.test(li), 'names, not uuids: ' + li);
    }
    const st = await sim('/sim/state');
    for (const x of st.pools.find((p) => p.name === 'prod').hosts) {
      check(x.enabled, x.name + ' enabled again');
      check(x.updates.includes('XS82ECU1005'), x.name + ' has XS82ECU1005: ' + x.updates);
    }
    check(st.pools.find((p) => p.name === 'prod').ha_enabled, 'HA turned back on after Resolve All turned it off');
  });

  await step(page, 'halted rollout and retry', async () => {
    await sim('/sim/fault', { type: 'migration_fails', vm: 'lab-k8s-1', count: 1 });
    const { id } = await api('POST', '/rollouts', { pools: ['lab'], automated: true });
    await gotoHash(page, '#/rollouts/' + encodeURIComponent(id), '#rollout-header');
    await page.waitForSelector('#rollout-state:text-is("halted")', { timeout: 60000 });
    const r = await api('GET', '/rollouts/' + id);
    check(r.state === 'halted', 'API says halted');
    check(!sameAsApi(await pageRollout(page), r), 'halted page = API');
    const err = await text(page, '#rollout-error');
    check(err.includes(r.error.code), 'error code shown: ' + err);
    check(!/OpaqueRef:/.test(err), 'no OpaqueRefs in the message: ' + err);
    check((await text(page, '#what-is-left')).includes('not updated yet'), 'what is left');
    check((await page.title()).startsWith('halted — lab'), 'tab title: ' + await page.title());
    check((await text(page, '#announce')).includes('halted'), 'the live region said so: ' + await text(page, '#announce'));
    await snap(page, 'halted-before-retry');
    await page.click('#retry');
    await page.waitForSelector('#rollout-state:text-is("done")', { timeout: 90000 });
    const st = await sim('/sim/state');
    // XS8 repository updates: the simulator counts the reboot (lab-1) and toolstack restart (lab-2)
    // that applying them needs; both hosts must be enabled again.
    const l1 = simHost(st, 'lab', 'lab-1');
    const l2 = simHost(st, 'lab', 'lab-2');
    check(l1.enabled && l2.enabled, 'lab hosts enabled after Retry');
    check(l1.reboots >= 1 && l2.toolstack_restarts >= 1, `lab-1 rebooted (${l1.reboots}), lab-2 toolstack restarted (${l2.toolstack_restarts})`);
    check(!(await page.$('#what-is-left')), 'nothing left after Retry');
  });

  await step(page, 'cancel a running rollout', async () => {
    const { id } = await api('POST', '/rollouts', { pools: ['tls-small'], automated: true });
    await gotoHash(page, '#/rollouts/' + encodeURIComponent(id), '#rollout-header');
    // running, with a host at work (the cancel is mid-way, not before the start)
    await page.waitForSelector('tr[data-host][data-state="running"]', { timeout: 90000 });
    check((await api('GET', '/rollouts/' + id)).state === 'running', 'running when Cancel is pressed');
    await snap(page, 'running-before-cancel');
    await page.click('#cancel');
    await page.waitForSelector('#rollout-state:text-is("cancelled")', { timeout: 180000 });
    const r = await api('GET', '/rollouts/' + id);
    check(r.state === 'cancelled', 'API says cancelled: ' + r.state);
    check(!sameAsApi(await pageRollout(page), r), 'cancelled page = API: ' + sameAsApi(await pageRollout(page), r));
    const hosts = r.pools[0].hosts;
    check(hosts.some((x) => x.state !== 'done'), 'cancelled mid-way: some host was not updated');
    check(!(await text(page, '#rollout-header')).includes(`${hosts.length}/${hosts.length} done`), 'not all hosts "done"');
    const st = await simTlsState();
    for (const x of st.pools[0].hosts) check(x.enabled, x.name + ' enabled after the cancel');
    check((await page.title()).startsWith('cancelled — tls-small'), 'tab title: ' + await page.title());
  });

  // The master moves to a host answering with a certificate the pool does not vouch for (another
  // machine at that address: POST /sim/tls with record false): the Pools page shows the pool
  // waiting, names the host and its fingerprint, and the daemon sends that host nothing until the
  // user confirms there; then it logs in to the new master (logins counted by the simulator).
  await step(page, 'a new master with an unconfirmed certificate confirmed on the pools page', async () => {
    const st = await simTlsState();
    const pool = st.pools[0];
    const master = pool.hosts.find((x) => x.name === pool.master);
    const target = pool.hosts.filter((x) => x.name !== pool.master).pop();
    const logins = async () => (await simTlsState()).pools[0].hosts.find((x) => x.name === target.name).logins;
    const before = tlsFingerprint(target.address);
    check((await tlsAt(target.address, '/sim/tls', { address: target.address, record: false })).ok === true, 'POST /sim/tls');
    const fp = tlsFingerprint(target.address);
    check(fp !== before, 'the host answers with another certificate');
    const s = await tlsXapi(master.address, 'session.login_with_password', ['root', 'xenroot']);
    const [href] = await tlsXapi(master.address, 'host.get_by_name_label', [s, target.name]);
    await tlsXapi(master.address, 'pool.designate_new_master', [s, href]);
    const poolNow = async () => (await api('GET', '/pools')).pools.find((x) => x.name === 'tls-small');
    await waitFor('tls-small waiting for a confirmation', async () => (await poolNow()).state === 'certificate_unconfirmed', 120);
    const n0 = await logins();
    await gotoHash(page, '#/pools', '#trust-tls-small');
    check(await text(page, '#trust-tls-small-fp') === 'SHA256:' + fp, `the page shows ${await text(page, '#trust-tls-small-fp')}, the host presents ${fp}`);
    check((await text(page, '#trust-tls-small')).includes(target.address), 'the card names the new master ' + target.address);
    check((await text(page, '#trust-tls-small')).includes(before), 'the card shows the fingerprint confirmed before');
    check((await text(page, 'tr[data-pool="tls-small"]')).includes('Certificate unconfirmed'), 'the row says the certificate is unconfirmed');
    await page.click('#trust-tls-small-ask');
    await snap(page, 'pool-certificate-unconfirmed');
    check(await logins() === n0, 'no login at the unconfirmed master while the page waits');
    await page.click('#trust-tls-small-confirm');
    await page.waitForSelector('#trust-tls-small', { state: 'detached', timeout: 30000 });
    await waitFor('the daemon following the master to ' + target.name, async () => {
      const p = await poolNow();
      return p.state === 'ready' && p.master === target.name;
    }, 120);
    check(await logins() > n0, 'the daemon logged in to the confirmed master');
    check((await poolNow()).certificate == null, 'nothing waits for confirmation');
    await api('DELETE', '/pools/tls-small'); // done with it: the later steps read the demo pools only
  });

  await step(page, 'cancel a halted rollout', async () => {
    const before = await sim('/sim/state');
    await sim('/sim/fault', { type: 'precheck_fails', host: 'edge-1', code: 'UPDATE_PRECHECK_FAILED_OUT_OF_SPACE' });
    const { id } = await api('POST', '/rollouts', { pools: ['edge-standalone'], automated: true });
    await gotoHash(page, '#/rollouts/' + encodeURIComponent(id), '#rollout-header');
    await page.waitForSelector('#rollout-state:text-is("halted")', { timeout: 60000 });
    check((await text(page, '#rollout-error')).includes('UPDATE_PRECHECK_FAILED_OUT_OF_SPACE'), 'the precheck error');
    await snap(page, 'halted-before-cancel');
    await page.click('#cancel');
    await page.waitForSelector('#rollout-state:text-is("cancelled")', { timeout: 60000 });
    const r = await api('GET', '/rollouts/' + id);
    check(r.state === 'cancelled', 'API says cancelled');
    check(!sameAsApi(await pageRollout(page), r), 'cancelled page = API');
    check(!(await text(page, '#rollout-header')).includes('1/1 done'), 'a cancelled host is not "done"');
    const st = await sim('/sim/state');
    const a = simHost(before, 'edge-standalone', 'edge-1');
    const b = simHost(st, 'edge-standalone', 'edge-1');
    check(b.enabled && b.updates.join() === a.updates.join(), 'edge-1 enabled and unchanged: ' + b.updates);
    await sim('/sim/fault', { type: 'clear', code: 'precheck_fails' });
  });

  await step(page, 'cancel that fails and retry cancel', async () => {
    // a host that never comes back from its reboot (scenarios/small.json, its own simulator): the
    // rollout halts HOST_RETURN_TIMEOUT; its cancel cannot enable the host again: cancel_failed
    const base = process.env.CF_POOL_URL;
    await addPool('cf-small', base);
    await api('POST', '/updates/check', {});
    const before = await simAt(base, '/sim/state');
    await simAt(base, '/sim/fault', { type: 'reboot_never_returns', host: 'small-2' });
    const { id } = await api('POST', '/rollouts', { pools: ['cf-small'], automated: true });
    await gotoHash(page, '#/rollouts/' + encodeURIComponent(id), '#rollout-header');
    await page.waitForSelector('#rollout-state:text-is("halted")', { timeout: 150000 });
    check((await api('GET', '/rollouts/' + id)).error.code === 'HOST_RETURN_TIMEOUT', 'halted on the host that never returns');
    await page.click('#cancel');
    await page.waitForSelector('#rollout-state:text-is("cancel_failed")', { timeout: 180000 });
    const r = await api('GET', '/rollouts/' + id);
    check(r.state === 'cancel_failed', 'API says cancel_failed: ' + r.state);
    check(!sameAsApi(await pageRollout(page), r), 'cancel_failed page = API: ' + sameAsApi(await pageRollout(page), r));
    check((await text(page, '#rollout-state-words')).includes('cancel failed'), 'shown as its own state: ' + await text(page, '#rollout-state-words'));
    check(!(await page.$('#finish')), 'no "Cancelled" summary for a cancel that failed');
    check((await page.title()).startsWith('cancel_failed — cf-small'), 'tab title: ' + await page.title());
    // the verify findings, each listed with its object and code (from GET /rollouts/{id})
    check(r.findings.length > 0, 'the API names what is left');
    const shown = await page.$$eval('#findings li', (l) => l.map((x) => [x.dataset.code, x.dataset.object, x.textContent]));
    for (const f of r.findings) {
      check(shown.some(([c, o, t]) => c === f.code && o === f.object && t.includes(f.object) && t.includes(f.code)),
        `finding ${f.code} on ${f.object} not listed: ${JSON.stringify(shown)}`);
    }
    check(shown.length === r.findings.length, `findings listed ${shown.length} vs API ${r.findings.length}`);
    check(!shown.some(([, , t]) => /OpaqueRef:/.test(t)), 'findings by name');
    // ... and the simulator agrees: small-2 disabled and down
    const st1 = simHost(await simAt(base, '/sim/state'), 'small-pool', 'small-2');
    check(!st1.enabled && !st1.live, `small-2 in the simulator: enabled ${st1.enabled}, live ${st1.live}`);
    check(shown.some(([c, o]) => o === 'small-2' && c === 'HOST_DISABLED'), 'the disabled host is named');
    check((await text(page, '#retry')).trim() === 'Retry cancel' && await page.isVisible('#retry'), 'Retry cancel offered');
    check(!(await page.isVisible('#cancel')), 'no second Cancel beside Retry cancel');
    check((await text(page, '#what-is-left')).includes('cf-small / small-2'), 'what is left: ' + await text(page, '#what-is-left'));
    await snap(page, 'cancel-failed');
    // the cause dealt with (the host boots): Retry cancel calls POST /rollouts/{id}/retry
    await simAt(base, '/sim/fault', { type: 'clear' });
    const sent = page.waitForRequest((q) => q.method() === 'POST' && q.url().endsWith('/api/v1/rollouts/' + encodeURIComponent(id) + '/retry'), { timeout: 10000 });
    await page.click('#retry');
    await sent;
    await page.waitForSelector('#rollout-state:text-is("cancelled")', { timeout: 180000 });
    const r2 = await api('GET', '/rollouts/' + id);
    check(r2.state === 'cancelled' && !(r2.findings || []).length, 'cancelled, nothing left: ' + r2.state + ' ' + JSON.stringify(r2.findings));
    check(!(await page.$('#findings')), 'no findings left on the page');
    const st2 = await simAt(base, '/sim/state');
    for (const x of st2.pools[0].hosts) check(x.enabled && x.live, `${x.name} enabled and live after Retry cancel`);
    check(residentVms(st2).join() === residentVms(before).join(), `every VM running once: ${residentVms(st2)} vs ${residentVms(before)}`);
    await api('DELETE', '/pools/cf-small');
  });

  // ---- Rolling Pool Upgrade (scenarios/upgrade.json, two simulators of their own) ----

  // Walk the upgrade wizard for one pool (registered here) to its live page; returns the rollout id.
  async function upgradeWizard(pool, base, manual, fromRow) {
    await addPool(pool, base);
    await api('POST', '/updates/check', {});
    const st0 = await simAt(base, '/sim/state');
    const media = st0.releases.find((x) => x.product_version === '8.4.0').url;
    if (fromRow) {
      await gotoHash(page, '#/updates?view=by-update', '#updates-body');
      await page.click('button[data-upgrade="8.4.0"]');
    } else {
      await gotoHash(page, '#/upgrade?new=1', '#upgrade-heading');
    }
    await page.waitForSelector('#upgrade-heading:text-is("Before You Start")');
    check((await page.title()).startsWith('Rolling Pool Upgrade'), 'tab title: ' + await page.title());
    await page.click('#upgrade-next');
    await page.waitForSelector('#upgrade-heading:text-is("Select Pools")');
    for (const b of await page.$$('.pool-pick > input[type=checkbox]:checked')) await b.uncheck();
    await page.click('#upgrade-next');
    check((await text(page, '#upgrade-problem')).includes('at least one pool'), 'Next refused with no pool');
    const hostsShown = await page.$$eval(`.pool-pick[data-pool="${pool}"] li[data-host]`, (l) => l.map((x) => x.dataset.host));
    const hostsSim = st0.pools.find((p) => p.name === pool).hosts.map((x) => x.name);
    check(hostsShown.sort().join() === hostsSim.sort().join(), `hosts of ${pool}: ${hostsShown} vs the simulator's ${hostsSim}`);
    await page.check(`.pool-pick[data-pool="${pool}"] > input[type=checkbox]`);
    await snap(page, 'upgrade-select-pools');
    await page.click('#upgrade-next');
    await page.waitForSelector('#upgrade-heading:text-is("Upgrade Mode")');
    check(await page.$eval('#upgrade-release', (s) => s.value) === '8.4.0', 'the release offered: 8.4.0');
    if (manual) {
      await page.check('input[data-mode="manual"]');
    } else {
      await page.click('#upgrade-next');
      check((await text(page, '#upgrade-problem')).includes('installation media URL'), 'Next refused without a URL');
      await page.fill('#upgrade-url', media);
      await page.dispatchEvent('#upgrade-url', 'change');
      await page.check('#upgrade-apply-updates'); // then the new version's updates, same run
    }
    await snap(page, 'upgrade-mode-' + (manual ? 'manual' : 'automated'));
    await page.click('#upgrade-next');
    await page.waitForSelector('#upgrade-heading:text-is("Prechecks")', { timeout: 60000 });
    // the order shown is the dry run's (master first), read from the API itself
    const dry = await api('POST', '/upgrades', Object.assign({ pools: [pool], to: '8.4.0', dry_run: true }, manual ? { manual: true } : { url: media }));
    const want = dry.pools[0].hosts.filter((x) => x.order >= 0).sort((a, b) => a.order - b.order).map((x) => x.name);
    const master = st0.pools.find((p) => p.name === pool).hosts.find((x) => x.master).name;
    check(want[0] === master, `the dry run puts the master ${master} first: ${want}`);
    check((await text(page, `.precheck-pool[data-pool="${pool}"] .upgrade-order`)) === want.join(' → '), 'the order shown: ' +
      await text(page, `.precheck-pool[data-pool="${pool}"] .upgrade-order`));
    const checks = await page.$$eval(`.precheck-pool[data-pool="${pool}"] tr[data-check]`, (l) => l.map((x) => x.dataset.check));
    for (const c of dry.pools[0].prechecks || []) check(checks.includes(c.id), `precheck ${c.id} listed: ${checks}`);
    if (await page.isEnabled('#upgrade-resolve-all')) {
      await page.click('#upgrade-next');
      check((await text(page, '#upgrade-problem')).includes('Resolve All'), 'Next needs Resolve All consent');
      await page.click('#upgrade-resolve-all');
    }
    await snap(page, 'upgrade-prechecks');
    await page.click('#upgrade-next');
    await page.waitForSelector('#upgrade-heading:text-is("Upgrade")');
    check((await text(page, '#upgrade-review-order')) === want.map((x) => pool + '/' + x).join(' → '), 'the review order');
    check(manual === !(await page.$('#upgrade-review-updates')), 'the review says the updates follow (automated only)');
    const before = (await api('GET', '/rollouts')).rollouts.length;
    await page.click('#upgrade-next');
    await page.waitForSelector('#rollout-header');
    const r0 = await newestRollout();
    check((await api('GET', '/rollouts')).rollouts.length === before + 1, 'one upgrade started');
    check(page.url().includes(encodeURIComponent(r0.id)), 'the page is the new upgrade');
    return { id: r0.id, st0, master, order: want };
  }

  await step(page, 'upgrade wizard automated to done', async () => {
    const base = process.env.UPG_A_URL;
    const { id, st0 } = await upgradeWizard('rpu-a', base, false, true);
    const samples = await followAndCompare(page, id, 400);
    const last = samples[samples.length - 1];
    check(last.state === 'done', 'the upgrade ended ' + last.state + ' ' + JSON.stringify(last.error));
    check(last.pools[0].upgrade && last.pools[0].upgrade.to === '8.4.0', 'the rollout is the upgrade to 8.4.0');
    const st = await simAt(base, '/sim/state');
    const rpu = st.pools.find((p) => p.name === 'rpu-a');
    for (const x of rpu.hosts) check(x.product_version === '8.4.0' && x.enabled, `${x.name}: ${x.product_version}, enabled ${x.enabled}`);
    check(rpu.rolling_upgrade === false, 'rolling-upgrade mode left');
    // the box ticked: the 8.4.0 repository's updates applied on every host in the same rollout
    for (const x of rpu.hosts) check((x.repository_updates || []).length === 2, `${x.name}: updates ${x.repository_updates}`);
    // the finish card lists the guest tools to upgrade (seed step 12), as the report does
    const tools = await text(page, '.tools-upgrade[data-pool="rpu-a"]');
    check(last.pools[0].upgrade.tools_vm_names.every((n) => tools.includes(n)) && tools.includes('db-1'), 'the finish card\'s guest-tools list: ' + tools);
    check(residentVms(st, 'rpu-a').join() === residentVms(st0, 'rpu-a').join(), `every VM running once: ${residentVms(st, 'rpu-a')} vs ${residentVms(st0, 'rpu-a')}`);
    check(new Set(residentVms(st, 'rpu-a')).size === residentVms(st, 'rpu-a').length, 'no VM resident twice');
    check((await page.title()).startsWith('done — rpu-a'), 'tab title: ' + await page.title());
    // the Updates pages list the same VMs from the pool's state (By Update: a card; By Server:
    // under each server) until their tools are upgraded inside the guests (the simulator's control)
    const want = [...last.pools[0].upgrade.tools_vm_names].sort();
    const cardVms = async () => { await gotoHash(page, '#/updates?view=by-server&pool=rpu-a', '#servers-table');
      const rows = await page.$$eval('#servers-table .row-tools', (l) => l.map((x) => ({ pool: !!x.parentElement.querySelector('strong'), text: x.textContent })));
      await gotoHash(page, '#/updates?view=by-update&pool=rpu-a', 'button.tab.active:has-text("By Update")');
      const vms = await page.$$eval('#guest-tools-table tbody tr td:nth-child(3)', (l) => l.map((x) => x.textContent).sort());
      return { rows, vms }; };
    const seen = await waitFor('the guest-tools card of rpu-a', async () => { const c = await cardVms(); return c.vms.join() === want.join() ? c : null; }, 30);
    check(want.every((n) => seen.rows.some((r) => !r.pool && r.text.includes(n))) &&
      want.every((n) => seen.rows.some((r) => r.pool && r.text.includes(n))), 'By Server names them under a server and the pool: ' + JSON.stringify(seen.rows));
    await snap(page, 'updates-guest-tools');
    for (const n of want) await simAt(base, '/sim/upgrade', { vm: n, tools: '8.4.0' });
    await waitFor('the guest-tools card gone once the tools are upgraded', async () => { const c = await cardVms(); return c.vms.length === 0 && c.rows.length === 0; }, 30);
    check(!(await page.$('#guest-tools')), 'no guest-tools card once every VM\'s tools are upgraded');
    await api('DELETE', '/pools/rpu-a');
  });

  await step(page, 'upgrade wizard: a standalone host\'s VMs suspended or shut down', async () => {
    const base = process.env.UPG_A_URL;
    const st0 = await simAt(base, '/sim/state');
    const u = new URL(base);
    u.hostname = st0.pools.find((p) => p.name === 'solo').master_address;
    await addPool('solo', u.toString());
    await api('POST', '/updates/check', {}); // the release offered
    const media = st0.releases.find((x) => x.product_version === '8.4.0').url;
    await gotoHash(page, '#/upgrade?new=1', '#upgrade-heading');
    await page.waitForSelector('#upgrade-heading:text-is("Before You Start")');
    await page.click('#upgrade-next');
    await page.waitForSelector('#upgrade-heading:text-is("Select Pools")');
    for (const b of await page.$$('.pool-pick > input[type=checkbox]:checked')) await b.uncheck();
    await page.check('.pool-pick[data-pool="solo"] > input[type=checkbox]');
    await page.click('#upgrade-next');
    await page.waitForSelector('#upgrade-heading:text-is("Upgrade Mode")');
    check(await page.$eval('#upgrade-release', (x) => x.value) === '8.4.0', 'the release offered: 8.4.0');
    await page.fill('#upgrade-url', media);
    await page.dispatchEvent('#upgrade-url', 'change');
    await page.click('#upgrade-next');
    await page.waitForSelector('#upgrade-heading:text-is("Prechecks")', { timeout: 60000 });
    const sels = await page.$$eval('select.standalone-choice', (l) => l.map((x) => [x.dataset.vm, x.value]));
    check(sels.length === 2 && sels.every(([, v]) => v === 'suspend'), 'the standalone host\'s VMs, suspended by default: ' + JSON.stringify(sels));
    const vm = sels[sels.length - 1][0];
    // the choice plans again: the dry run is asked with the VM to shut down
    const asked = page.waitForRequest((r) => r.url().endsWith('/api/v1/upgrades') && (r.postData() || '').includes(vm));
    await page.selectOption(`select.standalone-choice[data-vm="${vm}"]`, 'shutdown');
    const body = JSON.parse((await asked).postData());
    check(body.dry_run === true && JSON.stringify(body.shutdown) === JSON.stringify([vm]), 'the dry run with the choice: ' + JSON.stringify(body));
    await page.waitForFunction((v) => { const x = document.querySelector(`select.standalone-choice[data-vm="${v}"]`); return x && x.value === 'shutdown'; }, vm);
    const dry = await api('POST', '/upgrades', body);
    const acts = dry.pools[0].prechecks.map((c) => (c.resolution && c.resolution.action) || '').join(' | ');
    check(/Shut VM .* down/.test(acts) && /Suspend VM/.test(acts), 'one VM shut down, the other suspended: ' + acts);
    await snap(page, 'upgrade-standalone-choice');
    await gotoHash(page, '#/updates?view=by-update', '#updates-body'); // leave the wizard: the next step opens a fresh one
    await api('DELETE', '/pools/solo');
  });

  await step(page, 'upgrade wizard manual with one host skipped', async () => {
    const base = process.env.UPG_M_URL;
    const { id, st0, master, order } = await upgradeWizard('rpu-m', base, true, false);
    const skip = order[1]; // the first supporter (the master cannot be skipped)
    const prompt = (x) => `.upgrade-prompt[data-host="${x}"]`;
    const rpuHost = async (x) => simHost(await simAt(base, '/sim/state'), 'rpu-m', x);
    // the master: the page asks for the boot from the media; Continue reboots it (seen in the simulator)
    await page.waitForSelector(prompt(master), { timeout: 120000 });
    const r1 = await api('GET', '/rollouts/' + id);
    const m1 = r1.pools[0].hosts.find((x) => x.name === master);
    check(m1.state === 'running' && m1.step === 'upgrade', `API: ${master} ${m1.state} ${m1.step}`);
    check(!sameAsApi(await pageRollout(page), r1), 'the waiting page = API');
    check((await text(page, prompt(master))).includes('installation media'), 'the prompt says what to do');
    await snap(page, 'upgrade-manual-prompt');
    const boots = (await rpuHost(master)).reboots;
    check((await rpuHost(master)).product_version === '8.2.1', 'the master waits on 8.2.1 for the operator');
    await page.click(prompt(master) + ' .upgrade-continue');
    await waitFor('Continue to reboot ' + master, async () => (await rpuHost(master)).reboots > boots, 60);
    await waitFor(master + ' back', async () => (await rpuHost(master)).live, 60);
    // the operator's boot from the media (the simulator's installer), then each supporter
    await simAt(base, '/sim/upgrade', { host: master, release: '8.4.0' });
    for (const x of order.slice(1)) {
      await page.waitForSelector(prompt(x), { timeout: 180000 });
      if (x === skip) {
        await page.click(prompt(x) + ' .upgrade-skip');
      } else {
        await simAt(base, '/sim/upgrade', { host: x, release: '8.4.0' });
      }
      await page.waitForSelector(prompt(x), { state: 'detached', timeout: 180000 });
    }
    await waitFor('the upgrade to end', async () => ['done', 'halted', 'cancelled', 'failed', 'cancel_failed'].includes((await api('GET', '/rollouts/' + id)).state), 240);
    const r = await api('GET', '/rollouts/' + id);
    await waitFor('the page to show ' + r.state, async () => !sameAsApi(await pageRollout(page), await api('GET', '/rollouts/' + id)), 10);
    const left = r.pools[0].hosts.find((x) => x.name === skip);
    check(left.state === 'left_out', `${skip} left out in the API: ${left.state}`);
    const st = await simAt(base, '/sim/state');
    for (const x of st.pools.find((p) => p.name === 'rpu-m').hosts) {
      const want = x.name === skip ? '8.2.1' : '8.4.0';
      check(x.product_version === want, `${x.name} on ${x.product_version}, expected ${want}`);
    }
    check(residentVms(st, 'rpu-m').join() === residentVms(st0, 'rpu-m').join(), `every VM running once: ${residentVms(st, 'rpu-m')} vs ${residentVms(st0, 'rpu-m')}`);
    check((await page.$$eval(`tr[data-host="${skip}"]`, (l) => l.map((x) => x.dataset.state))).join() === 'left_out', 'the page shows the host left out');
    if (r.state === 'done') check((await text(page, '#left-out')).includes(skip), 'Finish names the host left out');
    await snap(page, 'upgrade-manual-end');
    await api('DELETE', '/pools/rpu-m');
  });

  await step(page, 'rollout list with short titles', async () => {
    await page.click('#nav a:has-text("Rollouts")');
    await page.waitForSelector('tr[data-rollout]');
    const t = await text(page, `tr[data-rollout="${prodId}"] a`);
    check(/^prod · \d{1,2} [A-Z][a-z]{2} \d\d:\d\d$/.test(t), 'short title: ' + t);
  });

  await step(page, 'unreachable pool listed and not counted', async () => {
    await sim('/sim/fault', { type: 'partition', pool: 'edge-standalone' });
    await gotoHash(page, '#/updates?view=by-server', '#servers-table');
    await page.click('text=Check for Updates Now');
    // The engine waits for the partitioned pool's connection to time out (~30 s idle, more under load).
    await waitFor('Check now to answer', async () => !(await text(page, '#banner')).includes('Checking'), 240);
    check((await text(page, '#banner')).startsWith('Checked'), 'Check now answered: ' + await text(page, '#banner'));
    const res = await api('GET', '/updates?view=by-server');
    const off = res.offline_pools || [];
    check(off.some((o) => o.name === 'edge-standalone'), 'the API lists edge-standalone offline: ' + JSON.stringify(off));
    check((await text(page, '#banner')).includes('edge-standalone'), 'Check now names it: ' + await text(page, '#banner'));
    check((await text(page, '#offline-pools')).includes('edge-standalone'), 'listed with its reason');
    const row = await text(page, 'tr.offline[data-server="edge-standalone/"]');
    check(row.includes('Unreachable') && !row.includes('Up to date'), 'By Server row: ' + row);
    check(!(await page.$$eval('tr[data-server^="edge-standalone/"]', (l) => l.map((x) => x.textContent))).some((x) => x.includes('Up to date')), 'never "Up to date"');
  });

  await step(page, 'no script errors', async () => {
    // expected: the wrong token's 401s, the add-pool form's 409 fingerprint_unconfirmed
    check(!errors.filter((e) => !/401|Unauthorized|409 \(Conflict\)/.test(e)).length, 'console / page errors: ' + errors.join(' | '));
  });

  // after 'no script errors': the refused window below is an expected 400 in the console
  await step(page, 'maintenance windows and schedules added and removed', async () => {
    await gotoHash(page, '#/windows', '#window-form');
    await page.fill('#win-name', 'tuesday-night');
    await page.fill('#win-recurrence', '0 2 * * TUE#2');
    await page.fill('#win-duration', '4h');
    await page.fill('#win-tz', 'Europe/Paris');
    await page.check('#win-pools-lab');
    await page.click('#window-form button[type=submit]');
    await page.waitForSelector('tr[data-window="tuesday-night"]');
    let w = (await api('GET', '/windows')).windows.find((x) => x.name === 'tuesday-night');
    check(w && w.duration_s === 14400 && w.tz === 'Europe/Paris' && w.recurrence === '0 2 * * TUE#2' &&
      JSON.stringify(w.pools) === '["lab"]' && w.next, 'the daemon has the window: ' + JSON.stringify(w));
    const row = await text(page, 'tr[data-window="tuesday-night"]');
    check(row.includes('Europe/Paris') && row.includes('240 min') && row.includes('lab'), 'the row: ' + row);
    // a bad recurrence: the daemon's error shown, nothing stored
    await page.fill('#win-name', 'bad-one');
    await page.fill('#win-recurrence', '61 2 * * *');
    await page.fill('#win-duration', '1h');
    await page.check('#win-pools-lab');
    await page.click('#window-form button[type=submit]');
    await page.waitForSelector('#banner:has-text("recurrence")');
    check(!(await api('GET', '/windows')).windows.some((x) => x.name === 'bad-one'), 'a bad window stored');
    // a schedule of automated rollouts (29 February: it does not fire during the test)
    await page.fill('#sch-name', 'leap-day');
    await page.fill('#sch-recurrence', '0 3 29 2 *');
    await page.selectOption('#sch-policy', 'return');
    await page.click('#schedule-form button[type=submit]');
    await page.waitForSelector('tr[data-schedule="leap-day"]');
    const sc = (await api('GET', '/schedules')).schedules.find((x) => x.name === 'leap-day');
    check(sc && sc.policy === 'return' && sc.pools.length === 0 && sc.recurrence === '0 3 29 2 *' && sc.next,
      'the daemon has the schedule: ' + JSON.stringify(sc));
    check((await text(page, 'tr[data-schedule="leap-day"]')).includes('every pool'), 'no pool ticked: every pool');
    // removed from the page
    await page.click('button[aria-label="Remove window tuesday-night"]');
    await page.waitForSelector('#no-windows');
    await page.click('button[aria-label="Remove schedule leap-day"]');
    await page.waitForSelector('#no-schedules');
    w = await api('GET', '/windows');
    check(!w.windows.length && !(await api('GET', '/schedules')).schedules.length, 'left stored: ' + JSON.stringify(w));
  });

  // Phone width and axe-core (axe is injected, so these contexts bypass the page's CSP).
  for (const [scheme, width] of [['dark', 390], ['dark', 1280], ['light', 1280]]) {
    const c2 = await browser.newContext({ viewport: { width, height: 844 }, colorScheme: scheme, bypassCSP: true });
    await c2.addInitScript((tok) => localStorage.setItem('poolpatch.token', tok), TOKEN);
    const p2 = await c2.newPage();
    p2.on('dialog', (d) => d.accept());
    for (const [name, hash, sel] of [['updates by update', '#/updates?view=by-update', '#updates-body'],
      ['updates by server', '#/updates?view=by-server', '#servers-table'], ['pools', '#/pools', '#pools-table'],
      ['install update', '#/install?new=1', '#wizard-heading'], ['upgrade', '#/upgrade?new=1', '#upgrade-heading'],
      ['windows', '#/windows', '#window-form'],
      ['rollouts', '#/rollouts', 'tr[data-rollout]'],
      ['rollout', '#/rollouts/' + encodeURIComponent(prodId), '#rollout-header']]) {
      await step(p2, `${width}px ${scheme} ${name}`, async () => {
        await p2.goto(URL0 + '/' + hash);
        await p2.waitForSelector(sel);
        await p2.waitForTimeout(150);
        if (width < 640) await noOverflow(p2, name);
        // every rule in the dark theme (phone and desktop); the light theme changes only colours
        await axe(p2, `${name} (${scheme}, ${width} px)`, scheme === 'light');
      });
    }
    await c2.close();
  }
} catch (e) {
  if (e.message !== 'STOP') { failures++; console.log('FAIL - ' + (e.stack || e)); }
} finally {
  await browser.close();
}
console.log(`browser suite: ${shot} steps, ${failures} failed, ${((Date.now() - t0) / 1000).toFixed(1)} s`);
process.exit(failures ? 1 : 0);
