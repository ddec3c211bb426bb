// SPDX-License-Identifier: MIT
// ui.js - the web UI's shared helpers: building DOM from text (never innerHTML), the error
// banner, the polite live region, tables that turn into cards on narrow screens, progress bars
// with ARIA values, durations / dates / short titles, and OpaqueRef -> name substitution.

import { ApiError } from './api.js';

// h('tag', {attrs}, children...): an element; children are nodes or text (never parsed as HTML).
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'checked' || k === 'disabled' || k === 'selected') el[k] = true;
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// setText(el, text): change a node's text only when it differs (keeps selection and focus).
export function setText(el, text) {
  const t = String(text ?? '');
  if (el.textContent !== t) el.textContent = t;
}

export function setAttr(el, name, value) {
  const v = String(value);
  if (el.getAttribute(name) !== v) el.setAttribute(name, v);
}

export const main = () => document.getElementById('main');

// show(...nodes): replace the page's content (route changes only; live pages update in place).
export function show(...nodes) {
  main().replaceChildren(...nodes.flat().filter((n) => n !== null && n !== undefined && n !== false));
}

export function banner(msg, kind) {
  const b = document.getElementById('banner');
  if (!msg) { b.hidden = true; b.replaceChildren(); return; }
  b.className = kind || 'error';
  b.setAttribute('role', kind === 'info' ? 'status' : 'alert');
  b.replaceChildren(msg);
  b.hidden = false;
}

// announce(text): say something to screen readers through the polite live region.
export function announce(text) {
  const r = document.getElementById('announce');
  if (r) setText(r, text);
}

export function errorText(e) {
  if (e instanceof ApiError) {
    let s = e.message;
    if (e.xapiCode && !s.includes(e.xapiCode)) s = e.xapiCode + ': ' + s;
    return s;
  }
  return String(e && e.message ? e.message : e);
}

// table(headers, rows): rows are <tr> whose cells get data-label = their header, so that below
// ~640 px the stylesheet shows every row as a card ("Header: value" lines).
export function table(headers, rows, attrs) {
  for (const tr of rows) {
    [...tr.children].forEach((td, i) => { if (headers[i]) td.setAttribute('data-label', headers[i]); });
  }
  return h('table', Object.assign({ class: 'cards' }, attrs || {}),
    h('thead', {}, h('tr', {}, headers.map((x) => h('th', { scope: 'col' }, x)))),
    h('tbody', {}, rows));
}

// A progress bar: role=progressbar with aria-valuenow; update with setBar().
export function bar(label, pct) {
  const fill = h('span', { class: 'fill' });
  const b = h('span', { class: 'bar', role: 'progressbar', 'aria-label': label,
    'aria-valuemin': 0, 'aria-valuemax': 100 }, fill);
  setBar(b, pct);
  return b;
}

export function setBar(b, pct) {
  const p = Math.max(0, Math.min(100, Math.round(typeof pct === 'number' ? pct : 0)));
  setAttr(b, 'aria-valuenow', p);
  setAttr(b, 'aria-valuetext', p + '%');
  const w = p + '%';
  if (b.firstChild.style.width !== w) b.firstChild.style.width = w; // CSSOM: allowed by the CSP
}

export function duration(s) {
  if (typeof s !== 'number' || s < 0) return '–';
  s = Math.round(s);
  if (s < 60) return s + 's';
  if (s < 3600) return Math.floor(s / 60) + 'm' + String(s % 60).padStart(2, '0') + 's';
  if (s < 86400) return Math.floor(s / 3600) + 'h' + String(Math.floor(s % 3600 / 60)).padStart(2, '0') + 'm';
  return Math.floor(s / 86400) + 'd' + String(Math.floor(s % 86400 / 3600)).padStart(2, '0') + 'h';
}

// Parse ISO 8601 ("2026-10-01T00:00:00Z"), XAPI's compact form ("20261001T00:00:00Z") or epoch
// seconds / milliseconds; null when absent or unreadable.
export function parseTime(t) {
  if (typeof t === 'number') return new Date(t > 1e11 ? t : t * 1000);
  if (typeof t !== 'string' || !t) return null;
  const m = t.match(/^(\d{4})(\d{2})(\d{2})T(.*)$/);
  const d = new Date(m ? `${m[1]}-${m[2]}-${m[3]}T${m[4]}` : t);
  return isNaN(d.getTime()) ? null : d;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

// "5 Dec 2026" (UTC, so every viewer sees the catalog's date)
export function dateText(t) {
  const d = parseTime(t);
  return d ? `${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()}` : '–';
}

// "5 Dec 11:34" in the viewer's local time
export function shortTime(t) {
  const d = parseTime(t);
  if (!d) return '–';
  return `${d.getDate()} ${MONTHS[d.getMonth()]} ${String(d.getHours()).padStart(2, '0')}:` +
    String(d.getMinutes()).padStart(2, '0');
}

// A rollout's short title: "prod, lab · 5 Dec 11:34".
export function rolloutTitle(r) {
  const pools = (r.pools || []).map((p) => (typeof p === 'string' ? p : p.name)).filter(Boolean);
  const who = pools.length > 2 ? pools.slice(0, 2).join(', ') + ' +' + (pools.length - 2) : pools.join(', ');
  return (who || 'rollout') + ' · ' + shortTime(r.created || r.started);
}

export const names = (arr, key = 'name') => (typeof arr === 'string' ? arr
  : (arr || []).map((x) => (typeof x === 'string' ? x : x[key] || x.id)).join(', '));

// A resolver of OpaqueRefs and update ids to names, from a plan (hosts, VMs) and update rows.
export function makeNamer(plan, updates) {
  const map = new Map();
  for (const p of (plan && plan.pools) || []) {
    for (const x of p.hosts || []) if (x.ref && x.name) map.set(x.ref, x.name);
    for (const x of p.hosts || []) for (const v of x.vms || []) if (v.to_ref && v.to) map.set(v.to_ref, v.to);
    for (const x of p.hosts || []) {
      for (const m of [...(x.migrations || []), ...(x.actions || []).flatMap((a) => a.migrations || [])]) {
        if (m.vm_ref && (m.vm_name || m.vm)) map.set(m.vm_ref, m.vm_name || m.vm);
        if (m.vm && m.vm_name && m.vm.startsWith('OpaqueRef:')) map.set(m.vm, m.vm_name);
        if (m.from_ref && m.from) map.set(m.from_ref, m.from);
        if (m.to_ref && m.to) map.set(m.to_ref, m.to);
      }
    }
  }
  for (const u of updates || []) if (u.id && u.name && u.id !== u.name) map.set(u.id, u.name);
  const one = (s) => (map.has(s) ? map.get(s) : s);
  one.text = (s) => (typeof s !== 'string' ? s
    : s.replace(/OpaqueRef:[0-9a-fA-F-]+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g,
      (m) => (map.has(m) ? map.get(m) : m.startsWith('OpaqueRef:') ? 'an object' : m)));
  return one;
}

// The hash route: "#/updates?view=by-server&sort=pool" -> {path: '/updates', q: URLSearchParams}.
export function parseHash() {
  const raw = (location.hash || '#/updates').slice(1);
  const i = raw.indexOf('?');
  return { path: i < 0 ? raw : raw.slice(0, i), q: new URLSearchParams(i < 0 ? '' : raw.slice(i + 1)) };
}

// Write query parameters into the hash without a new history entry or a re-route.
export function replaceQuery(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== '' && v !== null && v !== undefined) q.set(k, v);
  const s = q.toString();
  history.replaceState(null, '', '#' + path + (s ? '?' + s : ''));
}

let seq = 0;
export const uid = (p) => (p || 'id') + '-' + (++seq);

// A labelled select: options [[value, text], ...].
export function select(label, value, options, onchange, attrs) {
  const id = uid('sel');
  const s = h('select', Object.assign({ id, onchange: (ev) => onchange(ev.target.value) }, attrs || {}),
    options.map(([v, t]) => h('option', { value: v, selected: v === value }, t)));
  return h('span', { class: 'field' }, h('label', { for: id }, label), s);
}
