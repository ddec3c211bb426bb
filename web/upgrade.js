// SPDX-License-Identifier: MIT
// upgrade.js - the Rolling Pool Upgrade wizard, in XenCenter's order (shared/reference/xencenter.md
// §6; docs/upgrade.md): Before You Start -> Select Pools (each with its hosts and versions) ->
// Upgrade Mode (the release, automated from the installation media's URL or manual, the VM
// policy) -> Prechecks (the dry run POST /upgrades {dry_run}: each check with its resolution,
// Resolve All as the explicit consent, blocking problems block; the hosts in their order, master
// first) -> Upgrade (POST /upgrades, then the live rollout view of rollout.js, which in manual
// mode asks per host: boot it from the installation media, then Continue or Skip).

import { api } from './api.js';
import { h, show, banner, table, uid, errorText, announce, duration, makeNamer } from './ui.js';
import { prechecks, poolBlocked } from './wizard.js';

export const UPGRADE_STEPS = ['Before You Start', 'Select Pools', 'Upgrade Mode', 'Prechecks', 'Upgrade'];

let uw = null;

function fresh(to, pools) {
  return { step: 0, pools: new Set(pools || []), mode: 'automated', to: to || '', url: '', policy: 'minimal',
    applyUpdates: false, shutdown: new Set(), consent: false, plan: null, planKey: '', data: null };
}

// The POST /upgrades body the choices make (docs/upgrade.md); dry: the dry run.
export function upgradeRequest(w, dry) {
  const b = { pools: [...w.pools].sort(), to: w.to };
  if (w.mode === 'manual') b.manual = true;
  else b.url = w.url.trim();
  if (w.policy === 'return') b.policy = 'return';
  if (w.applyUpdates) b.apply_updates = true;
  if (w.shutdown && w.shutdown.size) b.shutdown = [...w.shutdown].sort();
  if (dry) b.dry_run = true;
  return b;
}

// A standalone host's VMs (seed 7.2.1): its `upgrade_standalone` precheck rows, each with the VM
// (the planner's own check list, same order, names it in fix.obj) and the user's choice for it:
// suspended (the default; its CD ejected first) or shut down (in `shutdown`, a Set of refs).
export function standaloneVms(plan, shutdown) {
  return ((plan && plan.pools) || []).flatMap((p) => prechecks(p).map((c, i) => standaloneVm(p, c, i)))
    .filter((vm) => vm).map((vm) => ({ vm, shutdown: !!(shutdown && shutdown.has(vm)) }));
}

// The VM of precheck row i of pool p when it is a standalone host's VM, else ''.
function standaloneVm(p, c, i) {
  return c.id === 'upgrade_standalone' ? (((p.checks || [])[i] || {}).fix || {}).obj || '' : '';
}

// Fixable checks (a resolution the upgrade applies with consent) and blocked pools of a dry run.
export const upgradeFixable = (plan) => ((plan && plan.pools) || []).flatMap((p) => prechecks(p))
  .filter((c) => c.resolution && c.severity !== 'info' && c.severity !== 'information');

// What is wrong with the choices so far (Next refuses with it), or null.
export function upgradeProblem(w, step) {
  if (step === 1 && !w.pools.size) return 'Choose at least one pool to upgrade.';
  if (step === 2 && !/^\d+(\.\d+){1,3}$/.test(w.to || '')) return 'Choose the release to upgrade to (a version such as 8.4.0).';
  if (step === 2 && w.mode !== 'manual' && !/^(https?|ftp|nfs):\/\/\S+$/i.test((w.url || '').trim())) {
    return 'Give the installation media URL (http, https, ftp or nfs), or choose manual mode.';
  }
  if (step === 3 && w.plan) {
    const blocked = (w.plan.pools || []).filter((p) => poolBlocked(p));
    if (blocked.length) return 'Blocked: ' + blocked.map((p) => p.name).join(', ') + ' has a problem that cannot be resolved automatically. Fix it, then Check Again.';
    if (upgradeFixable(w.plan).length && !w.consent) return 'Press “Resolve All” to allow poolpatch to apply the resolutions, or fix the problems yourself and Check Again.';
    if (!hostsToUpgrade(w.plan).length) return 'Nothing to upgrade: every host of the chosen pools already runs ' + w.to + '.';
  }
  return null;
}

// The hosts the dry run will upgrade, in order (master first), as "pool/host".
export function hostsToUpgrade(plan) {
  return ((plan && plan.pools) || []).flatMap((p) => (p.hosts || []).filter((x) => typeof x.order === 'number' && x.order >= 0)
    .sort((a, b) => a.order - b.order).map((x) => p.name + '/' + x.name));
}

// The releases offered: By Update's new-release rows (kind release, with an upgrade request).
export function releaseChoices(updates) {
  const seen = new Map();
  for (const u of updates || []) {
    if (u.upgrade && u.upgrade.to && !seen.has(u.upgrade.to)) seen.set(u.upgrade.to, u.name || u.title || u.upgrade.to);
  }
  return [...seen.entries()].map(([to, name]) => ({ to, name }));
}

async function loadData() {
  const [pools, byU, byS] = await Promise.all([api('GET', '/pools'), api('GET', '/updates?view=by-update').catch(() => ({ updates: [] })),
    api('GET', '/updates?view=by-server&sort=pool').catch(() => ({ servers: [] }))]);
  return { pools: pools.pools || [], updates: byU.updates || [], servers: byS.servers || [],
    offline: byU.offline_pools || byS.offline_pools || [] };
}

export async function viewUpgrade(q) {
  if (!uw || q.get('new') === '1' || q.get('to')) {
    uw = fresh(q.get('to') || '', (q.get('pools') || '').split(',').filter(Boolean));
  }
  uw.data = await loadData();
  if (!uw.to) { const r = releaseChoices(uw.data.updates); if (r.length) uw.to = r[0].to; }
  draw();
}

function stepList(cur) {
  return h('ol', { class: 'steps', 'aria-label': 'Rolling Pool Upgrade steps' }, UPGRADE_STEPS.map((s, i) =>
    h('li', { 'data-step': s, 'aria-current': i === cur ? 'step' : null }, s)));
}

function draw() {
  const pages = [pageBefore, pagePools, pageMode, pagePrechecks, pageStart];
  show(h('h2', { tabindex: -1 }, 'Rolling Pool Upgrade'), stepList(uw.step),
    h('section', { class: 'card wizard-page' }, h('h3', { id: 'upgrade-heading' }, UPGRADE_STEPS[uw.step]), pages[uw.step]()));
}

function goto(n) {
  uw.step = n;
  draw();
  const hd = document.getElementById('upgrade-heading');
  if (hd) { hd.tabIndex = -1; hd.focus(); }
}

function nav(back, next, nextLabel, nextAttrs) {
  const err = h('p', { class: 'bad', id: 'upgrade-problem', role: 'alert' });
  return [err, h('div', { class: 'toolbar wizard-nav' },
    back ? h('button', { type: 'button', onclick: () => goto(uw.step - 1) }, '< Previous') : null,
    h('button', Object.assign({ type: 'button', class: 'primary', id: 'upgrade-next', onclick: async () => {
      const p = upgradeProblem(uw, uw.step);
      if (p) { err.textContent = p; return; }
      try { banner(null); await next(); } catch (e) { err.textContent = errorText(e); }
    } }, nextAttrs || {}), nextLabel || 'Next >'),
    h('a', { href: '#/updates', class: 'button quiet' }, 'Cancel'))];
}

function pageBefore() {
  return [h('p', {}, 'This wizard upgrades whole pools to a new release, one host at a time, as XenCenter\'s Rolling Pool Upgrade does:'),
    h('ul', {},
      h('li', {}, 'The pool master goes first and alone; then each supporter. Hosts already on the new release are left out, so running the wizard again resumes an upgrade.'),
      h('li', {}, 'Each host is disabled, its VMs are live-migrated to hosts already upgraded (a standalone host\'s VMs are suspended and resumed), it is upgraded, then enabled again.'),
      h('li', {}, 'Automated mode hands the installation media\'s URL to each host; in manual mode you boot each host from the media when asked, then Continue — or Skip it.'),
      h('li', {}, 'A supporter whose upgrade fails is left out (forget it, reinstall it, join it again); a failure on the master halts the pool.')),
    h('p', { class: 'small muted' }, 'Back up your VMs and read the release notes first. Guest tools should be upgraded on every VM afterwards: the prechecks list them.'),
    nav(false, () => goto(1))];
}

// Why a pool cannot be chosen (null = it can).
function poolReason(p, offline) {
  if (offline.has(p.name)) return 'Unreachable: ' + (offline.get(p.name) || 'cannot be read');
  if (p.error) return p.error;
  if (!p.connected) return 'Not connected';
  if (uw.to && p.version && p.version === uw.to) return 'Already on ' + uw.to;
  return null;
}

function pagePools() {
  const d = uw.data;
  const offline = new Map(d.offline.map((o) => [o.name, o.error]));
  // only registered pools can be chosen (a link may name others)
  for (const n of [...uw.pools]) if (!d.pools.some((p) => p.name === n)) uw.pools.delete(n);
  const blocks = d.pools.map((p) => {
    const why = poolReason(p, offline);
    if (why) uw.pools.delete(p.name);
    const hosts = d.servers.filter((s) => s.pool === p.name && !(s.is_pool && d.servers.filter((t) => t.pool === p.name).length > 1));
    const id = uid('upool');
    return h('div', { class: 'pool-pick', 'data-pool': p.name },
      h('input', { type: 'checkbox', id, checked: uw.pools.has(p.name), disabled: !!why,
        onchange: (ev) => { if (ev.target.checked) uw.pools.add(p.name); else uw.pools.delete(p.name); uw.plan = null; uw.consent = false; } }), ' ',
      h('label', { for: id }, h('strong', {}, p.name), ' ', h('span', { class: 'muted small' }, '(' + (p.version || 'version unknown') + ', ' +
        (p.hosts ?? hosts.length) + ' host' + ((p.hosts ?? hosts.length) === 1 ? '' : 's') + ')')),
      why ? h('span', { class: 'reason muted small' }, ' — cannot be chosen: ' + why) : null,
      hosts.length ? h('ul', { class: 'host-pick' }, hosts.map((s) => h('li', { 'data-host': s.server }, s.server,
        s.server === p.master ? h('span', { class: 'tag' }, 'master') : null))) : null);
  });
  return [h('p', { class: 'small muted' }, 'Choose the pools to upgrade. Every host of a chosen pool is upgraded (master first); ' +
    'hosts already on the new release are left out. A standalone host is a pool of one.'),
    blocks.length ? blocks : h('p', {}, 'No pools registered: add one on the Pools page.'),
    nav(true, () => goto(2))];
}

function modeRadio(value, label, note) {
  const id = uid('um');
  return h('div', { class: 'choice' }, h('input', { type: 'radio', name: 'upgrade-mode', id, value, checked: uw.mode === value,
    'data-mode': value, onchange: () => { uw.mode = value; uw.plan = null; draw(); } }), ' ',
  h('label', { for: id }, label), note ? h('div', { class: 'muted small note' }, note) : null);
}

function pageMode() {
  const rel = releaseChoices(uw.data.updates);
  const known = rel.some((r) => r.to === uw.to);
  const relSel = h('select', { id: 'upgrade-release', onchange: (ev) => { uw.to = ev.target.value === '-' ? '' : ev.target.value; uw.plan = null; draw(); } },
    rel.map((r) => h('option', { value: r.to, selected: r.to === uw.to }, `${r.name} (${r.to})`)),
    h('option', { value: '-', selected: !known }, 'Another version…'));
  const other = h('input', { id: 'upgrade-version', size: 10, placeholder: '8.4.0', value: known ? '' : uw.to,
    onchange: (ev) => { uw.to = ev.target.value.trim(); uw.plan = null; } });
  const url = h('input', { id: 'upgrade-url', size: 48, type: 'url', placeholder: 'http://server/xenserver-8.4/', value: uw.url,
    disabled: uw.mode === 'manual', onchange: (ev) => { uw.url = ev.target.value; uw.plan = null; } });
  const polId = uid('upol');
  return [
    h('div', { class: 'fields' },
      h('span', { class: 'field' }, h('label', { for: 'upgrade-release' }, 'Upgrade to'), relSel),
      known ? null : h('span', { class: 'field' }, h('label', { for: 'upgrade-version' }, 'Version'), other)),
    h('fieldset', {}, h('legend', {}, 'Upgrade mode'),
      modeRadio('automated', 'Automated: poolpatch boots each host into the installer from the installation media',
        'Each host tests the URL before anything changes on it (prepare_host_upgrade testUrl).'),
      h('div', { class: 'field indent' }, h('label', { for: 'upgrade-url' }, 'Installation media URL (http, https, ftp or nfs)'), url),
      modeRadio('manual', 'Manual: I boot each host from the installation media when asked',
        'poolpatch evacuates and disables each host, then waits: boot it from the media, then press Continue (poolpatch reboots it) — or Skip it.')),
    h('span', { class: 'field' }, h('label', { for: polId }, 'VMs after each host'),
      h('select', { id: polId, 'data-field': 'policy', onchange: (ev) => { uw.policy = ev.target.value; uw.plan = null; } },
        h('option', { value: 'minimal', selected: uw.policy === 'minimal' }, 'Stay where they land (as XenCenter: no migration back)'),
        h('option', { value: 'return', selected: uw.policy === 'return' }, 'Return to their home hosts'))),
    // XenCenter's "apply updates to the new version" (RollingUpgradeWizard_UpgradeMode)
    h('label', { class: 'check' }, h('input', { type: 'checkbox', id: 'upgrade-apply-updates', checked: uw.applyUpdates,
      onchange: (ev) => { uw.applyUpdates = ev.target.checked; uw.plan = null; } }),
    ' Apply the new version\'s updates afterwards, in the same run'),
    nav(true, async () => { await dryRun(); goto(3); })];
}

async function dryRun() {
  const req = upgradeRequest(uw, true);
  const key = JSON.stringify(req);
  if (uw.plan && uw.planKey === key) return;
  uw.plan = await api('POST', '/upgrades', req);
  uw.planKey = key;
  uw.consent = false;
}

function sevWords(c) {
  if (c.severity === 'info' || c.severity === 'information') return ['info', 'Information'];
  if (c.resolution) return ['fixable', uw.consent ? 'Will be resolved' : 'Can be resolved'];
  if (c.severity === 'warning') return ['warning', 'Warning'];
  return ['error', 'Problem'];
}

// The choice per VM of a standalone host: suspend it (default) or shut it down; a change plans again.
function standaloneChoice(vm) {
  return h('select', { class: 'standalone-choice', 'data-vm': vm, 'aria-label': 'During the upgrade, this VM is',
    onchange: async (ev) => {
      if (ev.target.value === 'shutdown') uw.shutdown.add(vm); else uw.shutdown.delete(vm);
      await dryRun();
      draw();
    } },
  h('option', { value: 'suspend', selected: !uw.shutdown.has(vm) }, 'Suspended (its CD ejected first), resumed after'),
  h('option', { value: 'shutdown', selected: uw.shutdown.has(vm) }, 'Shut down, started after'));
}

function pagePrechecks() {
  const namer = makeNamer(uw.plan, uw.data.updates);
  const fixable = upgradeFixable(uw.plan);
  const sections = (uw.plan.pools || []).map((p) => {
    const order = (p.hosts || []).filter((x) => typeof x.order === 'number' && x.order >= 0).sort((a, b) => a.order - b.order);
    const done = (p.hosts || []).filter((x) => !(typeof x.order === 'number' && x.order >= 0));
    const up = p.upgrade || {};
    return h('div', { class: 'precheck-pool', 'data-pool': p.name },
      h('h4', {}, 'Pool ', p.name, poolBlocked(p) ? h('span', { class: 'sevtag sev-error' }, 'Blocked') : null),
      prechecks(p).length ? table(['Result', 'Where', 'Check', 'Resolution'], prechecks(p).map((c, i) => {
        const [cls, word] = sevWords(c);
        const vm = standaloneVm(p, c, i);
        return h('tr', { 'data-check': c.id, class: 'check-' + cls },
          h('td', {}, h('span', { class: 'sevtag sev-' + cls }, word)),
          h('td', {}, namer(c.host) || 'pool'), h('td', {}, namer.text(c.message)),
          vm ? h('td', {}, standaloneChoice(vm)) : h('td', {}, c.resolution ? (uw.consent ? 'Will be resolved: ' : 'Resolve All will: ') + c.resolution.action +
            (c.resolution.undo ? ', and afterwards: ' + c.resolution.undo : '') : (cls === 'error' ? 'Must be fixed before the upgrade' : '–')));
      })) : h('p', { class: 'good' }, 'All prechecks pass.'),
      h('p', {}, 'Order: ', order.length ? h('span', { class: 'upgrade-order' }, order.map((x) => x.name).join(' → ')) : 'nothing to upgrade',
        done.length ? h('span', { class: 'muted small' }, ` (already on ${uw.to}: ${done.map((x) => x.name).join(', ')})`) : null),
      Array.isArray(up.tools_vm_names) && up.tools_vm_names.length ? h('p', { class: 'small' },
        'Afterwards, upgrade the guest tools of: ', up.tools_vm_names.join(', ')) : null,
      p.totals ? h('p', { class: 'totals small' }, `${p.totals.migrations ?? 0} migrations · predicted window ${duration(p.totals.window_s)}`) : null);
  });
  const consent = h('button', { type: 'button', id: 'upgrade-resolve-all', disabled: !fixable.length || uw.consent,
    onclick: () => { uw.consent = true; announce('Resolve All: the resolutions will be applied during the upgrade and undone afterwards.'); draw(); } },
  uw.consent ? 'Resolve All: agreed' : 'Resolve All');
  return [sections,
    fixable.length ? h('p', { class: 'small' }, `${fixable.length} problem${fixable.length === 1 ? '' : 's'} can be resolved by poolpatch during the upgrade. Nothing changes until you start it.`) : null,
    h('div', { class: 'toolbar' }, consent, h('button', { type: 'button', id: 'upgrade-check-again', onclick: async () => {
      try { uw.plan = null; await dryRun(); draw(); } catch (e) { banner(errorText(e)); }
    } }, 'Check Again')),
    nav(true, () => goto(4))];
}

function pageStart() {
  const list = hostsToUpgrade(uw.plan);
  return [h('p', {}, `Upgrade ${[...uw.pools].sort().join(', ')} to ${uw.to}, `,
    uw.mode === 'manual' ? 'manual mode (you boot each host from the media when asked)' : 'automated from ' + uw.url.trim(), '.'),
  h('p', {}, 'Hosts, in order: ', h('span', { id: 'upgrade-review-order' }, list.join(' → '))),
  h('p', { class: 'small muted' }, uw.policy === 'return' ? 'VMs return to their home hosts after each host.' : 'VMs stay on the upgraded hosts they moved to.'),
  uw.applyUpdates ? h('p', { id: 'upgrade-review-updates' }, `Then the updates of ${uw.to}, once every host runs it.`) : null,
  nav(true, async () => {
    if (!confirm(`Start the upgrade to ${uw.to}? Hosts will be evacuated, upgraded and restarted one at a time, master first.`)) return;
    const r = await api('POST', '/upgrades', upgradeRequest(uw, false));
    uw = null;
    location.hash = '#/rollouts/' + encodeURIComponent(r.id) + '?upgrade=1';
  }, 'Start upgrade')];
}
