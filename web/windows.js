// SPDX-License-Identifier: MIT
// windows.js - the Windows page: maintenance windows (a rollout of their pools begins and goes on
// only inside one) and schedules of automated rollouts, listed with their next start, added and
// removed through GET/POST/DELETE /api/v1/windows and /api/v1/schedules (docs/windows.md).  The
// daemon checks every field (recurrence, zone, duration); its error is shown as it says it.

import { api } from './api.js';
import { h, show, banner, table, errorText, dateText, announce } from './ui.js';

function field(id, label, attrs) {
  return h('div', { class: 'field' }, h('label', { for: id }, label),
    h('input', Object.assign({ id, type: 'text', autocomplete: 'off' }, attrs || {})));
}

function value(id) {
  const el = document.getElementById(id);
  return el ? el.value.trim() : '';
}

// The pools ticked in fieldset id (registered names).
function ticked(id) {
  return [...document.querySelectorAll('#' + id + ' input[type=checkbox]:checked')].map((c) => c.value);
}

function poolChoice(id, legend, pools) {
  return h('fieldset', { id, class: 'pool-pick' }, h('legend', {}, legend),
    pools.length ? pools.map((p) => {
      const cid = id + '-' + p.name;
      return h('span', { class: 'pick' },
        h('input', { type: 'checkbox', id: cid, value: p.name }), ' ', h('label', { for: cid }, p.name), ' ');
    }) : h('p', {}, 'No pools registered yet.'));
}

async function remove(kind, name) {
  try {
    banner(null);
    await api('DELETE', `/${kind}/${encodeURIComponent(name)}`);
    announce(`${kind === 'windows' ? 'Window' : 'Schedule'} ${name} removed`);
    await viewWindows();
  } catch (e) {
    banner(errorText(e));
  }
}

async function add(kind, body) {
  try {
    banner(null);
    await api('POST', `/${kind}`, body);
    announce(`${kind === 'windows' ? 'Window' : 'Schedule'} ${body.name} added`);
    await viewWindows();
  } catch (e) {
    banner(errorText(e));
  }
}

function windowRow(w) {
  return h('tr', { 'data-window': w.name },
    h('td', {}, h('strong', {}, w.name)), h('td', {}, h('code', {}, w.recurrence)), h('td', {}, w.tz),
    h('td', { class: 'num' }, `${Math.round(w.duration_s / 60)} min`), h('td', {}, (w.pools || []).join(', ')),
    h('td', {}, w.open ? h('span', { class: 'good' }, 'open until ' + dateText(w.ends)) : (w.next ? dateText(w.next) : '–')),
    h('td', {}, h('button', { type: 'button', 'aria-label': 'Remove window ' + w.name,
      onclick: () => remove('windows', w.name) }, 'Remove')));
}

function scheduleRow(s) {
  return h('tr', { 'data-schedule': s.name },
    h('td', {}, h('strong', {}, s.name)), h('td', {}, h('code', {}, s.recurrence)), h('td', {}, s.tz),
    h('td', {}, (s.pools || []).length ? s.pools.join(', ') : 'every pool'), h('td', {}, s.policy),
    h('td', {}, s.next ? dateText(s.next) : '–'),
    h('td', {}, s.last_error ? h('span', { class: 'bad' }, s.last_error)
      : s.last_rollout ? h('a', { href: '#/rollouts/' + encodeURIComponent(s.last_rollout) }, dateText(s.last_fired)) : '–'),
    h('td', {}, h('button', { type: 'button', 'aria-label': 'Remove schedule ' + s.name,
      onclick: () => remove('schedules', s.name) }, 'Remove')));
}

function windowForm(pools) {
  return h('form', { class: 'card', id: 'window-form', onsubmit: (ev) => {
    ev.preventDefault();
    add('windows', { name: value('win-name'), recurrence: value('win-recurrence'), tz: value('win-tz') || 'UTC',
      duration: value('win-duration'), pools: ticked('win-pools') });
  } },
  h('h3', {}, 'Add a maintenance window'),
  field('win-name', 'Name', { required: true, placeholder: 'tuesday-night' }),
  field('win-recurrence', 'Starts (MIN HOUR DAY MONTH WEEKDAY)', { required: true, placeholder: '0 2 * * TUE#2' }),
  field('win-duration', 'Lasts (e.g. 4h, 90m)', { required: true, placeholder: '4h' }),
  field('win-tz', 'Time zone', { placeholder: 'UTC' }),
  poolChoice('win-pools', 'Pools', pools),
  h('button', { type: 'submit', class: 'primary' }, 'Add window'));
}

function scheduleForm(pools) {
  const policy = h('select', { id: 'sch-policy' },
    h('option', { value: 'minimal' }, 'minimal (VMs stay where they land)'),
    h('option', { value: 'return' }, 'return (VMs go back home)'));
  return h('form', { class: 'card', id: 'schedule-form', onsubmit: (ev) => {
    ev.preventDefault();
    add('schedules', { name: value('sch-name'), recurrence: value('sch-recurrence'), tz: value('sch-tz') || 'UTC',
      pools: ticked('sch-pools'), policy: policy.value });
  } },
  h('h3', {}, 'Add a schedule (automated updates)'),
  field('sch-name', 'Name', { required: true, placeholder: 'patch-tuesday' }),
  field('sch-recurrence', 'Starts (MIN HOUR DAY MONTH WEEKDAY)', { required: true, placeholder: '0 2 * * TUE#2' }),
  field('sch-tz', 'Time zone', { placeholder: 'UTC' }),
  h('div', { class: 'field' }, h('label', { for: 'sch-policy' }, 'VMs after the update'), policy),
  poolChoice('sch-pools', 'Pools (none ticked: every pool)', pools),
  h('button', { type: 'submit', class: 'primary' }, 'Add schedule'));
}

// The Windows page.
export async function viewWindows() {
  const [w, s, p] = await Promise.all([api('GET', '/windows'), api('GET', '/schedules'),
    api('GET', '/pools')]);
  const pools = p.pools || [];
  const wins = (w.windows || []).map(windowRow);
  const schs = (s.schedules || []).map(scheduleRow);
  show(h('h2', { tabindex: -1 }, 'Maintenance windows and schedules'),
    h('p', {}, 'A rollout of a pool with windows begins only inside one, and a batch of hosts only when its predicted ',
      'time fits in what is left of the window (else it pauses until the next). A schedule starts an automated rollout ',
      'at each of its starts; windows still apply.'),
    h('h3', {}, 'Windows'),
    wins.length ? table(['Name', 'Starts', 'Zone', 'Lasts', 'Pools', 'Next', ''], wins, { id: 'windows-table' })
      : h('p', { id: 'no-windows' }, 'No maintenance windows: rollouts may run at any time.'),
    windowForm(pools),
    h('h3', {}, 'Schedules'),
    schs.length ? table(['Name', 'Starts', 'Zone', 'Pools', 'Policy', 'Next', 'Last', ''], schs, { id: 'schedules-table' })
      : h('p', { id: 'no-schedules' }, 'No schedules.'),
    scheduleForm(pools));
}
