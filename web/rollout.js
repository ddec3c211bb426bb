// SPDX-License-Identifier: MIT
// rollout.js - the Rollouts list and one rollout live (the Install step of the wizard and its
// Finish summary).  What is shown comes from GET /rollouts/{id}: every event of that rollout
// (and a one-second tick while it runs) re-reads it, and the page is updated in place — the
// same nodes get new text and values, so focus, selection and layout stay put.  Event messages
// go to each host's step log.  JSON shapes: docs/rest-api.md ("Rollouts", "Events").

import { api } from './api.js';
import { h, show, banner, table, bar, setBar, setText, setAttr, duration, rolloutTitle, shortTime,
  makeNamer, announce, errorText, parseTime } from './ui.js';

const FINAL = ['done', 'halted', 'failed', 'cancelled', 'cancel_failed'];

const POOL_PHASE = {
  resolve: 'Resolving prechecks (Resolve All)', upload: 'Uploading the update', introduce: 'Introducing the update',
  precheck: 'Running prechecks', hosts: 'Updating hosts', clean: 'Cleaning up', restore: 'Restoring what Resolve All changed',
  download: 'Downloading the update', sync: 'Synchronising the update repository', done: 'Finished',
  new_version_updates: "Planning the new version's updates",
};
const STEP = {
  evacuate: 'migrating VMs away', disable: 'disabling', apply: 'applying updates', apply_cdn: 'applying updates',
  live_patch: 'live patching', reboot: 'rebooting', restart_toolstack: 'restarting the toolstack',
  wait_healthy: 'waiting for the host to come back', enable: 'enabling', migrate_back: 'moving VMs back',
  restart_vms: 'restarting VMs', health_gate: 'checking its health (health gate)',
  upgrade: 'upgrading to the new release', restore_vms: 'resuming / starting its VMs',
};

// The pool's phase log: one line per pool-level phase in the order they came (Resolve All, upload
// with its percent, prechecks, hosts, clean-up, restore); a new event of the same phase updates
// its line.  Fed by the pool-level events and by the pool's step in GET /rollouts/{id}, so a phase
// shorter than one re-read is still listed.  Returns true when the list changed.
export function notePhase(list, step, text) {
  if (!step) return false;
  const last = list[list.length - 1];
  if (last && last.step === step) {
    if (!text || last.text === text) return false;
    last.text = text;
    return true;
  }
  if (list.some((x) => x.step === step) && !text) return false; // an old phase re-read late
  list.push({ step, text: text || phaseWords(step) });
  return true;
}

export const stepWords = (s) => (s ? STEP[s] || String(s).replace(/_/g, ' ') : '');
export const phaseWords = (s) => (s ? POOL_PHASE[s] || String(s).replace(/_/g, ' ') : '');

// Host counts from the rollout (counters, else counted from pools[].hosts[]).
export function hostCounts(r) {
  const c = r.counters || {};
  if (typeof c.hosts_total === 'number') return [c.hosts_done ?? 0, c.hosts_total];
  const hosts = (r.pools || []).flatMap((p) => (typeof p === 'object' && p.hosts) || []);
  return [hosts.filter((x) => x.state === 'done').length, hosts.length];
}

// The header line, from the rollout JSON only.
export function headerText(r) {
  const c = r.counters || {};
  const [done, total] = hostCounts(r);
  const skipped = typeof c.hosts_skipped === 'number' ? c.hosts_skipped
    : (r.pools || []).flatMap((p) => p.hosts || []).filter((x) => x.state === 'skipped').length;
  const parts = [`Hosts ${done}/${total} done` + (skipped ? ` (${skipped} skipped)` : ''),
    `${c.updates_applied ?? 0} updates applied`, `${c.migrations ?? 0} migrations`, `${c.reboots ?? 0} reboots`,
    `${c.toolstack_restarts ?? 0} toolstack restarts`, `${c.live_patched ?? 0} live-patched`];
  let t = parts.join(' · ');
  if (typeof c.hosts_failed === 'number' && c.hosts_failed) t = t.replace(' done', ` done, ${c.hosts_failed} failed`);
  // predicted_s: the plan's window (window_s is the measured one when predicted_s exists)
  const predicted = typeof r.predicted_s === 'number' ? r.predicted_s : r.window_s;
  if (typeof r.elapsed_s === 'number') t += ' · elapsed ' + duration(r.elapsed_s);
  if (typeof predicted === 'number' && predicted > 0) t += (typeof r.elapsed_s === 'number' ? ' of a predicted ' : ' · predicted ') + duration(predicted);
  return t;
}

// ---------------------------------------------------------------- the list

export async function viewRollouts() {
  const data = await api('GET', '/rollouts');
  const rows = (data.rollouts || []).map((r) => h('tr', { 'data-rollout': r.id },
    h('td', {}, h('a', { href: '#/rollouts/' + encodeURIComponent(r.id) }, rolloutTitle(r)),
      h('div', { class: 'muted small' }, h('code', {}, r.id))),
    h('td', {}, h('span', { class: 'state ' + r.state }, r.state)),
    h('td', {}, shortTime(r.created)),
    h('td', { class: 'num' }, `${hostCounts(r)[0]}/${hostCounts(r)[1]} hosts`),
    h('td', {}, r.error && typeof r.error === 'object' ? r.error.code : (typeof r.error === 'string' ? r.error : ''))));
  show(h('h2', { tabindex: -1 }, 'Rollouts'),
    rows.length ? table(['Rollout', 'State', 'Started', 'Progress', 'Error'], rows)
      : h('p', {}, 'No rollouts yet: use Install Update.'));
}

// ---------------------------------------------------------------- one rollout, live

let live = null; // {id, r, els, logs, timer, pending, namer}

export function stopRolloutView() {
  if (live && live.timer) clearInterval(live.timer);
  live = null;
}

// An event arrived: re-read the rollout (coalesced) and log the message on its host.
export function rolloutEvent(ev) {
  if (!live || ev.rollout !== live.id) return;
  if (ev.message) {
    const key = (ev.pool || '') + '/' + (ev.host || '');
    const log = live.logs.get(key) || [];
    const line = (ev.time ? String(ev.time).replace(/^(\d{4})(\d{2})(\d{2})T/, '$1-$2-$3T').slice(11, 19) + ' ' : '') +
      live.namer.text(ev.message);
    if (log[log.length - 1] !== line) log.push(line);
    if (log.length > 200) log.shift();
    live.logs.set(key, log);
    // pool-level phases (Resolve All, upload, prechecks, restore): the latest message, by name
    if (ev.pool && !ev.host) {
      const t = (ev.step ? phaseWords(ev.step) + ': ' : '') + live.namer.text(ev.message) +
        (typeof ev.percent === 'number' && ev.percent >= 0 && ev.step === 'upload' ? ` (${Math.round(ev.percent)}%)` : '');
      live.poolMsg.set(ev.pool, t);
      if (!live.phases.has(ev.pool)) live.phases.set(ev.pool, []);
      notePhase(live.phases.get(ev.pool), ev.step, t);
    }
  }
  scheduleRefresh();
}

function scheduleRefresh() {
  if (!live || live.pending) return;
  live.pending = setTimeout(() => { if (live) { live.pending = null; refresh().catch(() => {}); } }, 150);
}

async function refresh() {
  if (!live) return;
  const id = live.id;
  const r = await api('GET', '/rollouts/' + encodeURIComponent(id));
  if (!live || live.id !== id) return;
  update(r);
}

export async function viewRollout(id, q) {
  stopRolloutView();
  const r = await api('GET', '/rollouts/' + encodeURIComponent(id));
  const ups = await api('GET', '/updates?view=by-update').catch(() => ({ updates: [] }));
  live = { id, r: null, els: null, logs: new Map(), poolMsg: new Map(), phases: new Map(), timer: null, pending: null,
    namer: makeNamer(r.plan || { pools: r.pools }, ups.updates), wizard: q && q.get('wizard') === '1' };
  build(r);
  update(r);
  live.timer = setInterval(() => { if (live && !FINAL.includes(live.r.state)) refresh().catch(() => {}); }, 1000);
}

function build(r) {
  const els = { pools: new Map() };
  live.els = els;
  els.title = h('span', { id: 'rollout-title' });
  els.state = h('span', { class: 'state', id: 'rollout-state' });
  els.stateWords = h('span', { class: 'state-words small', id: 'rollout-state-words' });
  els.findings = h('div', { id: 'rollout-findings' });
  els.header = h('p', { class: 'totals', id: 'rollout-header' });
  els.error = h('div', { id: 'rollout-error' });
  els.left = h('div', { id: 'rollout-left' });
  els.finish = h('div', { id: 'rollout-finish' });
  els.retry = h('button', { type: 'button', class: 'primary', id: 'retry', onclick: () => act('retry') }, 'Retry');
  els.cancel = h('button', { type: 'button', class: 'danger', id: 'cancel', onclick: () => act('cancel') }, 'Cancel');
  els.poolBox = h('div', { id: 'rollout-pools' });
  els.upgradeBox = h('div', { id: 'upgrade-box' });
  const steps = live.wizard ? wizardSteps() : null;
  show(steps, h('h2', { tabindex: -1 }, els.title, ' ', els.state, els.stateWords),
    h('p', { class: 'muted small' }, 'Rollout ', h('code', {}, r.id)),
    els.header, els.upgradeBox, els.error, els.findings, els.left, h('div', { class: 'toolbar' }, els.retry, els.cancel), els.finish, els.poolBox);
}

function wizardSteps() {
  live.wizSteps = h('ol', { class: 'steps', 'aria-label': 'Install Update steps' },
    ['Select Update', 'Select Servers', 'Prechecks', 'Update Mode', 'Review', 'Install', 'Finish'].map((s) =>
      h('li', { 'data-step': s }, s)));
  return live.wizSteps;
}

async function act(verb) {
  const r = live && live.r;
  if (!r) return;
  if (verb === 'cancel' && !confirm('Cancel this rollout? What Resolve All changed is restored and the uploaded update removed; hosts already updated stay updated.')) return;
  try {
    banner(null);
    await api('POST', '/rollouts/' + encodeURIComponent(r.id) + '/' + verb);
    announce(verb === 'retry' ? (r.state === 'cancel_failed' ? 'Retrying the cancel.' : 'Retrying.') : 'Cancelling.');
    await refresh();
  } catch (e) {
    banner(errorText(e));
  }
}

// The pool's phase list, in place: new phases appended, the last one's text updated.
function drawPhases(pe, p) {
  if (!live.phases.has(p.name)) live.phases.set(p.name, []);
  const list = live.phases.get(p.name);
  if (p.step && (p.state === 'running' || p.state === 'cancelling')) notePhase(list, p.step, null);
  const items = pe.phaseList.children;
  list.forEach((x, i) => {
    if (i >= items.length) pe.phaseList.append(h('li', { 'data-phase': x.step }, x.text));
    else setText(items[i], x.text);
  });
}

function poolEls(p) {
  const els = live.els;
  let pe = els.pools.get(p.name);
  if (pe) return pe;
  pe = { hosts: new Map() };
  pe.state = h('span', { class: 'state' });
  pe.phase = h('span', { class: 'muted' });
  pe.bar = bar('Pool ' + p.name + ' progress', 0);
  pe.pct = h('span', { class: 'num' });
  pe.msg = h('p', { class: 'muted small' });
  pe.phaseList = h('ol', { class: 'pool-phases small', 'aria-label': 'Pool ' + p.name + ' phases' });
  pe.tbody = h('tbody', {});
  const heads = ['Host', 'Progress', 'State', 'Step', 'Log'];
  pe.table = h('table', { class: 'cards hosts-live' },
    h('thead', {}, h('tr', {}, heads.map((x) => h('th', { scope: 'col' }, x)))), pe.tbody);
  pe.section = h('section', { class: 'card pool-live', 'data-pool': p.name },
    h('h3', {}, 'Pool ', p.name, ' ', pe.state),
    h('p', { class: 'phase' }, pe.phase, ' ', pe.bar, ' ', pe.pct), pe.msg, pe.phaseList, pe.table);
  els.poolBox.append(pe.section);
  els.pools.set(p.name, pe);
  return pe;
}

function hostEls(pe, pool, x) {
  let he = pe.hosts.get(x.name);
  if (he) return he;
  he = {};
  he.bar = bar('Host ' + x.name + ' progress', 0);
  he.pct = h('span', { class: 'num pct' });
  he.state = h('span', { class: 'state' });
  he.step = h('span', {});
  he.msg = h('div', { class: 'muted small' });
  he.log = h('ol', { class: 'log small' });
  he.record = h('div', { class: 'small' });
  he.logSum = h('summary', {}, 'Step log');
  he.logBox = h('details', {}, he.logSum, he.log, he.record);
  he.row = h('tr', { 'data-host': x.name, 'data-pool': pool },
    h('td', { 'data-label': 'Host' }, h('strong', {}, x.name)),
    h('td', { 'data-label': 'Progress', class: 'nowrap' }, he.bar, ' ', he.pct),
    h('td', { 'data-label': 'State' }, he.state),
    h('td', { 'data-label': 'Step' }, he.step, he.msg),
    h('td', { 'data-label': 'Log' }, he.logBox));
  pe.tbody.append(he.row);
  pe.hosts.set(x.name, he);
  return he;
}

const stateClass = (s) => 'state ' + (s || '');

// A rollout state in words where the code alone misleads: cancel_failed is its own state (the
// cancel could not put everything back), never "cancelled".
export const STATE_WORDS = { cancel_failed: 'cancel failed', waiting_window: 'waiting for a window',
  paused_window: 'paused: window closed' };
export const stateWords = (s) => STATE_WORDS[s] || s || '';

// The verify findings of a rollout (docs/rest-api.md, "findings"): what is still wrong, on which
// object (host, VM, pool, SR by name), after what, and what to do; sorted by pool then object.
export function findingLines(r, namer) {
  const nm = namer || ((x) => x);
  const txt = (namer && namer.text) || ((x) => x);
  return (Array.isArray(r.findings) ? r.findings : []).map((f) => ({
    pool: f.pool || '', object: f.object || nm(f.ref || '') || '', code: f.code || '',
    text: txt(f.message || ''), action: txt(f.action || ''), after: f.after || '',
  })).sort((a, b) => (a.pool + '/' + a.object).localeCompare(b.pool + '/' + b.object));
}

// The host's record: what was applied, where its VMs went, whether a reboot is pending.
export function recordText(x, namer) {
  const parts = [];
  if (Array.isArray(x.updates_applied)) {
    const one = (u) => {
      const id = typeof u === 'string' ? u : u.uuid || u.id || '';
      if (typeof u === 'object' && u.name) return u.name;
      // XenServer 8: the repository's update hash; name the updates the plan expected instead
      if (/^[0-9a-f]{64}$/.test(id)) {
        const exp = (x.predicted && Array.isArray(x.predicted.updates) ? x.predicted.updates : []).map((y) => namer(y));
        return exp.length ? 'repository updates (' + exp.join(', ') + ')' : 'repository updates ' + id.slice(0, 12) + '…';
      }
      return namer(id);
    };
    parts.push('Applied: ' + (x.updates_applied.map(one).join(', ') || 'nothing'));
  }
  if (Array.isArray(x.vms) && x.vms.length) {
    parts.push('VMs moved: ' + x.vms.map((v) => `${namer(v.vm)} → ${v.to || namer(v.to_ref)}${v.back ? ' (home)' : ''}`).join(', '));
  }
  if (x.reboot_pending === true) parts.push('Reboot pending' + (Array.isArray(x.reboot_pending_updates) && x.reboot_pending_updates.length
    ? ' for ' + x.reboot_pending_updates.map((u) => (typeof u === 'string' ? namer(u) : u.name || u.uuid)).join(', ') : ''));
  else if (x.reboot_pending === false && x.state === 'done') parts.push('No reboot pending');
  return parts.join(' · ');
}

// One step-log line from the rollout's host log ({at, step, state, detail}) or a string.
export function logLine(l, namer) {
  if (typeof l === 'string') return namer.text(l);
  const t = l.at || l.time;
  const d = parseTime(t);
  return [d ? d.toISOString().slice(11, 19) : '', stepWords(l.step) || l.step || '', l.state || '',
    namer.text(l.detail || l.message || '')].filter(Boolean).join(' ');
}

function updateHost(pe, p, x) {
  const he = hostEls(pe, p.name, x);
  const pct = Math.round(x.percent ?? 0);
  setBar(he.bar, pct);
  setText(he.pct, pct + '%');
  setAttr(he.row, 'data-state', x.state || '');
  setAttr(he.row, 'data-percent', pct);
  if (he.state.className !== stateClass(x.state)) he.state.className = stateClass(x.state);
  setText(he.state, x.state || '–');
  setText(he.step, ['running', 'halted', 'failed', 'stopped'].includes(x.state) ? stepWords(x.step) : '');
  setText(he.msg, live.namer.text(x.message || ''));
  // The rollout's own per-host log when it has one (survives reloads), else the events seen here.
  const log = Array.isArray(x.log) ? x.log.map((l) => logLine(l, live.namer)) : (live.logs.get(p.name + '/' + x.name) || []);
  if (he.log.childElementCount !== log.length) he.log.replaceChildren(...log.map((l) => h('li', {}, live.namer.text(l))));
  setText(he.logSum, `Step log (${log.length})`);
  setText(he.record, recordText(x, live.namer));
  if (he.lastState && he.lastState !== x.state && ['done', 'halted', 'failed', 'skipped'].includes(x.state)) announce(`${x.name}: ${x.state}`);
  he.lastState = x.state;
}

function update(r) {
  const prev = live.r;
  live.r = r;
  const els = live.els;
  const title = rolloutTitle(r);
  setText(els.title, title);
  setText(els.state, r.state);
  setAttr(els.state, 'title', stateWords(r.state));
  setText(els.stateWords, r.state === 'cancel_failed' ? ' — ' + stateWords(r.state) + ': the cancel could not put everything back' : '');
  if (els.state.className !== stateClass(r.state)) els.state.className = stateClass(r.state);
  setText(els.header, headerText(r));
  document.title = `${r.state} — ${title} — poolpatch`;
  for (const p of r.pools || []) {
    if (typeof p !== 'object') continue;
    const pe = poolEls(p);
    setText(pe.state, p.state || '');
    if (pe.state.className !== stateClass(p.state)) pe.state.className = stateClass(p.state);
    const running = p.state === 'running' || p.state === 'cancelling';
    setText(pe.phase, running ? phaseWords(p.step) : p.state === 'done' ? 'Finished' : p.state === 'waiting' ? 'Waiting' : phaseWords(p.step));
    setBar(pe.bar, p.percent ?? (p.state === 'done' ? 100 : 0));
    setText(pe.pct, Math.round(p.percent ?? (p.state === 'done' ? 100 : 0)) + '%');
    setText(pe.msg, live.namer.text(p.message || live.poolMsg.get(p.name) || ''));
    drawPhases(pe, p);
    for (const x of p.hosts || []) updateHost(pe, p, x);
  }
  // after the hosts, so that the rollout's own change is what the live region says last
  if (!prev || prev.state !== r.state) announce(`Rollout ${title}: ${r.state}` + (r.error && r.error.code ? ` (${r.error.code})` : ''));
  drawError(r);
  drawUpgrade(r);
  els.retry.hidden = !['halted', 'failed', 'cancel_failed'].includes(r.state);
  // cancel_failed: its one way on is Retry cancel (POST /retry; /cancel would do the same)
  els.cancel.hidden = ['done', 'cancelled', 'cancel_failed'].includes(r.state);
  setText(els.retry, r.state === 'cancel_failed' ? 'Retry cancel' : 'Retry');
  setAttr(els.retry, 'data-action', r.state === 'cancel_failed' ? 'retry-cancel' : 'retry');
  drawFinish(r);
  if (live.wizSteps) {
    for (const li of live.wizSteps.children) {
      const cur = li.dataset.step === (FINAL.includes(r.state) && r.state !== 'halted' ? 'Finish' : 'Install');
      if (cur) li.setAttribute('aria-current', 'step'); else li.removeAttribute('aria-current');
    }
  }
}

function errorKey(r) {
  return JSON.stringify([r.state, r.error]);
}

// Halted / cancel_failed: the error in plain language and what is left to do.
function drawError(r) {
  const els = live.els;
  const key = errorKey(r);
  if (els.errorKey === key) return;
  els.errorKey = key;
  const errs = [];
  if (r.error && typeof r.error === 'object') errs.push(r.error);
  for (const p of r.pools || []) if (p.error && typeof p.error === 'object' && !errs.length) errs.push({ pool: p.name, ...p.error });
  const halted = ['halted', 'failed', 'cancel_failed'].includes(r.state);
  els.error.replaceChildren(...errs.map((e) => h('div', { class: 'card errorbox', role: 'group', 'aria-label': 'Error' },
    h('h3', {}, (r.state === 'cancel_failed' ? 'Cancel failed: ' : halted ? 'Halted: ' : 'Error: ') + (e.code || 'error')),
    h('p', {}, [e.pool && 'pool ' + e.pool, e.host && 'host ' + live.namer(e.host), e.step && 'while ' + stepWords(e.step)].filter(Boolean).join(', ')),
    h('p', {}, live.namer.text(e.message || '')),
    e.explanation ? h('p', {}, live.namer.text(e.explanation)) : null)),
  ...(typeof r.error === 'string' && r.error ? [h('p', { class: 'bad' }, live.namer.text(r.error))] : []));
  drawFindings(r, halted);
  const left = (r.pools || []).flatMap((p) => (p.hosts || []).filter((x) => !['done', 'skipped'].includes(x.state)).map((x) => p.name + ' / ' + x.name));
  // cancel_failed: what is left is what the cancel could not put back (the findings' objects)
  const undone = r.state === 'cancel_failed' ? [...new Set(findingLines(r, live.namer).map((f) => (f.pool ? f.pool + ' / ' : '') + f.object))] : [];
  els.left.replaceChildren(...[halted ? h('div', { class: 'card', id: 'what-is-left' },
    h('h3', {}, 'What is left'),
    r.state === 'cancel_failed' ? h('p', {}, undone.length ? `The cancel could not put back: ${undone.join(', ')} (the findings above say what is wrong).`
      : 'The cancel could not finish; its error above says why.')
      : left.length ? h('p', {}, `${left.length} host${left.length === 1 ? '' : 's'} not updated yet: ${left.join(', ')}.`)
        : h('p', {}, 'Every host is updated; only the pool-level clean-up is left.'),
    h('p', { class: 'small muted' }, r.state === 'cancel_failed'
      ? 'Retry the cancel once the cause is fixed, or finish by hand.'
      : 'Retry continues from the failed step (finished steps are not repeated). Cancel restores what Resolve All changed and removes the uploaded update.')) : null].filter(Boolean));
}

// The verify findings while halted or cancel_failed (a done or cancelled rollout has none left
// to act on; its Finish says so): one line per finding, "where: what — what to do".
function drawFindings(r, halted) {
  const lines = halted ? findingLines(r, live.namer) : [];
  live.els.findings.replaceChildren(...(lines.length ? [h('section', { class: 'card', id: 'findings' },
    h('h3', {}, r.state === 'cancel_failed' ? 'Still wrong after the cancel' : 'Found when the pool was read again'),
    h('ul', {}, lines.map((f) => h('li', { 'data-code': f.code, 'data-object': f.object, 'data-pool': f.pool },
      h('strong', {}, f.pool ? f.pool + ' / ' + f.object : f.object), ': ', h('code', {}, f.code), ' ', f.text,
      f.action ? h('div', { class: 'small muted' }, 'What to do: ' + f.action) : null))))] : []));
}

// Manual upgrade mode (docs/upgrade.md): the hosts whose upgrade step waits for the operator's
// boot from the installation media, [{pool, host, to}].
export function waitingUpgradeHosts(r) {
  if (!r || r.state !== 'running') return [];
  return (r.pools || []).filter((p) => p && p.upgrade && p.upgrade.manual).flatMap((p) => (p.hosts || [])
    .filter((x) => x.state === 'running' && x.step === 'upgrade').map((x) => ({ pool: p.name, host: x.name, to: p.upgrade.to })));
}

// The per-host step of a manual upgrade: boot the host from the installation media, then
// Continue (POST /rollouts/{id}/upgrade-host {action: reboot}: poolpatch reboots it into the media)
// or Skip (action skip: the host is left out); `poolpatch upgrade-host ID HOST reboot|skip`.
function drawUpgrade(r) {
  const wait = waitingUpgradeHosts(r);
  const key = JSON.stringify(wait);
  if (live.els.upgradeKey === key) return;
  live.els.upgradeKey = key;
  live.els.upgradeBox.replaceChildren(...wait.map((w) => {
    const status = h('p', { class: 'small', role: 'status' });
    return h('section', { class: 'card upgrade-prompt', 'data-host': w.host, 'data-pool': w.pool, role: 'group',
      'aria-label': 'Manual upgrade of ' + w.host },
    h('h3', {}, 'Upgrade ', w.host, ' from the installation media'),
    h('p', {}, `Boot ${w.host} from the installation media of ${w.to}, then press Continue: poolpatch reboots it and waits until it `,
      `is back on ${w.to}. If you started the installer yourself, just wait.`),
    h('p', { class: 'small muted' }, 'Skip leaves the host out: it stays disabled on its old release (then forget it, reinstall it and join it ' +
      'to the pool again). The master cannot be skipped.'),
    h('div', { class: 'toolbar' },
      h('button', { type: 'button', class: 'primary upgrade-continue', onclick: () => upgradeHost(w, 'reboot', status) },
        'Continue', h('span', { class: 'sr-only' }, ' with ' + w.host)),
      h('button', { type: 'button', class: 'danger upgrade-skip', onclick: () => upgradeHost(w, 'skip', status) },
        'Skip', h('span', { class: 'sr-only' }, ' ' + w.host))), status);
  }));
  if (wait.length) announce(`${wait.map((w) => w.host).join(', ')}: boot from the installation media, then Continue or Skip.`);
}

async function upgradeHost(w, action, status) {
  if (action === 'skip' && !confirm(`Skip ${w.host}? It is left out of the upgrade and stays disabled on its old release.`)) return;
  try {
    banner(null);
    await api('POST', '/rollouts/' + encodeURIComponent(live.id) + '/upgrade-host', { host: w.host, action });
    const t = action === 'skip' ? `${w.host} skipped: left out of the upgrade.` : `${w.host} is rebooting: it must boot from the installation media.`;
    setText(status, t);
    announce(t);
    await refresh();
  } catch (e) {
    banner(errorText(e));
  }
}

// Finish: the verified summary of a finished rollout.
function drawFinish(r) {
  const els = live.els;
  const key = r.state + JSON.stringify(r.counters || {});
  if (els.finishKey === key) return;
  els.finishKey = key;
  if (!['done', 'cancelled'].includes(r.state)) { els.finish.replaceChildren(); return; }
  const c = r.counters || {};
  const hosts = (r.pools || []).flatMap((p) => (p.hosts || []).map((x) => ({ pool: p.name, ...x })));
  const pending = hosts.filter((x) => x.reboot_pending === true);
  const leftOut = hosts.filter((x) => x.state === 'left_out');
  const applied = hosts.filter((x) => Array.isArray(x.updates_applied) && x.updates_applied.length);
  // an upgrade's report: the VMs whose guest tools to upgrade now (seed step 12), per pool
  const tools = (r.pools || []).filter((p) => p.upgrade && (p.upgrade.tools_vm_names || []).length);
  els.finish.replaceChildren(h('section', { class: 'card', id: 'finish' },
    h('h3', {}, r.state === 'done' ? 'Finished' : 'Cancelled'),
    h('ul', {},
      h('li', {}, `${hosts.filter((x) => x.state === 'done').length} of ${hosts.length} hosts updated` +
        (hosts.some((x) => x.state === 'skipped') ? `, ${hosts.filter((x) => x.state === 'skipped').length} skipped` : '')),
      h('li', {}, `${c.updates_applied ?? 0} updates applied, ${c.reboots ?? 0} reboots, ${c.toolstack_restarts ?? 0} toolstack restarts, ` +
        `${c.live_patched ?? 0} live-patched, ${c.migrations ?? 0} migrations`),
      h('li', {}, 'Started ' + shortTime(r.started || r.created) + ', finished ' + shortTime(r.finished) +
        (typeof r.elapsed_s === 'number' ? ' (' + duration(r.elapsed_s) + ')' : '')),
      applied.map((x) => h('li', { 'data-applied': x.name }, x.name + ': ' + recordText(x, live.namer))),
      pending.length ? h('li', { class: 'warn' }, 'Reboot pending on: ' + pending.map((x) => x.name).join(', ')) : null,
      // an upgrade's supporters left out (skipped or failed): still on the old release, disabled
      leftOut.length ? h('li', { class: 'warn', id: 'left-out' }, 'Left out of the upgrade: ' + leftOut.map((x) => x.name).join(', ') +
        ' (still on the old release and disabled: forget, reinstall and join again; see each host)') : null,
      tools.map((p) => h('li', { class: 'tools-upgrade', 'data-pool': p.name },
        `${p.name}: upgrade the guest tools of ${p.upgrade.tools_vm_names.join(', ')}`))),
    h('p', {}, h('a', { href: '#/updates?view=by-server' }, 'See the servers\' update status'))));
}
