// SPDX-License-Identifier: MIT
// wizard.js - the Install Update wizard, in XenCenter's order (shared/reference/xencenter.md §3):
// Select Update -> Select Servers -> Prechecks (resolutions, Resolve All as explicit consent,
// blocking problems block) -> Update Mode (per host) -> Review (migrations, reboots, window,
// upload SR, parallelism, policy) -> Install (the live rollout view, rollout.js) -> Finish.
// The dry run is POST /plans; Install is POST /rollouts with the same request.

import { api, uploadFile } from './api.js';
import { h, show, banner, table, duration, names, uid, errorText, makeNamer, announce } from './ui.js';

export const STEPS = ['Select Update', 'Select Servers', 'Prechecks', 'Update Mode', 'Review', 'Install', 'Finish'];

const PREF_POLICY = 'poolpatch.defaultPolicy';
// The wizard starts with the daemon's default policy (GET /settings default_policy, set in
// Settings; `return` unless changed).  The last value read is kept in this browser for a daemon
// that does not answer it.
export const defaultPolicy = () => (localStorage.getItem(PREF_POLICY) === 'minimal' ? 'minimal' : 'return');
export const setDefaultPolicy = (p) => localStorage.setItem(PREF_POLICY, p === 'minimal' ? 'minimal' : 'return');

let wiz = null;

function fresh() {
  return { step: 0, mode: 'automated', chosen: new Set(), file: '', fileInfo: null, fileNote: '', pools: new Set(), consent: false,
    eligible: new Map(), unpicked: new Set(), manual: false,
    policy: defaultPolicy(), stay: false, maxParallel: '', plan: null, planKey: '' };
}

// The plan request the wizard's choices make (docs/rest-api.md, "Plan request").
export function planRequest(w) {
  const req = { pools: [...w.pools].sort(), policy: w.policy, stay_on_release: w.stay };
  if (w.mode === 'automated') req.automated = true;
  else if (w.mode === 'chosen') req.updates = [...w.chosen];
  else req.file = w.file; // the id POST /files answered
  if (w.maxParallel !== '' && Number(w.maxParallel) > 0) req.max_parallel = Number(w.maxParallel);
  const hosts = pickedHosts(w);
  if (hosts) req.hosts = hosts;
  if (w.manual) req.manual_post_tasks = true;
  return req;
}

// The hosts ticked in Select Servers, or null when every eligible host of the chosen pools is
// (the request then names pools only).  w.eligible: pool -> host names that can be chosen;
// w.unpicked: "pool/host" keys the user unticked.
export function pickedHosts(w) {
  const pools = [...w.pools].sort();
  const el = w.eligible || new Map(), un = w.unpicked || new Set();
  if (!pools.some((p) => (el.get(p) || []).some((x) => un.has(p + '/' + x)))) return null;
  return pools.flatMap((p) => (el.get(p) || []).filter((x) => !un.has(p + '/' + x)));
}

// What is wrong with the choices so far, or null (the wizard's Next refuses with it).
export function stepProblem(w, step) {
  if (step === 0 && w.mode === 'chosen' && !w.chosen.size) return 'Tick at least one update, or choose automated updates.';
  if (step === 0 && w.mode === 'file' && !w.file) return 'Choose a downloaded update file (.zip or .iso) and wait until it is uploaded.';
  if (step === 1 && !w.pools.size) return 'Choose at least one pool.';
  if (step === 1 && pickedHosts(w) && !pickedHosts(w).length) return 'Choose at least one server.';
  if (step === 2 && w.plan) {
    const pools = w.plan.pools || [];
    const blocked = pools.filter((p) => poolBlocked(p));
    if (blocked.length) return 'Blocked: ' + blocked.map((p) => p.name).join(', ') + ' has a problem that cannot be resolved automatically. Fix it on the pool, then re-check.';
    if (pools.some((p) => prechecks(p).some((c) => c.resolution && c.severity !== 'info')) && !w.consent) return 'Press “Resolve All” to allow poolpatch to apply the resolutions, or fix the problems yourself and re-check.';
  }
  return null;
}

export const prechecks = (p) => p.prechecks || p.checks || [];
export const poolBlocked = (p) => !!p.blocked || prechecks(p).some((c) => (c.severity === 'error' || c.severity === 'blocking') && !c.resolution && !c.fixable);

// A reboot or toolstack restart the plan leaves to the user ("I will carry out ... myself").
const leftToUser = (x) => (x.actions || []).some((a) => typeof a === 'object' && a.manual &&
  ['reboot', 'restart_toolstack'].includes(a.kind));

function hostMode(x) {
  const m = hostModeWords(x);
  return leftToUser(x) ? m + ' — left to you' : m;
}

function hostModeWords(x) {
  if (x.update_mode) return x.update_mode;
  if (x.live_patch || x.livepatched) return 'Live patch: no reboot';
  if (x.reboot) return 'Reboot';
  if (x.toolstack_restart || x.toolstack) return 'Restart toolstack';
  return 'No action required';
}

// Each migration once: the host's own list, else the ones inside its actions.
export function hostMigrations(x) {
  if (Array.isArray(x.migrations)) return x.migrations;
  return (x.actions || []).flatMap((a) => (typeof a === 'object' && a.migrations) || []);
}

function stepList(cur) {
  return h('ol', { class: 'steps', 'aria-label': 'Install Update steps' }, STEPS.map((s, i) =>
    h('li', { 'data-step': s, 'aria-current': i === cur ? 'step' : null }, s)));
}

async function loadData() {
  const [pools, byU, byS] = await Promise.all([api('GET', '/pools'), api('GET', '/updates?view=by-update'),
    api('GET', '/updates?view=by-server&sort=pool')]);
  return { pools: pools.pools || [], updates: byU.updates || [], servers: byS.servers || [],
    offline: byU.offline_pools || byS.offline_pools || [] };
}

export async function viewWizard(q) {
  const fresher = !wiz || q.get('new') === '1' || q.get('update');
  if (fresher) {
    const st = await api('GET', '/settings').catch(() => null);
    if (st && st.default_policy) setDefaultPolicy(st.default_policy);
  }
  if (!wiz || q.get('new') === '1') wiz = fresh();
  if (q.get('update')) { wiz = fresh(); wiz.mode = 'chosen'; wiz.chosen.add(q.get('update')); }
  wiz.data = await loadData();
  draw();
}

function nav(back, next, nextLabel, nextAttrs) {
  const err = h('p', { class: 'bad', id: 'wizard-problem', role: 'alert' });
  return [err, h('div', { class: 'toolbar wizard-nav' },
    back ? h('button', { type: 'button', onclick: () => { wiz.step--; draw(); } }, '< Previous') : null,
    h('button', Object.assign({ type: 'button', class: 'primary', id: 'wizard-next', onclick: async () => {
      const p = stepProblem(wiz, wiz.step);
      if (p) { err.textContent = p; return; }
      try { banner(null); await next(); } catch (e) { err.textContent = errorText(e); }
    } }, nextAttrs || {}), nextLabel || 'Next >'),
    h('a', { href: '#/updates', class: 'button quiet' }, 'Cancel'))];
}

function draw() {
  const pages = [pageUpdate, pageServers, pagePrechecks, pageMode, pageReview];
  show(h('h2', { tabindex: -1 }, 'Install Update'), stepList(wiz.step),
    h('section', { class: 'card wizard-page' }, h('h3', { id: 'wizard-heading' }, STEPS[wiz.step]), pages[wiz.step]()));
}

const goto = (n) => { wiz.step = n; draw(); const hd = document.getElementById('wizard-heading'); if (hd) { hd.tabIndex = -1; hd.focus(); } };

function radio(name, value, label, extra) {
  const id = uid('r');
  return h('div', { class: 'choice' }, h('input', { type: 'radio', name, id, value, checked: wiz.mode === value,
    disabled: extra && extra.disabled, onchange: () => { wiz.mode = value; draw(); } }), ' ',
  h('label', { for: id }, label), extra && extra.note ? h('div', { class: 'muted small note' }, extra.note) : null);
}

function pageUpdate() {
  const ups = wiz.data.updates;
  const list = h('fieldset', { class: 'updates-pick', disabled: wiz.mode !== 'chosen' },
    h('legend', {}, 'Updates from the catalog'),
    ups.length ? ups.map((u) => {
      const id = uid('u');
      return h('div', { class: 'choice' }, h('input', { type: 'checkbox', id, checked: wiz.chosen.has(u.id),
        onchange: (ev) => { if (ev.target.checked) wiz.chosen.add(u.id); else wiz.chosen.delete(u.id); } }), ' ',
      h('label', { for: id }, u.name || u.id, ' ', h('span', { class: 'muted small' }, '(' + (u.kind || '') +
        (u.severity ? ', severity ' + u.severity : '') + '; ' + names(u.pools) + ')')));
    }) : h('p', { class: 'muted' }, 'No updates available: use Check for Updates Now.'));
  // the file goes to the daemon (POST /files), which says which update it holds (its update.xml)
  const upload = h('input', { type: 'file', id: 'wiz-upload', accept: '.zip,.iso', disabled: wiz.mode !== 'file',
    onchange: async (ev) => {
      const f = ev.target.files && ev.target.files[0];
      if (!f) return;
      wiz.file = ''; wiz.fileInfo = null; wiz.fileNote = 'Uploading ' + f.name + '…'; draw();
      try {
        const r = await uploadFile(f);
        wiz.file = r.id; wiz.fileInfo = r; wiz.fileNote = '';
      } catch (e) { wiz.fileNote = errorText(e); }
      draw();
    } });
  const fi = wiz.fileInfo;
  const note = fi ? fi.name + ' holds ' + fi.update.name_label + ' (' + fi.update.uuid + '), version ' + fi.update.version
    : wiz.fileNote;
  return [
    radio('upd', 'automated', 'Automated updates: the minimal set each host needs'),
    radio('upd', 'chosen', 'Chosen updates'), list,
    radio('upd', 'file', 'A downloaded update file (uploaded to the daemon)'),
    h('div', { class: 'field indent' }, h('label', { for: 'wiz-upload' }, 'Update zip or .iso'), upload,
      h('div', { class: 'muted small note', id: 'wiz-file-info', role: 'status' }, note || '')),
    nav(false, () => goto(1)),
  ];
}

// Why a host cannot be chosen (null = it will be updated), from the By Server view.
function hostReason(s) {
  if (s.up_to_date || s.status === 'Up to date') return 'Up to date: nothing to apply';
  if (wiz.mode === 'chosen') {
    const req = new Set((s.required || []).map((r) => r.id));
    if (![...wiz.chosen].some((id) => req.has(id))) return 'The chosen updates do not apply to it';
  }
  return null;
}

function pageServers() {
  const d = wiz.data;
  wiz.eligible = new Map();
  const offline = new Map(d.offline.map((o) => [o.name, o.error]));
  const blocks = d.pools.map((p) => {
    const hosts = d.servers.filter((s) => s.pool === p.name && !(s.is_pool && d.servers.filter((t) => t.pool === p.name).length > 1));
    const why = offline.has(p.name) ? 'Unreachable: ' + (offline.get(p.name) || 'cannot be read')
      : p.error ? p.error : !p.connected ? 'Not connected' : hosts.length && hosts.every((s) => hostReason(s)) ? 'Nothing to apply on any host' : null;
    if (why) wiz.pools.delete(p.name);
    wiz.eligible.set(p.name, why ? [] : hosts.filter((s) => !hostReason(s)).map((s) => s.server));
    const id = uid('pool');
    return h('div', { class: 'pool-pick', 'data-pool': p.name },
      h('input', { type: 'checkbox', id, checked: wiz.pools.has(p.name), disabled: !!why,
        onchange: (ev) => { if (ev.target.checked) wiz.pools.add(p.name); else wiz.pools.delete(p.name); wiz.consent = false; } }), ' ',
      h('label', { for: id }, h('strong', {}, p.name)), why ? h('span', { class: 'reason muted small' }, ' — ' + why) : null,
      h('ul', { class: 'host-pick' }, hosts.map((s) => {
        const r = why ? null : hostReason(s);
        const key = p.name + '/' + s.server;
        const hid = uid('host');
        const box = r || why ? null : h('input', { type: 'checkbox', id: hid, class: 'host-box', checked: !wiz.unpicked.has(key),
          onchange: (ev) => { if (ev.target.checked) wiz.unpicked.delete(key); else wiz.unpicked.add(key); wiz.consent = false; } });
        return h('li', { 'data-host': s.server }, box, box ? ' ' : null, h('label', box ? { for: hid } : {}, s.server), ' ',
          h('span', { class: 'small ' + (r ? 'muted' : 'good') }, r ? '— cannot be chosen: ' + r : '— will be updated'));
      })));
  });
  return [h('p', { class: 'small muted' }, 'Every host that needs an update is chosen (coordinator first); untick a server to leave it out. A XenServer 8 pool is updated whole.'),
    blocks.length ? blocks : h('p', {}, 'No pools registered: add one on the Pools page.'),
    nav(true, async () => { await dryRun(); goto(2); })];
}

async function dryRun() {
  const req = planRequest(wiz);
  const key = JSON.stringify(req);
  if (wiz.plan && wiz.planKey === key) return;
  wiz.plan = await api('POST', '/plans', req);
  wiz.planKey = key;
}

function sevWords(c) {
  if (c.severity === 'info' || c.severity === 'information') return ['info', 'Information'];
  if (c.resolution || c.fixable) return ['fixable', wiz.consent ? 'Will be resolved' : 'Can be resolved'];
  if (c.severity === 'warning') return ['warning', 'Warning'];
  return ['error', 'Problem'];
}

function pagePrechecks() {
  const namer = makeNamer(wiz.plan, wiz.data.updates);
  const pools = wiz.plan.pools || [];
  const fixable = pools.flatMap((p) => prechecks(p)).filter((c) => c.resolution && c.severity !== 'info');
  const sections = pools.map((p) => h('div', { class: 'precheck-pool', 'data-pool': p.name },
    h('h4', {}, 'Pool ', p.name, poolBlocked(p) ? h('span', { class: 'sevtag sev-error' }, 'Blocked') : null),
    prechecks(p).length ? table(['Result', 'Where', 'Check', 'Resolution'], prechecks(p).map((c) => {
      const [cls, word] = sevWords(c);
      return h('tr', { 'data-check': c.id, class: 'check-' + cls },
        h('td', {}, h('span', { class: 'sevtag sev-' + cls }, word)),
        h('td', {}, namer(c.host) || 'pool'), h('td', {}, namer.text(c.message)),
        h('td', {}, c.resolution ? [(wiz.consent ? 'Will be resolved: ' : 'Resolve All will: ') + c.resolution.action +
          (c.resolution.undo ? ', and afterwards: ' + c.resolution.undo : '')]
          : (cls === 'error' ? 'Must be fixed on the pool before the update' : '–')));
    })) : h('p', { class: 'good' }, 'All prechecks pass.')));
  const consent = h('button', { type: 'button', id: 'resolve-all', disabled: !fixable.length || wiz.consent,
    onclick: () => { wiz.consent = true; announce('Resolve All: the resolutions will be applied during the update and undone afterwards.'); draw(); } },
  wiz.consent ? 'Resolve All: agreed' : 'Resolve All');
  return [sections,
    fixable.length ? h('p', { class: 'small' }, `${fixable.length} problem${fixable.length === 1 ? '' : 's'} can be resolved by poolpatch during the update and undone afterwards. `,
      'Nothing is changed until you start the update.') : null,
    h('div', { class: 'toolbar' }, consent, h('button', { type: 'button', onclick: async () => {
      try { wiz.plan = null; wiz.consent = false; await dryRun(); draw(); } catch (e) { banner(errorText(e)); }
    } }, 'Check Again')),
    nav(true, () => goto(3))];
}

function pageMode() {
  const rows = (wiz.plan.pools || []).flatMap((p) => (p.hosts || []).filter((x) => !(x.order < 0 && !(x.actions || []).length))
    .map((x) => h('tr', { 'data-host': x.name }, h('td', {}, p.name), h('td', {}, x.name), h('td', {}, hostMode(x)),
      h('td', {}, names(x.updates && typeof x.updates[0] === 'string' ? x.updates.map((id) => makeNamer(null, wiz.data.updates)(id)) : x.updates) || names(p.updates) || '–'))));
  return [h('p', {}, wiz.manual ? 'poolpatch applies the updates; the post-update tasks below are yours (the hosts will show them pending):'
    : 'After applying the updates, poolpatch carries out the post-update tasks on each host:'),
    rows.length ? table(['Pool', 'Host', 'After applying', 'Updates'], rows) : h('p', {}, 'No host needs anything.'),
    h('div', { class: 'choice' }, h('input', { type: 'checkbox', id: 'manual-mode', checked: wiz.manual,
      onchange: async (ev) => {
        wiz.manual = ev.target.checked;
        try { await dryRun(); draw(); } catch (e) { banner(errorText(e)); }
      } }), ' ',
      h('label', { for: 'manual-mode' }, 'I will carry out the post-update tasks myself'),
      h('div', { class: 'muted small note' }, 'The updates are applied; reboots and toolstack restarts are left to you and no VM is moved for them. ' +
        'Until you carry them out the hosts report them pending.')),
    nav(true, () => goto(4))];
}

function totalsLine(t) {
  if (!t) return '';
  return `${t.migrations ?? 0} migrations · ${t.reboots ?? 0} reboots · ${t.toolstack_restarts ?? 0} toolstack restarts · ` +
    `${t.live_patched ?? t.livepatched_hosts ?? 0} live-patched · predicted window ${duration(t.window_s)}` +
    (typeof t.lower_bound_s === 'number' ? ` (at least ${duration(t.lower_bound_s)})` : '');
}

function nothingToDo(plan) {
  return (plan.pools || []).every((p) => !(p.hosts || []).some((x) => (x.actions || []).length && !(x.order < 0)));
}

function pageReview() {
  const plan = wiz.plan;
  const namer = makeNamer(plan, wiz.data.updates);
  const replan = async () => { try { await dryRun(); draw(); } catch (e) { banner(errorText(e)); } };
  const pol = uid('pol');
  const mp = uid('mp');
  const controls = h('div', { class: 'fields' },
    h('span', { class: 'field' }, h('label', { for: pol }, 'VM placement policy'),
      h('select', { id: pol, onchange: (ev) => { wiz.policy = ev.target.value; replan(); } },
        h('option', { value: 'minimal', selected: wiz.policy === 'minimal' }, 'Minimal migrations (VMs stay where they land)'),
        h('option', { value: 'return', selected: wiz.policy === 'return' }, 'Return VMs to their home hosts'))),
    h('span', { class: 'field' }, h('label', { for: mp }, 'Hosts updated at once (max parallel)'),
      h('input', { id: mp, type: 'number', min: 1, max: 64, placeholder: String(plan.max_parallel || 'planner\'s choice'), value: wiz.maxParallel,
        onchange: (ev) => { wiz.maxParallel = ev.target.value; replan(); } })),
    h('span', { class: 'field check' }, h('input', { type: 'checkbox', id: 'stay', checked: wiz.stay, onchange: (ev) => { wiz.stay = ev.target.checked; replan(); } }),
      h('label', { for: 'stay' }, 'Stay on the current release')));
  const pools = (plan.pools || []).map((p) => {
    const hosts = (p.hosts || []).filter((x) => !(x.order < 0 && !(x.actions || []).length));
    const up = p.upload || {};
    return h('section', { class: 'review-pool', 'data-pool': p.name },
      h('h4', {}, 'Pool ', p.name),
      h('p', {}, 'Updates: ', names(p.updates) || 'none needed'),
      prechecks(p).some((c) => c.resolution && c.severity !== 'info') ? h('p', { class: 'small' }, 'Resolve All will: ',
        prechecks(p).filter((c) => c.resolution && c.severity !== 'info').map((c) => c.resolution.action +
          (c.resolution.undo ? ' (then: ' + c.resolution.undo + ')' : '')).join('; ')) : null,
      h('p', { class: 'small' }, 'Upload to: ', up.sr_name || (up.sr ? namer(up.sr) : (p.cdn ? 'none (the pool\'s update repository)' : 'the pool\'s default SR')),
        up.bytes ? ` (${Math.round(up.bytes / 1024)} KiB)` : ''),
      hosts.length ? h('ol', { class: 'hosts' }, hosts.map((x) => h('li', { 'data-host': x.name },
        h('strong', {}, x.name), typeof x.batch === 'number' && x.batch >= 0 ? h('span', { class: 'tag' }, 'batch ' + (x.batch + 1)) : null,
        ': ', hostMode(x),
        hostMigrations(x).length ? h('ul', { class: 'migrations' }, hostMigrations(x).map((m) =>
          h('li', { class: 'migration' }, 'VM ', m.vm_name || namer(m.vm), ': ', namer(m.from), ' → ', namer(m.to)))) : null)))
        : h('p', {}, 'No host needs anything.'),
      h('p', { class: 'totals' }, totalsLine(p.totals)));
  });
  const empty = nothingToDo(plan);
  return [h('p', {}, `Policy: ${plan.policy === 'return' ? 'return VMs home' : 'minimal migrations'} · ` +
    `${plan.automated ? 'automated updates' : 'chosen updates'} · pools: ${(plan.pools || []).map((p) => p.name).join(', ')}` +
    (plan.max_parallel ? ` · at most ${plan.max_parallel} hosts at once` : '') +
    (plan.manual_post_tasks ? ' · post-update tasks: left to you' : '') +
    (Array.isArray(plan.hosts) ? ` · servers: ${plan.hosts.join(', ')}` : '')),
  controls, pools,
  h('p', { class: 'totals', id: 'review-totals' }, 'All pools: ', totalsLine(plan.totals)),
  empty ? h('p', { class: 'warn' }, 'Nothing needs doing: every chosen host already has these updates.') : null,
  nav(true, async () => {
    if (!confirm('Start the update now? Hosts will be evacuated, updated and restarted as shown.')) return;
    const r = await api('POST', '/rollouts', planRequest(wiz));
    wiz = null;
    location.hash = '#/rollouts/' + encodeURIComponent(r.id) + '?wizard=1';
  }, 'Install', { disabled: empty })];
}
