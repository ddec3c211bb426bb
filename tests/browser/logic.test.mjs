// SPDX-License-Identifier: MIT
// logic.test.mjs - unit tests of the web UI's pure logic in node (no browser, no daemon): the
// Updates tab's URL state, sorts and per-pool counts, the rollout header, the wizard's plan
// request and its refusals, migrations listed once, OpaqueRef / uuid -> name substitution,
// short titles and dates, cancel_failed's words and findings, the upgrade wizard's request,
// refusals, order and releases, and the hosts a manual upgrade waits for.  Run with: node --experimental-default-type=module (web/ has no
// package.json; its files are ES modules).  Random orders are seeded and the seed printed.
import test from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const WEB = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../web');
const load = (f) => import(pathToFileURL(path.join(WEB, f)).href);
const { sortUpdates, sortServers, updatesState, missingPerPool } = await load('updates.js');
const { headerText, hostCounts, phaseWords, stepWords, recordText, logLine, notePhase, stateWords, findingLines, waitingUpgradeHosts } = await load('rollout.js');
const { upgradeRequest, upgradeProblem, hostsToUpgrade, upgradeFixable, releaseChoices, standaloneVms } = await load('upgrade.js');
const { planRequest, stepProblem, hostMigrations, poolBlocked, defaultPolicy, setDefaultPolicy, pickedHosts } = await load('wizard.js');
const { makeNamer, rolloutTitle, dateText, parseTime, duration } = await load('ui.js');

const SEED = Number(process.env.SEED || 20261205);
console.log('seed', SEED);
function shuffled(a, seed) {
  let x = seed >>> 0;
  const r = () => ((x = (x * 1664525 + 1013904223) >>> 0) / 2 ** 32);
  const b = [...a];
  for (let i = b.length - 1; i > 0; i--) { const j = Math.floor(r() * (i + 1)); [b[i], b[j]] = [b[j], b[i]]; }
  return b;
}

const UPD = [
  { id: 'a', name: 'A', kind: 'hotfix', date: '2026-03-10T00:00:00Z', pools: ['prod'] },
  { id: 'b', name: 'B', kind: 'hotfix', date: '2026-10-30T00:00:00Z', pools: ['prod', 'edge'] },
  { id: 'r', name: 'XenServer 8', kind: 'release', date: '2026-02-01T00:00:00Z', pools: ['prod'] },
  { id: 'x', name: 'X', kind: 'hotfix', date: '20251104T09:00:00Z', pools: ['lab'] },
];

test('updates state from the URL: defaults and unknown values refused', () => {
  assert.deepEqual(updatesState(new URLSearchParams('')), { view: 'by-update', sort: 'date', pool: '', server: '', date: '' });
  assert.deepEqual(updatesState(new URLSearchParams('view=by-server&sort=pool&pool=lab&server=h1&date=90')),
    { view: 'by-server', sort: 'pool', pool: 'lab', server: 'h1', date: '90' });
  assert.deepEqual(updatesState(new URLSearchParams('view=evil&sort=x&date=7')), { view: 'by-update', sort: 'date', pool: '', server: '', date: '' });
});

test('By Update sorts: new versions first, then newest / by pool, whatever the input order', () => {
  for (let s = 0; s < 20; s++) {
    const rows = shuffled(UPD, SEED + s);
    assert.deepEqual(sortUpdates(rows, 'date').map((u) => u.id), ['r', 'b', 'a', 'x']);
    assert.deepEqual(sortUpdates(rows, 'pool').map((u) => u.id), ['r', 'b', 'x', 'a']);
  }
});

test('By Server sorts by pool (pool row first) and by the newest missing update', () => {
  const servers = [
    { pool: 'prod', server: 'p2', required: [{ id: 'a' }] },
    { pool: 'prod', server: 'prod', is_pool: true, required: [] },
    { pool: 'lab', server: 'l1', required: [{ id: 'x' }] },
    { pool: 'prod', server: 'p1', required: [{ id: 'b' }] },
  ];
  const dates = new Map(UPD.map((u) => [u.id, parseTime(u.date).getTime()]));
  for (let s = 0; s < 20; s++) {
    const rows = shuffled(servers, SEED + s);
    assert.deepEqual(sortServers(rows, 'pool', dates).map((x) => x.server), ['l1', 'prod', 'p1', 'p2']);
    assert.deepEqual(sortServers(rows, 'date', dates).map((x) => x.server), ['p1', 'p2', 'l1', 'prod']);
  }
});

test('updates missing per pool count distinct updates', () => {
  const m = missingPerPool({ servers: [{ pool: 'p', required: [{ id: 'a' }, { id: 'b' }] }, { pool: 'p', required: [{ id: 'a' }] },
    { pool: 'q', required: [] }] });
  assert.equal(m.get('p'), 2);
  assert.equal(m.get('q'), 0);
});

test('rollout header from the rollout JSON; skipped hosts are not done', () => {
  const r = { state: 'cancelled', elapsed_s: 75, window_s: 600,
    counters: { hosts_total: 3, hosts_done: 1, updates_applied: 2, migrations: 4, reboots: 1, toolstack_restarts: 0, live_patched: 0 },
    pools: [{ name: 'p', hosts: [{ name: 'a', state: 'done' }, { name: 'b', state: 'skipped' }, { name: 'c', state: 'skipped' }] }] };
  assert.equal(headerText(r), 'Hosts 1/3 done (2 skipped) · 2 updates applied · 4 migrations · 1 reboots · ' +
    '0 toolstack restarts · 0 live-patched · elapsed 1m15s of a predicted 10m00s');
  assert.deepEqual(hostCounts({ pools: [{ hosts: [{ state: 'done' }, { state: 'running' }] }] }), [1, 2]);
  assert.equal(phaseWords('restore'), 'Restoring what Resolve All changed');
  assert.equal(stepWords('wait_healthy'), 'waiting for the host to come back');
  // every host step kind of GET /rollouts/{id} has words (none falls back to its raw name)
  for (const k of ['health_gate', 'upgrade', 'restore_vms', 'evacuate', 'migrate_back', 'apply'])
    assert.notEqual(stepWords(k), k.replace(/_/g, ' '), `no words for step ${k}`);
  assert.equal(stepWords('health_gate'), 'checking its health (health gate)');
});

test('wizard: plan request and refusals', () => {
  const w = { mode: 'chosen', chosen: new Set(), file: '', pools: new Set(['b', 'a']), policy: 'return', stay: true, maxParallel: '' };
  assert.match(stepProblem(w, 0), /Tick at least one update/);
  w.chosen.add('u1');
  assert.equal(stepProblem(w, 0), null);
  assert.deepEqual(planRequest(w), { pools: ['a', 'b'], policy: 'return', stay_on_release: true, updates: ['u1'] });
  w.mode = 'automated'; w.maxParallel = '2';
  assert.deepEqual(planRequest(w), { pools: ['a', 'b'], policy: 'return', stay_on_release: true, automated: true, max_parallel: 2 });
  w.mode = 'file'; w.file = '';
  assert.match(stepProblem(w, 0), /Choose a downloaded update file/);
  w.file = '5b0f';
  assert.equal(stepProblem(w, 0), null);
  assert.equal(planRequest(w).file, '5b0f');
  w.pools.clear();
  assert.match(stepProblem(w, 1), /at least one pool/);
  const fix = { severity: 'error', resolution: { action: 'Turn HA off' } };
  w.plan = { pools: [{ name: 'p', prechecks: [fix] }] };
  assert.match(stepProblem(w, 2), /Resolve All/);
  w.consent = true;
  assert.equal(stepProblem(w, 2), null);
  w.plan.pools[0].prechecks.push({ severity: 'error', resolution: null });
  assert.ok(poolBlocked(w.plan.pools[0]));
  assert.match(stepProblem(w, 2), /Blocked: p/);
});

test('each migration once (host list wins over the copies inside actions)', () => {
  const m = { vm: 'web1', from: 'h1', to: 'h2' };
  assert.equal(hostMigrations({ migrations: [m], actions: [{ kind: 'evacuate', migrations: [m] }] }).length, 1);
  assert.equal(hostMigrations({ actions: [{ kind: 'evacuate', migrations: [m, m] }, { kind: 'apply' }] }).length, 2);
});

test('names instead of OpaqueRefs and update uuids', () => {
  const plan = { pools: [{ hosts: [{ ref: 'OpaqueRef:11-aa', name: 'h1', migrations: [{ vm: 'web1', vm_ref: 'OpaqueRef:22-bb', from: 'h1', to: 'h2' }] }] }] };
  const u = '3f9c1a52-6a4e-4c1e-9a57-0d6a5f7f2a01';
  const n = makeNamer(plan, [{ id: u, name: 'XS82ECU1001' }]);
  assert.equal(n('OpaqueRef:11-aa'), 'h1');
  assert.equal(n.text(`VM OpaqueRef:22-bb on OpaqueRef:11-aa needs ${u}; OpaqueRef:99-ff`), 'VM web1 on h1 needs XS82ECU1001; an object');
});

test('short titles, dates and durations', () => {
  const t = rolloutTitle({ pools: ['prod', 'lab', 'edge'], created: '2026-12-05T11:34:00Z' });
  assert.match(t, /^prod, lab \+1 · \d{1,2} Dec \d\d:\d\d$/);
  assert.equal(dateText('20251104T09:00:00Z'), '4 Nov 2025');
  assert.equal(dateText(null), '–');
  assert.equal(duration(3725), '1h02m');
});

test('host record and log lines read by name', () => {
  const u = '3f9c1a52-6a4e-4c1e-9a57-0d6a5f7f2a01';
  const n = makeNamer({ pools: [{ hosts: [{ ref: 'OpaqueRef:1-a', name: 'h1' }] }] }, [{ id: u, name: 'XS82ECU1001' }]);
  const x = { state: 'done', updates_applied: [{ uuid: u, name: null }], reboot_pending: true, reboot_pending_updates: [u],
    vms: [{ vm: 'web-1', to: 'h2', back: false }] };
  assert.equal(recordText(x, n), 'Applied: XS82ECU1001 · VMs moved: web-1 → h2 · Reboot pending for XS82ECU1001');
  assert.equal(recordText({ state: 'done', updates_applied: [], reboot_pending: false }, n), 'Applied: nothing · No reboot pending');
  assert.equal(logLine({ at: '2026-12-05T11:34:05Z', step: 'apply', state: 'done', detail: u }, n), '11:34:05 applying updates done XS82ECU1001');
  assert.equal(logLine('moved OpaqueRef:1-a', n), 'moved h1');
});

test('header: predicted_s is the prediction when present, failed hosts said', () => {
  const r = { elapsed_s: 30, window_s: 12, predicted_s: 600, counters: { hosts_total: 2, hosts_done: 1, hosts_failed: 1, hosts_skipped: 0 } };
  assert.match(headerText(r), /^Hosts 1\/2 done, 1 failed · .* elapsed 30s of a predicted 10m00s$/);
});

test('XenServer 8 repository hash applied: named by the updates the plan expected', () => {
  const n = makeNamer(null, [{ id: 'XS8-2025-0041', name: 'Xen hypervisor security update' }]);
  const hash = '0b7a5ff16ace19c59e97c513a96a11c995ed9ae2c3a4080c0269634f985f30a4';
  assert.equal(recordText({ updates_applied: [{ uuid: hash, name: null }], predicted: { updates: ['XS8-2025-0041', 'XS8-2025-0042'] } }, n),
    'Applied: repository updates (Xen hypervisor security update, XS8-2025-0042)');
  assert.equal(recordText({ updates_applied: [{ uuid: hash, name: null }] }, n), 'Applied: repository updates 0b7a5ff16ace…');
});

test('pool phase log: one line per phase in order, the same phase updates its line', () => {
  const l = [];
  assert.equal(notePhase(l, 'resolve', 'Resolving prechecks (Resolve All): HA off'), true);
  assert.equal(notePhase(l, 'upload', 'Uploading the update: 10%'), true);
  assert.equal(notePhase(l, 'upload', 'Uploading the update: 80%'), true);
  assert.equal(notePhase(l, 'upload', null), false); // a re-read of the same phase
  assert.equal(notePhase(l, 'resolve', null), false); // an old phase read late is not repeated
  assert.equal(notePhase(l, 'hosts', null), true); // from GET /rollouts: the words of the step
  assert.equal(notePhase(l, null, 'x'), false);
  assert.equal(notePhase(l, 'restore', 'Restoring what Resolve All changed: HA on'), true);
  assert.deepEqual(l.map((x) => x.step), ['resolve', 'upload', 'hosts', 'restore']);
  assert.equal(l[1].text, 'Uploading the update: 80%');
  assert.equal(l[2].text, phaseWords('hosts'));
});

test('the wizard\'s default policy is return (the engine\'s); a browser may keep minimal', () => {
  const store = new Map();
  globalThis.localStorage = { getItem: (k) => store.get(k) ?? null, setItem: (k, v) => store.set(k, String(v)) };
  assert.equal(defaultPolicy(), 'return');
  setDefaultPolicy('minimal');
  assert.equal(defaultPolicy(), 'minimal');
  setDefaultPolicy('bogus');
  assert.equal(defaultPolicy(), 'return');
  delete globalThis.localStorage;
});

test('servers picked one by one: the request names hosts only when some are left out', () => {
  const w = { pools: new Set(['prod', 'edge']), eligible: new Map([['prod', ['p1', 'p2', 'p3']], ['edge', ['e1']], ['lab', ['l1']]]),
    unpicked: new Set(), mode: 'automated', chosen: new Set(), policy: 'return', stay: false, maxParallel: '', file: '' };
  assert.equal(pickedHosts(w), null);
  assert.equal('hosts' in planRequest(w), false);
  w.unpicked.add('lab/l1'); // a pool not chosen does not count
  assert.equal(pickedHosts(w), null);
  w.unpicked.add('prod/p2');
  assert.deepEqual(pickedHosts(w), ['e1', 'p1', 'p3']);
  assert.deepEqual(planRequest(w).hosts, ['e1', 'p1', 'p3']);
  for (const k of ['prod/p1', 'prod/p3', 'edge/e1']) w.unpicked.add(k);
  assert.deepEqual(pickedHosts(w), []);
  assert.match(stepProblem(w, 1), /at least one server/);
});

test('the wizard asks for manual post-update tasks only when ticked', () => {
  const w = { pools: new Set(['prod']), mode: 'automated', chosen: new Set(), policy: 'return', stay: false, maxParallel: '', file: '' };
  assert.equal('manual_post_tasks' in planRequest(w), false);
  w.manual = true;
  assert.equal(planRequest(w).manual_post_tasks, true);
});

test('cancel_failed: its own words; findings listed by pool and object, by name', () => {
  assert.equal(stateWords('cancel_failed'), 'cancel failed');
  assert.notEqual(stateWords('cancel_failed'), stateWords('cancelled'));
  assert.equal(stateWords('done'), 'done');
  const namer = makeNamer({ pools: [{ hosts: [{ ref: 'OpaqueRef:0a2', name: 'small-2' }] }] }, []);
  const lines = findingLines({ findings: [
    { pool: 'p', code: 'HOST_NOT_LIVE', object: 'small-2', message: 'down', action: 'power it on' },
    { pool: 'p', code: 'HOST_DISABLED', ref: 'OpaqueRef:0a2', message: 'OpaqueRef:0a2 is disabled', action: '' },
    { pool: 'a', code: 'HA_OFF', object: 'a', message: 'HA is off' }] }, namer);
  assert.deepEqual(lines.map((f) => [f.pool, f.object, f.code]), [['a', 'a', 'HA_OFF'], ['p', 'small-2', 'HOST_NOT_LIVE'], ['p', 'small-2', 'HOST_DISABLED']]);
  assert.equal(lines[2].text, 'small-2 is disabled');
  assert.deepEqual(findingLines({}), []);
});
test('upgrade wizard: request, refusals, order and releases', () => {
  const w = { pools: new Set(['rpu-b', 'rpu-a']), mode: 'automated', to: '8.4.0', url: ' http://m/x/ ', policy: 'minimal', consent: false, plan: null };
  assert.deepEqual(upgradeRequest(w, true), { pools: ['rpu-a', 'rpu-b'], to: '8.4.0', url: 'http://m/x/', dry_run: true });
  assert.deepEqual(upgradeRequest({ ...w, mode: 'manual', policy: 'return' }, false), { pools: ['rpu-a', 'rpu-b'], to: '8.4.0', manual: true, policy: 'return' });
  // the "apply the new version's updates" box: apply_updates in the dry run and the start
  assert.equal(upgradeRequest({ ...w, applyUpdates: true }, true).apply_updates, true);
  assert.equal(upgradeRequest({ ...w, applyUpdates: true }, false).apply_updates, true);
  assert.equal('apply_updates' in upgradeRequest(w, false), false);
  // a standalone host's VMs: suspended by default, shut down as chosen (the request's shutdown)
  const solo = { pools: [{ name: 'solo', prechecks: [{ id: 'upgrade_url' }, { id: 'upgrade_standalone' }, { id: 'upgrade_standalone' }],
    checks: [{ id: 'upgrade_url' }, { id: 'upgrade_standalone', fix: { kind: 'suspend_vm', obj: 'OpaqueRef:web' } },
      { id: 'upgrade_standalone', fix: { kind: 'shutdown_vm', obj: 'OpaqueRef:db' } }] }] };
  assert.deepEqual(standaloneVms(solo, new Set(['OpaqueRef:db'])), [{ vm: 'OpaqueRef:web', shutdown: false }, { vm: 'OpaqueRef:db', shutdown: true }]);
  assert.deepEqual(upgradeRequest({ ...w, shutdown: new Set(['b', 'a']) }, false).shutdown, ['a', 'b']);
  assert.equal('shutdown' in upgradeRequest({ ...w, shutdown: new Set() }, false), false);
  assert.match(upgradeProblem({ ...w, pools: new Set() }, 1), /at least one pool/);
  assert.match(upgradeProblem({ ...w, to: '' }, 2), /release/);
  assert.match(upgradeProblem({ ...w, url: 'file:///x' }, 2), /installation media URL/);
  assert.equal(upgradeProblem({ ...w, mode: 'manual', url: '' }, 2), null);
  const plan = { pools: [{ name: 'rpu-a', prechecks: [{ id: 'ha_enabled', severity: 'blocking', resolution: { action: 'HA off' } }],
    hosts: [{ name: 'h3', order: 2 }, { name: 'h1', order: 0 }, { name: 'h2', order: 1 }, { name: 'h0', order: -1 }] }] };
  assert.deepEqual(hostsToUpgrade(plan), ['rpu-a/h1', 'rpu-a/h2', 'rpu-a/h3']);
  assert.equal(upgradeFixable(plan).length, 1);
  assert.match(upgradeProblem({ ...w, plan }, 3), /Resolve All/);
  assert.equal(upgradeProblem({ ...w, plan, consent: true }, 3), null);
  const stuck = { pools: [{ name: 'x', prechecks: [{ id: 'host_not_live', severity: 'blocking' }], hosts: [{ name: 'h', order: 0 }] }] };
  assert.match(upgradeProblem({ ...w, plan: stuck, consent: true }, 3), /^Blocked: x/);
  assert.match(upgradeProblem({ ...w, plan: { pools: [{ name: 'y', hosts: [{ name: 'h', order: -1 }] }] } }, 3), /Nothing to upgrade/);
  assert.deepEqual(releaseChoices([{ name: 'A' }, { name: 'XenServer 8', upgrade: { to: '8.4.0' } }, { name: 'again', upgrade: { to: '8.4.0' } }]),
    [{ to: '8.4.0', name: 'XenServer 8' }]);
});

test('manual upgrade: the hosts waiting for their boot from the media', () => {
  const r = { state: 'running', pools: [
    { name: 'm', upgrade: { to: '8.4.0', manual: true }, hosts: [{ name: 'a', state: 'done', step: null }, { name: 'b', state: 'running', step: 'upgrade' },
      { name: 'c', state: 'running', step: 'evacuate' }] },
    { name: 'auto', upgrade: { to: '8.4.0', manual: false }, hosts: [{ name: 'd', state: 'running', step: 'upgrade' }] }] };
  assert.deepEqual(waitingUpgradeHosts(r), [{ pool: 'm', host: 'b', to: '8.4.0' }]);
  assert.deepEqual(waitingUpgradeHosts({ ...r, state: 'halted' }), []);
  assert.deepEqual(waitingUpgradeHosts({ state: 'running', pools: [{ name: 'u', hosts: [{ name: 'x', state: 'running', step: 'upgrade' }] }] }), []);
});
