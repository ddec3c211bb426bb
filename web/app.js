// SPDX-License-Identifier: MIT
// app.js - the poolpatch web UI's shell: the token, the hash router (view state in the URL,
// scroll reset, focus to the page heading, tab title), the live event stream, and the Pools page
// with its settings (client ID import, default policy).  Pages: updates.js (Updates tab),
// wizard.js (Install Update), rollout.js (rollouts, live).  Plain ES modules, no framework; every
// piece of daemon data goes into the page as text nodes, never as HTML.  JSON: docs/rest-api.md.

import { api, ApiError, followEvents, getToken, setToken } from './api.js';
import { h, show, banner, table, errorText, parseHash, announce, setText } from './ui.js';
import { viewUpdates, missingPerPool } from './updates.js';
import { viewWizard, defaultPolicy, setDefaultPolicy } from './wizard.js';
import { viewRollouts, viewRollout, rolloutEvent, stopRolloutView } from './rollout.js';

// Run an action; errors go to the banner (a 401 asks for the token again).
async function guarded(fn) {
  try {
    banner(null);
    return await fn();
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) { askToken('The daemon refused the token.'); return; }
    banner(errorText(e));
  }
}

// ---------------------------------------------------------------- token

function askToken(why) {
  setToken('');
  stopRolloutView();
  const input = h('input', { type: 'password', id: 'token', size: 64, autocomplete: 'off' });
  const form = h('form', { class: 'card', id: 'token-form', onsubmit: (ev) => {
    ev.preventDefault();
    if (!input.value.trim()) return;
    setToken(input.value);
    startLive();
    navigate();
  } },
  h('h2', { tabindex: -1 }, 'API token'),
  why ? h('p', { class: 'warn' }, why) : null,
  h('p', {}, 'Paste the token the daemon wrote on its first start (by default ',
    h('code', {}, '~/.local/state/poolpatch/api-token'),
    '; poolpatch serve prints the path). It stays in this browser only.'),
  h('div', { class: 'field' }, h('label', { for: 'token' }, 'API token'), input), ' ',
  h('button', { type: 'submit', class: 'primary' }, 'Use token'));
  banner(null);
  document.title = 'Token — poolpatch';
  show(form);
  input.focus();
}

// ---------------------------------------------------------------- Pools and settings

function poolRow(p, missing) {
  const n = missing.get(p.name);
  return h('tr', { 'data-pool': p.name },
    h('td', {}, h('strong', {}, p.name)), h('td', {}, p.url), h('td', {}, p.master || '–'),
    h('td', { class: 'num' }, p.hosts ?? '–'), h('td', {}, p.version || '–'),
    h('td', {}, p.error ? h('span', { class: 'bad' }, p.error)
      : h('span', { class: p.connected ? 'good' : 'warn' }, p.connected ? 'Connected' : 'Disconnected')),
    h('td', { class: 'missing' }, p.error || !p.connected || n === undefined ? 'unknown'
      : n === 0 ? h('span', { class: 'good' }, 'Up to date') : h('a', { href: '#/updates?view=by-server&pool=' + encodeURIComponent(p.name) }, `${n} update${n === 1 ? '' : 's'} missing`)),
    h('td', {}, h('button', { type: 'button', class: 'quiet', onclick: () => guarded(async () => {
      if (!confirm('Remove pool ' + p.name + ' from poolpatch? (Nothing changes on the pool.)')) return;
      await api('DELETE', '/pools/' + encodeURIComponent(p.name));
      route();
    }) }, 'Remove', h('span', { class: 'sr-only' }, ' pool ' + p.name))));
}

function addPoolForm() {
  const field = (name, label, attrs) => {
    const el = h('input', Object.assign({ id: 'pool-' + name, name }, attrs));
    return [el, h('span', { class: 'field' }, h('label', { for: 'pool-' + name }, label), el)];
  };
  const [name, nameF] = field('name', 'Name', { placeholder: 'lab', required: true });
  const [url, urlF] = field('url', 'Master URL', { placeholder: 'https://10.0.0.1/', required: true, size: 28 });
  const [user, userF] = field('username', 'User', { placeholder: 'root', required: true });
  const [pw, pwF] = field('password', 'Password', { type: 'password', required: true, autocomplete: 'off' });
  const [ca, caF] = field('ca_file', 'CA file on the daemon host (optional)', {});
  return h('form', { class: 'card', onsubmit: (ev) => { ev.preventDefault(); guarded(async () => {
    const body = { name: name.value, url: url.value, username: user.value, password: pw.value };
    if (ca.value) body.ca_file = ca.value;
    await api('POST', '/pools', body);
    pw.value = '';
    route();
  }); } },
  h('h3', {}, 'Add a pool'), h('div', { class: 'fields' }, nameF, urlF, userF, pwF, caF),
  h('button', { type: 'submit' }, 'Add pool'));
}

function settingsCard(checking) {
  const status = h('p', { class: 'small', id: 'client-id-status', role: 'status' });
  const file = h('input', { type: 'file', id: 'client-id-file', accept: '.json,application/json',
    onchange: (ev) => guarded(async () => {
      const f = ev.target.files[0];
      if (!f) return;
      let obj;
      try { obj = JSON.parse(await f.text()); } catch (e) { throw new Error(f.name + ' is not JSON: ' + e.message); }
      await api('POST', '/client-id', obj);
      setText(status, 'Client ID imported from ' + f.name + '.');
      announce('Client ID imported.');
    }) });
  const pol = h('select', { id: 'default-policy', onchange: (ev) => { setDefaultPolicy(ev.target.value); announce('Default policy saved.'); } },
    h('option', { value: 'minimal', selected: defaultPolicy() === 'minimal' }, 'Minimal migrations'),
    h('option', { value: 'return', selected: defaultPolicy() === 'return' }, 'Return VMs to their home hosts'));
  const ck = checking || {};
  return h('section', { class: 'card', id: 'settings' }, h('h3', {}, 'Settings'),
    h('div', { class: 'fields' },
      h('span', { class: 'field' }, h('label', { for: 'client-id-file' }, 'Import the client ID file (xencenter_client_id.json)'), file),
      h('span', { class: 'field' }, h('label', { for: 'default-policy' }, 'Default VM placement policy (this browser)'), pol)),
    status,
    h('p', { class: 'small' }, 'Update checks: ', ck.automatic ? `automatic, every ${Math.round((ck.interval_s || 0) / 360) / 10} h` : 'automatic checking is off',
      ck.catalog_url ? ['; catalog ', h('code', {}, ck.catalog_url)] : null, '. ',
      h('span', { class: 'muted' }, 'The interval is the daemon\'s check_interval setting (poolpatch serve --check-interval or its settings file); the API cannot change it yet.')));
}

async function viewPools() {
  const [data, byS, byU] = await Promise.all([api('GET', '/pools'),
    api('GET', '/updates?view=by-server&sort=pool').catch(() => null), api('GET', '/updates?view=by-update').catch(() => null)]);
  const missing = missingPerPool(byS);
  for (const o of (byS && byS.offline_pools) || []) missing.delete(o.name);
  const rows = (data.pools || []).map((p) => poolRow(p, missing));
  show(h('h2', { tabindex: -1 }, 'Pools'),
    rows.length ? table(['Name', 'URL', 'Master', 'Hosts', 'Version', 'Status', 'Updates', ''], rows, { id: 'pools-table' })
      : h('p', {}, 'No pools registered yet.'),
<<<<<<< HEAD
    addPoolForm(), settingsCard(byU && byU.checking));
=======
    form);
}

// ---------------------------------------------------------------- Updates

const updState = { view: 'by-update', sort: 'date' };

async function viewUpdates() {
  const data = await api('GET', '/updates?view=' + updState.view + '&sort=' + updState.sort);
  const selected = new Set();
  const tab = (v, label) => h('button', { class: 'tab' + (updState.view === v ? ' active' : ''),
    onclick: () => { updState.view = v; route(); } }, label);
  const sort = h('select', { onchange: (ev) => { updState.sort = ev.target.value; route(); } },
    h('option', { value: 'date', selected: updState.sort === 'date' }, 'Sort by date'),
    h('option', { value: 'pool', selected: updState.sort === 'pool' }, 'Sort by pool'));
  const act = (label, fn, cls) => h('button', { class: cls || '', onclick: () => guarded(fn) }, label);
  const toolbar = h('div', { class: 'toolbar' },
    tab('by-update', 'By Update'), tab('by-server', 'By Server'), sort,
    act('Check now', async () => {
      banner('Checking…', 'info');
      const r = await api('POST', '/updates/check');
      const changed = r && (r.catalog_changed ?? r.changed);
      banner('Checked: ' + (r && r.updates !== undefined ? r.updates + ' updates available' : 'done') +
        (changed ? ' (the catalog changed)' : '') + '.', 'info');
      await viewUpdates();
    }),
    updState.view === 'by-update' ? act('Dismiss selected', async () => {
      if (!selected.size) { banner('Select updates to dismiss first.', 'info'); return; }
      await api('POST', '/updates/dismiss', { ids: [...selected] });
      route();
    }) : null,
    act('Dismiss All', async () => {
      if (!confirm('Dismiss every update shown? They can be restored.')) return;
      await api('POST', '/updates/dismiss', { all: true });
      route();
    }),
    act('Restore Dismissed', async () => { await api('POST', '/updates/restore'); route(); }),
    act('Export CSV', () => downloadCsv(updState.view), 'quiet'));

  let body;
  if (updState.view === 'by-update') {
    const rows = (data.updates || []).map((u) => {
      const cb = h('input', { type: 'checkbox', onchange: (ev) => {
        if (ev.target.checked) selected.add(u.id); else selected.delete(u.id);
      } });
      const servers = (u.servers || []).map((s) => s.pool + '/' + s.server).join(', ') || names(u.pools);
      return h('tr', { class: u.dismissed ? 'dismissed' : '' },
        h('td', {}, cb),
        h('td', {}, (u.url || u.web_page) ? h('a', { href: u.url || u.web_page, target: '_blank', rel: 'noopener noreferrer' }, u.name || u.id) : (u.name || u.id),
          u.restricted ? h('span', { class: 'tag', title: 'Needs a support contract' }, 'contract') : null,
          u.dismissed ? h('span', { class: 'tag' }, 'dismissed') : null,
          u.description ? h('div', { class: 'muted small' }, u.description) : null),
        h('td', {}, h('span', { class: 'kind ' + (u.category || u.kind || '') }, u.category || u.kind || '–')),
        h('td', {}, isoDate(u.date || u.timestamp)),
        h('td', {}, [names(u.guidance) || (u.guidance_reboot ? 'restartHost' : ''), u.livepatch ? 'live patch' : ''].filter(Boolean).join(', ') || '–'),
        h('td', {}, servers || '–'));
    });
    body = rows.length ? table(['', 'Update', 'Kind', 'Date', 'After apply', 'Applies to'], rows)
      : h('p', {}, 'No updates available for the registered pools.');
  } else {
    const rows = (data.servers || []).map((s) => h('tr', {},
      h('td', {}, s.pool), h('td', {}, s.is_pool ? h('strong', {}, s.server + ' (pool)') : s.server), h('td', {}, s.version || '–'),
      h('td', {}, s.status ? h('span', { class: s.up_to_date || s.status === 'Up to date' ? 'good' : 'warn' }, s.status) : '–'),
      h('td', {}, names(s.required) || '–'), h('td', {}, names(s.installed) || '–')));
    body = rows.length ? table(['Pool', 'Server', 'Version', 'Status', 'Required updates', 'Installed updates'], rows)
      : h('p', {}, 'No servers: add a pool first.');
  }
  show(h('h2', {}, 'Updates'), toolbar, checkingLine(data.checking), body);
}

// ---------------------------------------------------------------- Plan

const planState = { req: null, plan: null };

// The form's choices survive re-rendering (after a dry run the page is drawn again).
const planForm0 = () => ({ pools: new Set(), mode: 'automated', chosen: new Set(), ids: '', file: '',
  policy: 'return', maxParallel: 0, stay: false });
planState.form = planForm0();

function planForm(pools, updates) {
  const st = planState.form;
  const check = (set, value, label) => h('label', { class: 'check' },
    h('input', { type: 'checkbox', value, checked: set.has(value), onchange: (ev) => {
      if (ev.target.checked) set.add(value); else set.delete(value);
    } }), ' ', label);
  const boxes = pools.map((p) => check(st.pools, p.name, p.name));
  const upBoxes = updates.map((u) => check(st.chosen, u.id, (u.name || u.id) +
    (u.category || u.kind ? ' (' + (u.category || u.kind) + ')' : '')));
  const mode = h('select', { onchange: (ev) => { st.mode = ev.target.value; } },
    h('option', { value: 'automated', selected: st.mode === 'automated' }, 'Automated updates (minimal set per host)'),
    h('option', { value: 'chosen', selected: st.mode === 'chosen' }, 'Chosen updates'),
    h('option', { value: 'file', selected: st.mode === 'file' }, 'A downloaded update file'));
  const ids = h('input', { placeholder: 'other update ids or names, comma-separated', size: 40,
    value: st.ids, oninput: (ev) => { st.ids = ev.target.value; } });
  const file = h('input', { placeholder: '/path/on/daemon/host/update.zip', size: 40, value: st.file,
    oninput: (ev) => { st.file = ev.target.value; } });
  const policy = h('select', { onchange: (ev) => { st.policy = ev.target.value; } },
    h('option', { value: 'return', selected: st.policy === 'return' }, 'Return VMs to their home hosts (default)'),
    h('option', { value: 'minimal', selected: st.policy === 'minimal' }, 'Minimal migrations (VMs stay where they land)'));
  // at most this many hosts of a pool down at once; 0 = as capacity allows, 1 = one at a time
  const maxParallel = h('input', { type: 'number', min: 0, max: 64, value: st.maxParallel, size: 3,
    oninput: (ev) => { st.maxParallel = Math.max(0, Math.min(64, parseInt(ev.target.value, 10) || 0)); } });
  const stay = h('input', { type: 'checkbox', checked: st.stay, onchange: (ev) => { st.stay = ev.target.checked; } });
  const buildReq = () => {
    const req = { pools: [...st.pools], policy: st.policy, stay_on_release: st.stay };
    if (st.maxParallel > 0) req.max_parallel = st.maxParallel;
    if (st.mode === 'automated') req.automated = true;
    else if (st.mode === 'chosen') {
      req.updates = [...st.chosen, ...st.ids.split(',').map((x) => x.trim()).filter(Boolean)];
    } else req.file = st.file.trim();
    return req;
  };
  return h('form', { class: 'card', onsubmit: (ev) => { ev.preventDefault(); guarded(async () => {
    planState.req = buildReq();
    planState.plan = await api('POST', '/plans', planState.req);
    renderPlanPage(pools, updates);
  }); } },
  h('h3', {}, 'Dry run'),
  h('div', { class: 'fields' },
    h('div', {}, 'Pools (none = all): ', boxes.length ? boxes : h('span', { class: 'muted' }, 'no pools registered')),
    h('label', {}, 'What ', mode),
    h('div', {}, 'Chosen updates: ', upBoxes.length ? upBoxes : h('span', { class: 'muted' }, 'none available'), ' ', ids),
    h('label', {}, 'File ', file),
    h('label', {}, 'Placement ', policy),
    h('label', {}, 'Hosts down at once (0 = as capacity allows, 1 = one at a time; the master always goes first and alone) ', maxParallel),
    h('label', { class: 'check' }, stay, ' Stay on the current release')),
  h('button', { type: 'submit' }, 'Plan'));
}

function severity(s) {
  return h('span', { class: 'sev ' + (s || 'info') }, (s || 'info').toUpperCase());
}

function actionText(a) {
  if (typeof a === 'string') return a;
  return a.description || [a.kind, a.name || a.update].filter(Boolean).join(' ');
}

function totalsLine(t) {
  if (!t) return null;
  return h('p', { class: 'totals' },
    `${t.migrations ?? 0} migrations · ${t.reboots ?? 0} reboots · ${t.toolstack_restarts ?? 0} toolstack restarts · ` +
    `${t.live_patched ?? t.livepatched_hosts ?? 0} live-patched · predicted window ${duration(t.window_s)}` +
    (t.lower_bound_s !== undefined ? ` (lower bound ${duration(t.lower_bound_s)})`
      : t.bound ? ` (lower bound ${duration(t.bound.window_s)})` : ''));
}

// The planner's own JSON (plan_to_json) names hosts by ref; show their names.
function hostNamer(p) {
  const byRef = new Map((p.hosts || []).filter((x) => x.ref).map((x) => [x.ref, x.name]));
  return (r) => (r && byRef.has(r) ? byRef.get(r) : r);
}

function renderPlan(plan) {
  const pools = (plan.pools || []).map((p0) => {
    const p = { ...p0, prechecks: p0.prechecks || p0.checks || [] };
    const hn = hostNamer(p);
    const name = p.name || (typeof p.pool === 'string' ? p.pool : p.pool && p.pool.name) || '?';
    const blocked = p.blocked || p.prechecks.some((c) => c.severity === 'blocking' && !c.fixable);
    const updates = p.updates || (p.upload && p.upload.updates) || [];
    const hosts = (p.hosts || []).filter((x) => !(x.order < 0 && !(x.actions || []).length));
    const migs = (x) => [...(x.migrations || []), ...(x.actions || []).flatMap((a) => (typeof a === 'object' && a.migrations) || [])];
    return h('section', { class: 'card' },
      h('h3', {}, 'Pool ', name, blocked ? h('span', { class: 'sev error' }, 'BLOCKED') : null),
      h('p', {}, 'Updates: ', names(updates) || 'none needed'),
      p.prechecks.length ? table(['Severity', 'Host', 'Check', 'Resolution'], p.prechecks.map((c) => h('tr', {},
        h('td', {}, severity(c.severity)), h('td', {}, hn(c.host) || 'pool'), h('td', {}, c.message),
        h('td', {}, c.resolution ? [c.resolution.action, c.resolution.undo ? h('div', { class: 'muted small' }, 'undone afterwards: ' + c.resolution.undo) : null]
          : c.fix ? c.fix.kind : '–')))) : h('p', { class: 'good' }, 'All prechecks pass.'),
      hosts.length ? h('ol', { class: 'hosts' }, hosts.map((x) => h('li', {},
        h('strong', {}, x.name), x.batch !== undefined && x.batch >= 0 ? h('span', { class: 'tag' }, 'batch ' + x.batch) : null,
        ': ', (x.actions || []).map(actionText).join(', ') || 'nothing to do',
        migs(x).length ? h('ul', { class: 'migrations' }, migs(x).map((m) =>
          h('li', {}, 'VM ', h('code', {}, m.vm_name || m.vm), ': ', hn(m.from), ' → ', hn(m.to)))) : null)))
        : h('p', {}, 'No host needs anything.'),
      totalsLine(p.totals));
  });
  return h('div', {}, pools, plan.totals ? h('div', { class: 'card' }, h('h3', {}, 'All pools'), totalsLine(plan.totals)) : null);
}

function renderPlanPage(pools, updates) {
  const parts = [h('h2', {}, 'Plan'), planForm(pools, updates)];
  if (planState.plan) {
    parts.push(renderPlan(planState.plan));
    parts.push(h('button', { class: 'primary', onclick: () => guarded(async () => {
      if (!confirm('Start this rollout now? Hosts will be evacuated, updated and rebooted as planned.')) return;
      const r = await api('POST', '/rollouts', planState.req);
      planState.plan = null;
      location.hash = '#/rollouts/' + encodeURIComponent(r.id);
    }) }, 'Start rollout'));
  }
  show(...parts);
}

async function viewPlan() {
  const [data, ups] = await Promise.all([api('GET', '/pools'),
    api('GET', '/updates?view=by-update&sort=date').catch(() => ({ updates: [] }))]);
  renderPlanPage(data.pools || [], (ups && ups.updates) || []);
}

// ---------------------------------------------------------------- Rollouts

let current = null; // the rollout shown in detail, updated live

async function viewRollouts() {
  const data = await api('GET', '/rollouts');
  const rows = (data.rollouts || []).map((r) => h('tr', {},
    h('td', {}, h('a', { href: '#/rollouts/' + encodeURIComponent(r.id) }, r.id)),
    h('td', {}, h('span', { class: 'state ' + r.state }, r.state)),
    h('td', {}, timeText(r.created)), h('td', {}, names(r.pools)),
    h('td', { class: 'num' }, progressText(r)),
    h('td', {}, errorCode(r))));
  show(h('h2', {}, 'Rollouts'),
    rows.length ? table(['Id', 'State', 'Created', 'Pools', 'Progress', 'Error'], rows)
      : h('p', {}, 'No rollouts yet: make a plan and start it.'));
}

// ISO text, or epoch milliseconds / seconds (the executor's JSON)
function timeText(t) {
  if (typeof t === 'string') return t;
  if (typeof t !== 'number') return '–';
  return new Date(t > 1e11 ? t : t * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

function hostCounts(r) {
  const c = r.counters || {};
  if (typeof c.hosts_total === 'number') return [c.hosts_done ?? 0, c.hosts_total];
  const hosts = (r.pools || []).flatMap((p) => (typeof p === 'object' && p.hosts) || []);
  return [hosts.filter((x) => x.state === 'done').length, hosts.length];
}

function progressText(r) {
  const [done, total] = hostCounts(r);
  if (total) return `${done}/${total} hosts`;
  if (typeof r.steps_total === 'number') return `${r.steps_done ?? 0}/${r.steps_total} steps`;
  return '–';
}

function errorCode(r) {
  if (r.error && typeof r.error === 'object') return r.error.code;
  const pe = (r.pools || []).find((p) => p && typeof p === 'object' && p.error && typeof p.error === 'object');
  if (pe) return pe.error.code;
  return typeof r.error === 'string' ? r.error : '';
}

function bar(pct) {
  const fill = h('span', { class: 'fill' });
  fill.style.width = Math.max(0, Math.min(100, pct || 0)) + '%'; // CSSOM: allowed by the CSP
  return h('span', { class: 'bar' }, fill);
}

function drawRollout() {
  const r = current;
  const c = r.counters || {};
  const final = ['done', 'halted', 'failed', 'cancelled'].includes(r.state);
  const pools = (r.pools || []).map((p) => h('section', { class: 'card' },
    h('h3', {}, p.name, ' ', h('span', { class: 'state ' + (p.state || '') }, p.state || ''), p.step ? h('span', { class: 'muted' }, ' · ' + p.step) : null),
    table(['Host', 'Progress', '', 'State', 'Step'], (p.hosts || []).map((x) => h('tr', {},
      h('td', {}, x.name), h('td', {}, bar(x.percent)), h('td', { class: 'num' }, (x.percent ?? 0) + '%'),
      h('td', {}, h('span', { class: 'state ' + (x.state || '') }, x.state || '–')),
      h('td', {}, x.step || '–', x.message ? h('div', { class: 'muted small' }, x.message) : null))))));
  const errBox = (e, where) => h('div', { class: 'card errorbox' },
    h('h3', {}, 'Halted: ', e.code || 'error', where ? ' in ' + where : '', e.host ? ' on ' + e.host : '', e.step ? ' at ' + e.step : ''),
    h('p', {}, e.message || ''), e.explanation ? h('p', {}, e.explanation) : null);
  const err = [
    r.error && typeof r.error === 'object' ? errBox(r.error) : null,
    ...(r.pools || []).filter((p) => p.error && typeof p.error === 'object').map((p) => errBox(p.error, p.name)),
    typeof r.error === 'string' ? h('p', { class: 'warn' }, r.error) : null,
  ];
  const btn = (label, verb, cls) => h('button', { class: cls, onclick: () => guarded(async () => {
    if (verb === 'cancel' && !confirm('Cancel rollout ' + r.id + '? Fixes are reverted and the uploaded update removed.')) return;
    await api('POST', '/rollouts/' + encodeURIComponent(r.id) + '/' + verb);
    await refreshRollout(r.id);
  }) }, label);
  show(h('h2', {}, 'Rollout ', h('code', {}, r.id), ' ', h('span', { class: 'state ' + r.state }, r.state)),
    h('p', { class: 'totals' },
      `Hosts ${hostCounts(r)[0]}/${hostCounts(r)[1]} done · ` +
      (typeof r.steps_total === 'number' ? `step ${r.steps_done ?? 0} of ${r.steps_total} · ` : '') +
      `${c.migrations ?? 0} migrations · ${c.reboots ?? 0} reboots · ` +
      `${c.toolstack_restarts ?? 0} toolstack restarts · ${c.live_patched ?? 0} live-patched` +
      (r.elapsed_s !== undefined ? ` · elapsed ${duration(r.elapsed_s)}` : '') +
      (typeof r.window_s === 'number' ? (r.elapsed_s !== undefined ? ' of a predicted ' : ' · predicted window ') + duration(r.window_s) : '')),
    err,
    h('div', { class: 'toolbar' },
      ['halted', 'failed'].includes(r.state) ? btn('Retry', 'retry', 'primary') : null,
      !final || r.state === 'halted' ? btn('Cancel', 'cancel', 'danger') : null),
    pools);
}

async function refreshRollout(id) {
  current = await api('GET', '/rollouts/' + encodeURIComponent(id));
  drawRollout();
}

// Fold one progress event into the rollout shown (same rules as the CLI's render_apply_event).
function applyEvent(ev) {
  if (!current || ev.rollout !== current.id) return;
  if (!ev.pool) {
    if (ev.state) current.state = ev.state;
    refreshRollout(current.id).catch(() => {});
    return;
  }
  current.pools = current.pools || [];
  let p = current.pools.find((x) => x.name === ev.pool);
  if (!p) { p = { name: ev.pool, state: 'running', hosts: [] }; current.pools.push(p); }
  if (!ev.host) {
    if (ev.step) p.step = ev.step;
    if (ev.state) p.state = ev.state;
  } else {
    p.hosts = p.hosts || [];
    let x = p.hosts.find((y) => y.name === ev.host);
    if (!x) { x = { name: ev.host, percent: 0 }; p.hosts.push(x); }
    if (ev.step) x.step = ev.step;
    if (typeof ev.percent === 'number') x.percent = Math.round(ev.percent);
    if (ev.message) x.message = ev.message;
    if (ev.state) x.state = ev.state;
    else if (!x.state || x.state === 'pending' || x.state === 'waiting') x.state = 'running';
  }
  drawRollout();
>>>>>>> 1a54b22 (web: the plan form's policy defaults to return and gains the hosts-down-at-once field (max_parallel))
}

// ---------------------------------------------------------------- router, live stream

let stopLive = null;

function startLive() {
  if (stopLive) stopLive();
  const live = document.getElementById('live');
  stopLive = followEvents((ev) => {
    const { path } = parseHash();
    if (path.startsWith('/rollouts/')) rolloutEvent(ev);
    else if (path === '/rollouts' && !ev.pool) route();
  }, (up) => {
    setText(live, up ? 'live' : 'offline');
    live.className = 'live ' + (up ? 'on' : 'off');
  });
}

const TITLES = { '/pools': 'Pools', '/updates': 'Updates', '/install': 'Install Update', '/rollouts': 'Rollouts' };

async function route() {
  if (!getToken()) { askToken(); return; }
  const { path, q } = parseHash();
  const top = '/' + (path.split('/')[1] || 'updates');
  for (const a of document.querySelectorAll('#nav a')) {
    const on = a.getAttribute('href') === '#' + top;
    a.classList.toggle('active', on);
    if (on) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  stopRolloutView();
  document.title = (TITLES[top] || 'Updates') + ' — poolpatch';
  await guarded(async () => {
    const m = path.match(/^\/rollouts\/(.+)$/);
    if (m) return viewRollout(decodeURIComponent(m[1]), q);
    if (top === '/pools') return viewPools();
    if (top === '/install' || top === '/plan') return viewWizard(q);
    if (top === '/rollouts') return viewRollouts();
    return viewUpdates(q);
  });
}

// A route change: new page at the top, focus on its heading (screen readers hear where they are).
async function navigate() {
  await route();
  window.scrollTo(0, 0);
  const hd = document.querySelector('#main h2');
  if (hd) { hd.tabIndex = -1; hd.focus({ preventScroll: true }); }
}

window.addEventListener('hashchange', navigate);
document.getElementById('forget').addEventListener('click', () => {
  if (stopLive) stopLive();
  askToken();
});
if ('scrollRestoration' in history) history.scrollRestoration = 'manual';
if (getToken()) startLive();
navigate();
