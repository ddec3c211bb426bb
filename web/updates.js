// SPDX-License-Identifier: MIT
// updates.js - the Updates page, as XenCenter's Updates tab: By Update / By Server, sort by date
// or pool in both, filters by pool / server / date, "N dismissed — Restore", per-row Download,
// Install and web page, Check now, Export CSV, and the pools that could not be read listed with
// their reason (never counted as up to date), and the VMs whose guest tools must be upgraded
// (By Update: a card; By Server: under each server).  View, sort and filters live in the URL.
// JSON shapes: docs/rest-api.md ("Updates").

import { api, downloadCsv } from './api.js';
import { h, show, banner, table, names, dateText, parseTime, select, replaceQuery, uid, announce } from './ui.js';

const DATE_RANGES = [['', 'Any date'], ['30', 'Last 30 days'], ['90', 'Last 90 days'],
  ['365', 'Last 12 months'], ['old', 'Older than 12 months']];

// The page's state from the URL query (unknown values fall back to the defaults).
export function updatesState(q) {
  const pick = (k, ok, d) => (ok.includes(q.get(k)) ? q.get(k) : d);
  return {
    view: pick('view', ['by-update', 'by-server'], 'by-update'),
    sort: pick('sort', ['date', 'pool'], 'date'),
    pool: q.get('pool') || '',
    server: q.get('server') || '',
    date: pick('date', DATE_RANGES.map((x) => x[0]), ''),
  };
}

const DAY = 86400000;

// Does a date fall in the chosen range?  (now: the viewer's clock)
function inRange(t, range) {
  if (!range) return true;
  const d = parseTime(t);
  if (!d) return false;
  const age = Date.now() - d.getTime();
  return range === 'old' ? age > 365 * DAY : age <= Number(range) * DAY;
}

const isTop = (u) => ['release', 'cumulative'].includes(u.kind || u.category);
const when = (u) => (parseTime(u.date || u.timestamp) || new Date(0)).getTime();
const cmp = (a, b) => (a < b ? -1 : a > b ? 1 : 0);

// Sort By Update rows: new versions and cumulative updates first (XenCenter), then newest first
// or by the first pool name (then newest first).
export function sortUpdates(rows, sort) {
  return [...rows].sort((a, b) => (isTop(b) - isTop(a)) ||
    (sort === 'pool' ? cmp([...(a.pools || [])].sort()[0] || '', [...(b.pools || [])].sort()[0] || '') : 0) ||
    (when(b) - when(a)) || cmp(a.name || '', b.name || ''));
}

// Sort By Server rows: by pool (pool row first, then its servers by name) or by the date of the
// newest update each server is missing (newest first; up-to-date servers last).
export function sortServers(rows, sort, dates) {
  const newest = (s) => Math.max(0, ...(s.required || []).map((r) => dates.get(r.id) || 0));
  return [...rows].sort((a, b) => (sort === 'date' ? newest(b) - newest(a) : 0) ||
    cmp(a.pool, b.pool) || ((b.is_pool ? 1 : 0) - (a.is_pool ? 1 : 0)) || cmp(a.server, b.server));
}

function filterUpdates(rows, st) {
  return rows.filter((u) => (!st.pool || (u.pools || []).includes(st.pool)) &&
    (!st.server || (u.servers || []).some((s) => s.server === st.server && (!st.pool || s.pool === st.pool))) &&
    inRange(u.date || u.timestamp, st.date));
}

function filterServers(rows, st, dated) {
  return rows.filter((s) => (!st.pool || s.pool === st.pool) && (!st.server || s.server === st.server))
    .map((s) => (st.date ? { ...s, required: (s.required || []).filter((r) => dated(r.id)) } : s));
}

function severityOf(u) {
  if (u.severity) return u.severity; // XS8 repository updates carry one
  return null;
}

function guidanceText(u) {
  const g = { restartHost: 'reboot host', restartXAPI: 'restart toolstack', restartHVM: 'restart HVM guests',
    restartPV: 'restart PV guests', restartDeviceModel: 'restart device models', evacuateHost: 'evacuate host',
    restartVM: 'restart VMs' };
  const parts = (Array.isArray(u.guidance) ? u.guidance : []).map((x) => g[x] || x);
  if (!parts.length && u.guidance_reboot) parts.push('reboot host');
  if (u.livepatch) parts.push('live patch available');
  return parts.join(', ') || 'No action required';
}

function updateRow(u, selected, rerender) {
  const cbId = uid('upd');
  const cb = h('input', { type: 'checkbox', id: cbId, checked: selected.has(u.id),
    onchange: (ev) => { if (ev.target.checked) selected.add(u.id); else selected.delete(u.id); rerender(); } });
  const url = u.url || u.web_page;
  const sev = severityOf(u);
  const byPool = new Map();
  for (const s of u.servers || []) byPool.set(s.pool, [...(byPool.get(s.pool) || []), s.server]);
  const servers = [...byPool].map(([p, hs]) => p + ': ' + hs.join(', '));
  const download = u.source !== 'repository' && url ? h('button', { type: 'button', class: 'small',
    onclick: () => rowAction(async () => {
      const r = await api('POST', '/updates/download', { ids: [u.id] });
      const d = ((r && r.downloads) || [])[0];
      banner(d ? `${u.name}: ${d.cached ? 'already downloaded' : 'downloaded'} to ${d.path} (${d.size} bytes).`
        : `${u.name}: downloaded.`, 'info');
    }) }, 'Download') : null;
  return h('tr', { class: u.dismissed ? 'dismissed' : '', 'data-update': u.id },
    h('td', {}, cb, h('label', { for: cbId, class: 'sr-only' }, 'Select ' + (u.name || u.id))),
    h('td', {}, h('strong', {}, u.name || u.id), u.source === 'repository' && u.id !== u.name ? h('span', { class: 'muted small' }, ' ' + u.id) : null,
      u.restricted ? h('span', { class: 'tag', title: 'Needs a support contract' }, 'contract') : null,
      u.description && u.description !== u.name ? h('div', { class: 'muted small' }, u.description) : null),
    h('td', {}, h('span', { class: 'kind ' + (u.kind || u.category || '') }, u.kind || u.category || '–'),
      sev ? h('span', { class: 'sevtag sev-' + String(sev).toLowerCase() }, 'Severity: ' + sev) : null),
    h('td', { class: 'nowrap' }, dateText(u.date || u.timestamp)),
    h('td', {}, guidanceText(u)),
    h('td', {}, servers.join('; ') || names(u.pools) || '–'),
    h('td', { class: 'actions' },
      download,
      u.upgrade ? h('button', { type: 'button', class: 'small', 'data-upgrade': u.upgrade.to,
        onclick: () => rowAction(() => upgradeRelease(u)) }, 'Upgrade…')
        : h('a', { class: 'button small', href: '#/install?update=' + encodeURIComponent(u.id) }, 'Install'),
      url ? h('a', { class: 'small', href: url, target: '_blank', rel: 'noopener noreferrer' },
        'Go to Web Page', h('span', { class: 'sr-only' }, ' of ' + (u.name || u.id))) : null));
}

// A new release row: the Rolling Pool Upgrade wizard (upgrade.js) with that release and the
// row's pools chosen.
function upgradeRelease(u) {
  const pools = (u.upgrade.request && u.upgrade.request.body && u.upgrade.request.body.pools) || u.pools || [];
  location.hash = '#/upgrade?to=' + encodeURIComponent(u.upgrade.to) + '&pools=' + encodeURIComponent(pools.map((p) => (typeof p === 'string' ? p : p.name)).join(','));
}

async function rowAction(fn) {
  try { banner(null); await fn(); } catch (e) { banner(String(e.message || e)); }
}

// The VMs whose guest tools must be upgraded (older than their server's version; the seed's
// step 12 after an upgrade), from the views' guest_tools list, within the pool / server filters.
function toolsCard(list, st) {
  const rows = list.filter((t) => (!st.pool || t.pool === st.pool) && (!st.server || t.server === st.server));
  if (!rows.length) return null;
  return h('div', { class: 'card', id: 'guest-tools' },
    h('h3', {}, `Guest tools to upgrade (${rows.length} VM${rows.length === 1 ? '' : 's'})`),
    h('p', { class: 'small muted' }, 'Older XenServer VM Tools on a newer XenServer are supported only during an upgrade: upgrade them inside these VMs.'),
    table(['Pool', 'Server', 'VM', 'Tools', 'Server version'], rows.map((t) => h('tr', { 'data-vm': t.uuid, 'data-pool': t.pool },
      h('td', {}, t.pool), h('td', {}, t.server), h('td', {}, t.vm), h('td', {}, t.tools), h('td', {}, t.server_version))),
    { id: 'guest-tools-table' }));
}

function serverRow(s) {
  const up = s.up_to_date || s.status === 'Up to date';
  const tools = s.tools_upgrade || [];
  return h('tr', { 'data-server': s.pool + '/' + s.server },
    h('td', {}, s.pool),
    h('td', {}, s.is_pool ? h('strong', {}, s.server, ' (pool)') : s.server,
      tools.length ? h('div', { class: 'small warn row-tools' }, 'Guest tools to upgrade: ' + tools.join(', ')) : null),
    h('td', {}, s.version || '–'),
    h('td', {}, h('span', { class: 'status ' + (up ? 'good' : 'warn') }, s.status || (up ? 'Up to date' : 'Out of date'))),
    h('td', {}, names(s.required) || '–'),
    h('td', {}, names(s.installed) || '–'));
}

function offlineRows(offline, st) {
  return offline.filter((o) => !st.pool || o.name === st.pool).map((o) => h('tr', { class: 'offline', 'data-server': o.name + '/' },
    h('td', {}, o.name), h('td', {}, '(pool)'), h('td', {}, '–'),
    h('td', {}, h('span', { class: 'status bad' }, 'Unreachable')),
    h('td', { colspan: 2 }, 'Not checked: ' + (o.error || 'the pool could not be read'))));
}

function offlineNote(offline) {
  if (!offline.length) return null;
  return h('div', { class: 'card errorbox', id: 'offline-pools' },
    h('h3', {}, offline.length === 1 ? '1 pool could not be checked' : offline.length + ' pools could not be checked'),
    h('p', { class: 'small' }, 'Their updates are not listed and they are not counted as up to date.'),
    h('ul', {}, offline.map((o) => h('li', {}, h('strong', {}, o.name), ': ', o.error || 'unreachable'))));
}

function checkingLine(ck) {
  if (!ck) return null;
  const last = ck.last_check ? 'last check ' + dateText(ck.last_check) + ' ' + String(ck.last_check).slice(11, 16) + ' UTC' : 'never checked';
  const auto = ck.automatic ? 'Automatic checking is on (every ' + Math.round((ck.interval_s || 0) / 3600 * 10) / 10 + ' h)'
    : 'Automatic checking is off — use “Check for Updates Now”';
  return h('p', { class: 'muted small', id: 'checking' }, auto + '; ' + last +
    (ck.last_error ? '; last error: ' + ck.last_error : '') + '.');
}

// Check for updates now; the banner says how many, and which pools could not be checked.
async function checkNow(rerun) {
  banner('Checking for updates…', 'info');
  const r = await api('POST', '/updates/check');
  const bad = ((r && r.pools) || []).filter((p) => p.error);
  const n = r && typeof r.updates === 'number' ? r.updates : null;
  const msg = (n === null ? 'Checked.' : `Checked: ${n} update${n === 1 ? '' : 's'} available`) +
    (bad.length ? `; ${bad.length} pool${bad.length === 1 ? '' : 's'} could not be checked (` +
      bad.map((p) => p.name + ': ' + p.error).join('; ') + ') and ' + (bad.length === 1 ? 'is' : 'are') + ' not counted' : '') +
    ((r && (r.catalog_changed ?? r.changed)) ? '; the catalog changed.' : '.');
  await rerun();
  banner(msg, bad.length ? 'warn' : 'info');
  announce(msg);
}

// GET both views (By Server's date sort needs the updates' dates) and draw the page.
export async function viewUpdates(q) {
  const st = updatesState(q);
  const [byU, byS] = await Promise.all([api('GET', '/updates?view=by-update&sort=' + st.sort),
    api('GET', '/updates?view=by-server&sort=' + st.sort)]);
  const offline = byU.offline_pools || byS.offline_pools || [];
  const selected = new Set();
  const allPools = [...new Set([...(byS.servers || []).map((s) => s.pool), ...offline.map((o) => o.name)])].sort();
  const allServers = [...new Set((byS.servers || []).filter((s) => !st.pool || s.pool === st.pool)
    .filter((s) => !s.is_pool || (byS.servers || []).filter((t) => t.pool === s.pool).length === 1).map((s) => s.server))].sort();
  const dates = new Map((byU.updates || []).map((u) => [u.id, when(u)]));
  const dated = (id) => { const u = (byU.updates || []).find((x) => x.id === id); return !u || inRange(u.date || u.timestamp, st.date); };
  const go = (patch) => { Object.assign(st, patch); replaceQuery('/updates', st); draw(); };

  const body = h('div', { id: 'updates-body' });
  const toolbar = h('div', { class: 'toolbar' });
  const dismissBtn = h('button', { type: 'button', disabled: true, onclick: () => rowAction(async () => {
    await api('POST', '/updates/dismiss', { ids: [...selected] });
    await viewUpdates(q2());
    announce('Dismissed.');
  }) }, 'Dismiss Selected');
  const q2 = () => new URLSearchParams(Object.entries(st).filter(([, v]) => v));

  function draw() {
    const tabs = h('div', { class: 'tabs', role: 'group', 'aria-label': 'View' },
      [['by-update', 'By Update'], ['by-server', 'By Server']].map(([v, t]) => h('button', { type: 'button',
        class: 'tab' + (st.view === v ? ' active' : ''), 'aria-pressed': st.view === v ? 'true' : 'false',
        onclick: () => go({ view: v }) }, t)));
    toolbar.replaceChildren(...[tabs,
      select('Sort', st.sort, [['date', 'by date'], ['pool', 'by pool']], (v) => go({ sort: v })),
      select('Pool', st.pool, [['', 'All pools'], ...allPools.map((p) => [p, p])], (v) => go({ pool: v, server: '' })),
      select('Server', st.server, [['', 'All servers'], ...allServers.map((s) => [s, s])], (v) => go({ server: v })),
      select('Date', st.date, DATE_RANGES, (v) => go({ date: v })),
      h('span', { class: 'spacer' }),
      h('button', { type: 'button', class: 'primary', onclick: () => rowAction(() => checkNow(() => viewUpdates(q2()))) }, 'Check for Updates Now'),
      st.view === 'by-update' ? dismissBtn : null,
      h('button', { type: 'button', onclick: () => rowAction(async () => {
        if (!confirm('Dismiss every update shown? They can be restored.')) return;
        await api('POST', '/updates/dismiss', { all: true });
        await viewUpdates(q2());
      }) }, 'Dismiss All'),
      h('button', { type: 'button', onclick: () => rowAction(() => downloadCsv(st.view)) }, 'Export CSV')].filter(Boolean));
    const rerender = () => { dismissBtn.disabled = selected.size === 0; };
    let content;
    if (st.view === 'by-update') {
      const rows = sortUpdates(filterUpdates(byU.updates || [], st), st.sort).map((u) => updateRow(u, selected, rerender));
      content = rows.length ? table(['', 'Update', 'Kind', 'Date', 'After applying', 'Applies to', 'Actions'], rows, { id: 'updates-table' })
        : h('p', { id: 'no-rows' }, (byU.updates || []).length ? 'No updates match the filters.'
          : byU.dismissed ? 'Every update is dismissed.'
          : offline.length ? 'No updates found for the pools that could be checked.' : 'No updates available for the registered pools.');
    } else {
      const rows = [...sortServers(filterServers(byS.servers || [], st, dated), st.sort, dates).map(serverRow), ...offlineRows(offline, st)];
      content = rows.length ? table(['Pool', 'Server', 'Version', 'Status', 'Required updates', 'Installed updates'], rows, { id: 'servers-table' })
        : h('p', { id: 'no-rows' }, 'No servers match: add a pool, or change the filters.');
    }
    const dis = byU.dismissed || 0;
    body.replaceChildren(...[
      dis ? h('p', { id: 'dismissed-line' }, `${dis} dismissed — `, h('button', { type: 'button', class: 'linkish',
        onclick: () => rowAction(async () => { await api('POST', '/updates/restore'); await viewUpdates(q2()); announce('Dismissed updates restored.'); }) },
      'Restore')) : null,
      offlineNote(offline), content, st.view === 'by-update' ? toolsCard(byU.guest_tools || [], st) : null].filter(Boolean));
  }
  draw();
  show(h('h2', { tabindex: -1 }, 'Updates'), toolbar, checkingLine(byU.checking), body);
}

// Per pool: how many distinct updates its servers are missing (the Pools page), from By Server.
export function missingPerPool(byServer) {
  const m = new Map();
  for (const s of (byServer && byServer.servers) || []) {
    if (!m.has(s.pool)) m.set(s.pool, new Set());
    for (const r of s.required || []) m.get(s.pool).add(r.id || r.name || r);
  }
  return new Map([...m].map(([k, v]) => [k, v.size]));
}
