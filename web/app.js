// SPDX-License-Identifier: MIT
// app.js - the poolpatch web UI's shell: the token, the hash router (view state in the URL,
// scroll reset, focus to the page heading, tab title), the live event stream, and the Pools page
// with its settings (client ID import, default policy) and each pool's live-patching switch.  Pages: updates.js (Updates tab),
// wizard.js (Install Update), upgrade.js (Rolling Pool Upgrade), windows.js (maintenance windows, schedules), rollout.js (rollouts, live).  Plain ES modules, no framework; every
// piece of daemon data goes into the page as text nodes, never as HTML.  JSON: docs/rest-api.md.

import { api, ApiError, followEvents, getToken, setToken } from './api.js';
import { h, show, banner, table, errorText, parseHash, announce, setText } from './ui.js';
import { viewUpdates, missingPerPool } from './updates.js';
import { viewWizard, defaultPolicy, setDefaultPolicy } from './wizard.js';
import { viewRollouts, viewRollout, rolloutEvent, stopRolloutView } from './rollout.js';
import { viewUpgrade } from './upgrade.js';
import { viewWindows } from './windows.js';

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

// The id stem of a pool's elements (letters, digits, - and _ only).
const poolId = (name) => name.replace(/[^A-Za-z0-9_-]/g, '_');

// A pool property set on the pool itself, as XenCenter's pool properties do: the live-patching
// switch (PATCH /pools/{name} {live_patching_disabled}).  The change is asked for in the box
// under the table, which says what it means, and confirmed there; the page is then read again
// from the daemon, which answers with the pool's own state after the change.
function livePatchingCell(p, box) {
  if (typeof p.live_patching_disabled !== 'boolean') return h('td', { class: 'muted' }, '–');
  const off = p.live_patching_disabled;
  const id = 'lp-' + poolId(p.name);
  const set = () => guarded(async () => {
    const out = await api('PATCH', '/pools/' + encodeURIComponent(p.name), { live_patching_disabled: !off });
    announce('Pool ' + p.name + ': live patching is ' + (out.live_patching_disabled ? 'off.' : 'on.'));
    route();
  });
  const ask = () => {
    box.replaceChildren(
      h('h4', { id: 'lp-heading', tabindex: -1 }, off ? 'Turn live patching on for pool ' : 'Turn live patching off for pool ', p.name, '?'),
      off ? h('p', {}, 'With live patching on (XenServer\'s default), a host whose updates carry a live patch that covers it is updated without a reboot.')
        : h('p', {}, 'With live patching off, updates that could be live-patched need a reboot: every host that gets such an update is evacuated and rebooted.'),
      h('p', { class: 'small' }, 'This changes the pool itself (its live_patching_disabled property, as XenCenter\'s pool properties do); plans made after it use the new setting.'),
      h('div', { class: 'toolbar' },
        h('button', { type: 'button', class: 'primary', id: id + '-confirm', onclick: set },
          off ? 'Turn live patching on' : 'Turn live patching off'),
        ' ', h('button', { type: 'button', class: 'quiet', onclick: () => box.replaceChildren() }, 'Cancel')));
    box.querySelector('#lp-heading').focus();
  };
  return h('td', { 'data-live-patching': off ? 'off' : 'on' },
    h('span', { class: off ? 'warn' : 'good', id: id + '-state' }, off ? 'Off' : 'On'), ' ',
    h('button', { type: 'button', class: 'quiet', id: id + '-ask', onclick: ask },
      off ? 'Turn on…' : 'Turn off…', h('span', { class: 'sr-only' }, ' live patching of pool ' + p.name)));
}

function poolRow(p, missing, lpBox) {
  const n = missing.get(p.name);
  return h('tr', { 'data-pool': p.name },
    h('td', {}, h('strong', {}, p.name)), h('td', {}, p.url), h('td', {}, p.master || '–'),
    h('td', { class: 'num' }, p.hosts ?? '–'), h('td', {}, p.version || '–'),
    h('td', {}, p.state === 'certificate_unconfirmed' ? h('a', { class: 'bad', href: '#/pools',
      onclick: (ev) => { ev.preventDefault(); const c = document.getElementById('trust-' + p.name.replace(/[^A-Za-z0-9_-]/g, '_') + '-ask'); if (c) c.focus(); } }, 'Certificate unconfirmed')
      : p.error ? h('span', { class: 'bad' }, p.error)
      : h('span', { class: p.connected ? 'good' : 'warn' }, p.connected ? 'Connected' : 'Disconnected')),
    h('td', { class: 'missing' }, p.error || !p.connected || n === undefined ? 'unknown'
      : n === 0 ? h('span', { class: 'good' }, 'Up to date') : h('a', { href: '#/updates?view=by-server&pool=' + encodeURIComponent(p.name) }, `${n} update${n === 1 ? '' : 's'} missing`)),
    livePatchingCell(p, lpBox),
    h('td', {}, h('button', { type: 'button', class: 'quiet', onclick: () => guarded(async () => {
      if (!confirm('Remove pool ' + p.name + ' from poolpatch? (Nothing changes on the pool.)')) return;
      await api('DELETE', '/pools/' + encodeURIComponent(p.name));
      route();
    }) }, 'Remove', h('span', { class: 'sr-only' }, ' pool ' + p.name))));
}

// The certificate question of an https pool without a CA file (409 fingerprint_unconfirmed): the
// daemon read the pool's certificate and names its SHA-256 fingerprint; the user compares it with
// the pool's own (xe host-cert-info, the console) and confirms, or cancels.  Nothing is registered
// and no password is sent to the pool before that.
function fingerprintOf(err) {
  const d = (err && err.detail) || {};
  if (err && err.code === 'fingerprint_unconfirmed' && typeof d.fingerprint === 'string') return d.fingerprint;
  return null;
}

function confirmFingerprint(box, url, fp, onConfirm) {
  const yes = h('button', { type: 'button', class: 'primary', id: 'pool-fp-confirm', onclick: onConfirm },
    'The fingerprint is right: add the pool');
  box.replaceChildren(
    h('h4', { id: 'pool-fp-heading', tabindex: -1 }, 'Confirm the pool\'s certificate'),
    h('p', {}, url, ' presents a certificate that no CA file vouches for. Its SHA-256 fingerprint is:'),
    h('p', {}, h('code', { id: 'pool-fp', class: 'fingerprint' }, 'SHA256:' + fp)),
    h('p', { class: 'small' }, 'Compare it with the pool\'s own (on the master: ', h('code', {}, 'xe host-cert-info'),
      ', or its console) before you confirm. The password is sent only after you confirm; ',
      'from then on a different certificate is refused.'),
    h('div', { class: 'toolbar' }, yes, ' ',
      h('button', { type: 'button', class: 'quiet', onclick: () => box.replaceChildren() }, 'Cancel')));
  box.querySelector('#pool-fp-heading').focus();
  announce('The pool\'s certificate needs confirming: fingerprint SHA256:' + fp);
}

// A registered pool whose master moved to a host with an unconfirmed certificate (state
// certificate_unconfirmed, docs/security.md): the daemon sends that host nothing until the user
// compares the fingerprint with the host's own and confirms it (POST /pools/{name}/trust).
function certificateCard(p) {
  const c = p.certificate || {};
  const box = h('div', { class: 'fp-box' });
  const id = 'trust-' + p.name.replace(/[^A-Za-z0-9_-]/g, '_');
  const trust = () => guarded(async () => {
    await api('POST', '/pools/' + encodeURIComponent(p.name) + '/trust', { fingerprint: 'SHA256:' + c.fingerprint });
    announce('Certificate confirmed: poolpatch logs in to ' + c.host + ' again.');
    route();
  });
  const ask = () => {
    box.replaceChildren(
      h('p', {}, 'Compare it with the host\'s own (on ', c.host, ': ', h('code', {}, 'xe host-cert-info'),
        ', or its console) before you confirm. The password is sent to ', c.host, ' only after you confirm.'),
      h('div', { class: 'toolbar' },
        h('button', { type: 'button', class: 'primary', id: id + '-confirm', onclick: trust },
          'The fingerprint is right: trust ', c.host),
        ' ', h('button', { type: 'button', class: 'quiet', onclick: () => box.replaceChildren() }, 'Cancel')));
    box.querySelector('button').focus();
  };
  return h('section', { class: 'card warn-card', id, 'data-pool': p.name },
    h('h3', {}, 'Pool ', p.name, ': certificate unconfirmed'),
    h('p', {}, 'The pool\'s master is now ', h('strong', {}, c.host || '?'),
      ', which presents a certificate no confirmation or CA file vouches for. poolpatch sends it nothing (no password, no call) until you confirm. Its SHA-256 fingerprint is:'),
    h('p', {}, h('code', { class: 'fingerprint', id: id + '-fp' }, 'SHA256:' + (c.fingerprint || '?'))),
    c.confirmed_before ? h('p', { class: 'small' }, 'The fingerprint confirmed before for that address: ',
      h('code', { class: 'fingerprint' }, 'SHA256:' + c.confirmed_before), ' — a different one can mean another machine answers there.') : null,
    h('button', { type: 'button', id: id + '-ask', onclick: ask }, 'Confirm the certificate…'), box);
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
  const [sys, sysF] = field('verify_ca', 'Verify against the system CA bundle', { type: 'checkbox' });
  const fpBox = h('div', { id: 'pool-fp-box', class: 'fp-box' });
  const submit = (fingerprint) => guarded(async () => {
    const body = { name: name.value, url: url.value, username: user.value, password: pw.value };
    if (ca.value) body.ca_file = ca.value;
    if (sys.checked) body.verify_ca = true;
    if (fingerprint) body.fingerprint = 'SHA256:' + fingerprint;
    try {
      await api('POST', '/pools', body);
    } catch (e) {
      const fp = fingerprintOf(e);
      if (!fp || fingerprint) throw e;
      confirmFingerprint(fpBox, url.value, fp, () => submit(fp));
      return;
    }
    pw.value = '';
    route();
  });
  return h('form', { class: 'card', id: 'pool-add', onsubmit: (ev) => { ev.preventDefault(); fpBox.replaceChildren(); submit(null); } },
    h('h3', {}, 'Add a pool'), h('div', { class: 'fields' }, nameF, urlF, userF, pwF, caF, sysF),
    h('button', { type: 'submit' }, 'Add pool'), fpBox);
}

// The check interval as the form shows it: hours, 0 = off.
const intervalHours = (s) => (s > 0 ? Math.round(s / 360) / 10 : 0);

function intervalForm(settings, checking) {
  const cur = settings ? settings.check_interval_s : (checking && checking.automatic ? checking.interval_s : 0);
  const status = h('span', { class: 'small', id: 'check-interval-status', role: 'status' });
  const input = h('input', { type: 'number', id: 'check-interval', min: 0, max: 720, step: 'any',
    value: String(intervalHours(cur || 0)), size: 6 });
  const save = h('button', { type: 'button', id: 'check-interval-save', onclick: () => guarded(async () => {
    const hours = Number(input.value);
    if (!Number.isFinite(hours) || hours < 0 || hours > 720) throw new Error('Check interval: give hours from 0 (off) to 720.');
    const out = await api('PUT', '/settings', { check_interval_s: Math.round(hours * 3600) });
    const text = out.automatic_checks ? `Saved: the daemon checks for updates every ${intervalHours(out.check_interval_s)} h.`
      : 'Saved: automatic checking is off.';
    setText(status, text);
    announce(text);
  }) }, 'Save interval');
  return h('span', { class: 'field' }, h('label', { for: 'check-interval' }, 'Check for updates every (hours, 0 = off)'),
    h('span', {}, input, ' ', save, ' ', status));
}

function settingsCard(checking, settings) {
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
  const polStatus = h('span', { class: 'small', id: 'default-policy-status', role: 'status' });
  // the daemon's setting (GET / PUT /settings default_policy): plans that name no policy get it
  const cur = settings && settings.default_policy ? settings.default_policy : defaultPolicy();
  const pol = h('select', { id: 'default-policy', disabled: !settings, onchange: (ev) => guarded(async () => {
    const out = await api('PUT', '/settings', { default_policy: ev.target.value });
    setDefaultPolicy(out.default_policy);
    const t = 'Saved: plans without a policy ' + (out.default_policy === 'minimal' ? 'leave VMs where they land (minimal migrations).'
      : 'return VMs to their home hosts.');
    setText(polStatus, t);
    announce(t);
  }) },
  h('option', { value: 'return', selected: cur === 'return' }, 'Return VMs to their home hosts'),
  h('option', { value: 'minimal', selected: cur === 'minimal' }, 'Minimal migrations'));
  const ck = checking || {};
  return h('section', { class: 'card', id: 'settings' }, h('h3', {}, 'Settings'),
    h('div', { class: 'fields' },
      h('span', { class: 'field' }, h('label', { for: 'client-id-file' }, 'Import the client ID file (xencenter_client_id.json)'), file),
      h('span', { class: 'field' }, h('label', { for: 'default-policy' }, 'Default VM placement policy after updates'),
        h('span', {}, pol, ' ', polStatus)),
      intervalForm(settings, checking)),
    status,
    h('p', { class: 'small' }, 'Update checks: ', ck.automatic ? `automatic, every ${intervalHours(ck.interval_s || 0)} h` : 'automatic checking is off',
      ck.last_check ? ['; last ', ck.last_check] : null,
      ck.catalog_url ? ['; catalog ', h('code', {}, ck.catalog_url)] : null, '. ',
      h('span', { class: 'muted' }, 'The interval is stored by the daemon; a check_interval given to poolpatch serve (option or settings file) wins at its next start.')));
}

async function viewPools() {
  const [data, byS, byU, settings] = await Promise.all([api('GET', '/pools'),
    api('GET', '/updates?view=by-server&sort=pool').catch(() => null), api('GET', '/updates?view=by-update').catch(() => null),
    api('GET', '/settings').catch(() => null)]);
  const missing = missingPerPool(byS);
  for (const o of (byS && byS.offline_pools) || []) missing.delete(o.name);
  const lpBox = h('div', { id: 'lp-box', class: 'fp-box' });
  const rows = (data.pools || []).map((p) => poolRow(p, missing, lpBox));
  const waiting = (data.pools || []).filter((p) => p.state === 'certificate_unconfirmed' && p.certificate);
  show(h('h2', { tabindex: -1 }, 'Pools'), waiting.map(certificateCard),
    rows.length ? [table(['Name', 'URL', 'Master', 'Hosts', 'Version', 'Status', 'Updates', 'Live patching', ''], rows, { id: 'pools-table' }), lpBox]
      : h('p', {}, 'No pools registered yet.'),
    addPoolForm(), settingsCard(byU && byU.checking, settings));
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

const TITLES = { '/pools': 'Pools', '/updates': 'Updates', '/install': 'Install Update', '/upgrade': 'Rolling Pool Upgrade', '/windows': 'Windows', '/rollouts': 'Rollouts' };

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
    if (top === '/upgrade') return viewUpgrade(q);
    if (top === '/windows') return viewWindows();
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
