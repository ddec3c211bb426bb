// SPDX-License-Identifier: MIT
// smoke.mjs - clicks through the web UI in happy-dom (a DOM for node) against a mock daemon that
// answers with the JSON shapes of docs/rest-api.md: every page, the buttons' requests, a live
// progress event, the 401 path.  Not part of `make check` (it needs happy-dom from npm):
//   mkdir /tmp/hd && (cd /tmp/hd && npm install happy-dom@15)
//   HAPPY_DOM=/tmp/hd/node_modules/happy-dom/lib/index.js node web/tests/smoke.mjs
// Prints "ok: ..." / "FAIL: ..." per check; exit status 1 when any check failed.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const { Window } = await import(process.env.HAPPY_DOM || 'happy-dom');
const WEB = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TOKEN = 'tok-0123456789abcdef';
const calls = [];
let sseRes = null;
const plan = {
  policy: 'minimal', automated: true, pools: [{ name: 'lab', blocked: false,
    updates: [{ id: 'u9', name: 'XS82ECU1001' }],
    prechecks: [{ id: 'ha', host: null, severity: 'warning', message: 'HA is enabled', resolution: { action: 'Turn HA off', undo: 'Turn HA on' } }],
    hosts: [{ name: 'h1', order: 1, batch: 1, actions: [{ kind: 'evacuate', description: 'evacuate 2 VMs' }, { kind: 'apply', name: 'XS82ECU1001' }, { kind: 'reboot' }], migrations: [{ vm: 'web1', from: 'h1', to: 'h2' }] }],
    totals: { migrations: 2, reboots: 1, toolstack_restarts: 0, live_patched: 0, window_s: 900, lower_bound_s: 600 } }],
  totals: { migrations: 2, reboots: 1, toolstack_restarts: 0, live_patched: 0, window_s: 900, lower_bound_s: 600 },
};
const rollout = { id: 'r-1', state: 'running', pools: [{ name: 'lab', state: 'running', hosts: [{ name: 'h1', step: 'apply', percent: 20, state: 'running' }, { name: 'h2', step: null, percent: 0, state: 'waiting' }] }], counters: { hosts_total: 2, hosts_done: 0, migrations: 2, reboots: 0, toolstack_restarts: 0, live_patched: 0 }, error: null };
const answers = {
  'GET /api/v1/pools': { pools: [{ name: 'lab', url: 'https://10.0.0.1/', username: 'root', connected: true, master: 'h1', hosts: 2, version: '8.2.1', error: null }] },
  'GET /api/v1/updates?view=by-update&sort=date': { view: 'by-update', checking: { automatic: false, last_check: null }, updates: [{ id: 'u9', name: 'XS82ECU1001', kind: 'cumulative', date: '2026-10-01T00:00:00Z', url: 'https://x/', guidance: ['restartHost'], livepatch: false, restricted: true, servers: [{ pool: 'lab', server: 'h1' }] }] },
  'GET /api/v1/updates?view=by-server&sort=date': { view: 'by-server', checking: { automatic: true, interval_s: 86400 }, servers: [{ pool: 'lab', server: 'h1', version: '8.2.1', status: 'Out of date', up_to_date: false, required: [{ id: 'u9', name: 'XS82ECU1001' }], installed: [] }] },
  'POST /api/v1/plans': plan,
  'POST /api/v1/rollouts': { id: 'r-1' },
  'GET /api/v1/rollouts': { rollouts: [{ id: 'r-1', state: 'running', created: '2026-11-21', pools: ['lab'], counters: { hosts_done: 0, hosts_total: 2 }, error: null }] },
  'GET /api/v1/rollouts/r-1': rollout,
  'POST /api/v1/updates/dismiss': null,
  'POST /api/v1/updates/restore': null,
  'POST /api/v1/updates/check': { checked_at: 'x', catalog_changed: true, updates: 3, pools: [] },
  'GET /api/v1/updates/export.csv?view=by-server': 'csv',
  'POST /api/v1/pools': { name: 'edge' },
  'DELETE /api/v1/pools/lab': null,
  'POST /api/v1/rollouts/r-1/cancel': null,
};

const srv = http.createServer((req, res) => {
  let body = '';
  req.on('data', (d) => { body += d; });
  req.on('end', () => {
    const key = req.method + ' ' + req.url;
    if (!req.url.startsWith('/api/')) {
      const f = req.url === '/' ? 'index.html' : req.url.slice(1);
      try { res.end(fs.readFileSync(WEB + '/' + f)); } catch { res.writeHead(404); res.end(); }
      return;
    }
    if (req.headers.authorization !== 'Bearer ' + TOKEN) { res.writeHead(401, { 'Content-Type': 'application/json' }); res.end('{"error":{"code":"unauthorized","message":"no"}}'); return; }
    calls.push(key + (body ? ' ' + body : ''));
    if (req.url === '/api/v1/events') {
      res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      res.write('retry: 3000\n: connected\n\n');
      sseRes = res;
      return;
    }
    if (!(key in answers)) { res.writeHead(404, { 'Content-Type': 'application/json' }); res.end(JSON.stringify({ error: { code: 'not_found', message: 'mock has no ' + key } })); return; }
    const a = answers[key];
    if (a === null) { res.writeHead(204); res.end(); return; }
    res.writeHead(key.startsWith('POST /api/v1/rollouts') ? 201 : 200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(a));
  });
});
await new Promise((r) => srv.listen(0, '127.0.0.1', r));
const base = 'http://127.0.0.1:' + srv.address().port + '/';

const window = new Window({ url: base, settings: { disableCSSFileLoading: true, disableJavaScriptFileLoading: true } });
const html = fs.readFileSync(WEB + '/index.html', 'utf8').replace(/<script[^>]*><\/script>/, '');
window.document.write(html);
for (const k of ['document', 'location', 'localStorage', 'Node', 'confirm', 'HTMLElement', 'AbortController']) globalThis[k] = window[k];
globalThis.window = window;
globalThis.fetch = window.fetch.bind(window);
window.confirm = () => true; globalThis.confirm = () => true;
const errors = [];
process.on('unhandledRejection', (e) => errors.push('unhandled: ' + e));
window.localStorage.setItem('poolpatch.token', TOKEN);
globalThis.addEventListener = window.addEventListener.bind(window);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const text = () => window.document.getElementById('main').textContent;
const bannerText = () => { const b = window.document.getElementById('banner'); return b.hidden ? '' : b.textContent; };
function check(cond, what) { if (!cond) { console.log('FAIL:', what, '\n  main:', text().slice(0, 400), '\n  banner:', bannerText()); process.exitCode = 1; } else console.log('ok:', what); }

await import(WEB + '/app.js');
await sleep(300);
check(text().includes('XS82ECU1001') && text().includes('contract'), 'updates by-update rendered');
check(text().includes('Automatic checking is off'), 'checking line');
// by server tab
[...window.document.querySelectorAll('button.tab')].find((b) => b.textContent === 'By Server').click();
await sleep(300);
check(text().includes('Out of date') && text().includes('Required updates'), 'by-server tab');
// dismiss all
[...window.document.querySelectorAll('button')].find((b) => b.textContent === 'Dismiss All').click();
await sleep(300);
check(calls.some((c) => c === 'POST /api/v1/updates/dismiss {"all":true}'), 'dismiss all sent ' + calls.filter((c) => c.includes('dismiss')));
[...window.document.querySelectorAll('button')].find((b) => b.textContent === 'Check now').click();
await sleep(300);
check(bannerText().includes('Checked: 3 updates available (the catalog changed)'), 'check now banner: ' + bannerText());
[...window.document.querySelectorAll('button')].find((b) => b.textContent === 'Restore Dismissed').click();
await sleep(300);
check(calls.includes('POST /api/v1/updates/restore'), 'restore sent');
[...window.document.querySelectorAll('button')].find((b) => b.textContent === 'Export CSV').click();
await sleep(300);
check(calls.includes('GET /api/v1/updates/export.csv?view=by-server'), 'csv fetched; banner ' + bannerText());
// pools
window.location.hash = '#/pools';
await sleep(300);
check(text().includes('https://10.0.0.1/') && text().includes('connected'), 'pools page');
const inputs = window.document.querySelectorAll('form.card input');
inputs[0].value = 'edge'; inputs[1].value = 'https://10.0.0.2/'; inputs[2].value = 'root'; inputs[3].value = 'pw';
window.document.querySelector('form.card button[type=submit]').click();
await sleep(300);
check(calls.some((c) => c === 'POST /api/v1/pools {"name":"edge","url":"https://10.0.0.2/","username":"root","password":"pw"}'), 'pool add sent');
[...window.document.querySelectorAll('button')].find((b) => b.textContent === 'Remove').click();
await sleep(300);
check(calls.includes('DELETE /api/v1/pools/lab'), 'pool remove sent');
// plan
window.location.hash = '#/plan';
await sleep(300);
window.document.querySelector('form.card button[type=submit]').click();
await sleep(300);
check(text().includes('HA is enabled') && text().includes('web1') && text().includes('h1 → h2') && text().includes('predicted window 15m00s'), 'plan rendered');
check(calls.some((c) => c.startsWith('POST /api/v1/plans {"pools":[],"policy":"return","stay_on_release":false,"automated":true}')), 'plan request ' + calls.filter((c) => c.includes('plans')));
// chosen updates: the By Update list is offered as checkboxes; choices survive the redraw
const modeSel = window.document.querySelector('form.card select');
modeSel.value = 'chosen';
modeSel.dispatchEvent(new window.Event('change'));
const upBox = [...window.document.querySelectorAll('form.card input[type=checkbox]')].find((c) => c.value === 'u9');
check(!!upBox, 'update offered as a checkbox');
upBox.checked = true;
upBox.dispatchEvent(new window.Event('change'));
window.document.querySelector('form.card button[type=submit]').click();
await sleep(300);
check(calls.some((c) => c.startsWith('POST /api/v1/plans') && c.includes('"updates":["u9"]')), 'chosen update sent ' + calls.filter((c) => c.includes('plans')).pop());
check(window.document.querySelector('form.card select').value === 'chosen', 'form kept its choices');
[...window.document.querySelectorAll('button')].find((b) => b.textContent === 'Start rollout').click();
await sleep(400);
check(window.location.hash === '#/rollouts/r-1', 'navigated to rollout ' + window.location.hash);
check(text().includes('20%') && text().includes('waiting'), 'rollout rendered');
check(bannerText() === '', 'no banner: ' + bannerText());
// live event
check(sseRes !== null, 'event stream connected; live=' + window.document.getElementById('live').textContent);
if (sseRes) {
  sseRes.write('id: 1\nevent: progress\ndata: {"rollout":"r-1","pool":"lab","host":"h2","step":"evacuate","percent":55,"state":"running","message":"1 of 2 VMs"}\n\n');
  await sleep(300);
  check(text().includes('55%') && text().includes('1 of 2 VMs'), 'live event applied');
  const fill = [...window.document.querySelectorAll('.bar .fill')].map((f) => f.style.width);
  check(fill.includes('55%'), 'bar width ' + fill);
}
[...window.document.querySelectorAll('button')].find((b) => b.textContent === 'Cancel').click();
await sleep(300);
check(calls.includes('POST /api/v1/rollouts/r-1/cancel'), 'cancel sent');
// rollouts list
window.location.hash = '#/rollouts';
await sleep(300);
check(text().includes('r-1') && text().includes('0/2'), 'rollouts list');
// 401 asks for the token
window.localStorage.setItem('poolpatch.token', 'wrong');
window.location.hash = '#/pools';
await sleep(300);
check(text().includes('API token') && text().includes('refused'), 'token asked again on 401');
check(errors.length === 0, 'no unhandled errors: ' + errors.join('; '));
if (sseRes) sseRes.end();
await window.happyDOM.abort();
srv.closeAllConnections();
srv.close();
process.exit(process.exitCode || 0);
