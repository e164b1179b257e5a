// Usage logs of a repository, organization or user: a date range (the
// last week by default), a filter, expandable entries and the export.

import { h, mount, table, dialog, field, act, when } from '../dom.js';
import { get, post } from '../api.js';
import { feature } from '../app.js';

function quayDate(d) {
  const pad = (n) => String(n).padStart(2, '0');
  return `${pad(d.getMonth() + 1)}/${pad(d.getDate())}/${d.getFullYear()}`;
}

function inputDate(d) {
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

function describe(entry) {
  const m = entry.metadata || {};
  const bits = [];
  for (const k of ['tag', 'repo', 'namespace', 'username', 'role', 'team', 'robot', 'member', 'visibility', 'event', 'method']) {
    if (m[k] !== undefined && m[k] !== null && typeof m[k] !== 'object') bits.push(`${k} ${m[k]}`);
  }
  return bits.join(', ');
}

/** `base` is `/repository/ns/name`, `/organization/org` or `/user`. */
export async function logsPanel(body, base, query) {
  const now = new Date();
  const weekAgo = new Date(now.getTime() - 7 * 86400000);
  const from = h('input', { type: 'date', value: query.get('from') || inputDate(weekAgo), 'aria-label': 'From', 'data-test': 'logs-from' });
  const to = h('input', { type: 'date', value: query.get('to') || inputDate(now), 'aria-label': 'To', 'data-test': 'logs-to' });
  const filter = h('input', { type: 'search', placeholder: 'Filter logs', 'aria-label': 'Filter logs', 'data-test': 'logs-filter' });
  const list = h('div');
  let entries = [];
  let next = null;
  const range = () => {
    const s = new Date(from.value + 'T00:00:00');
    const e = new Date(to.value + 'T00:00:00');
    return `starttime=${encodeURIComponent(quayDate(s))}&endtime=${encodeURIComponent(quayDate(e))}`;
  };
  const draw = () => {
    const q = filter.value.trim().toLowerCase();
    const shown = entries.filter((x) => !q || JSON.stringify(x).toLowerCase().includes(q));
    mount(list, table(['Description', 'Performed by', 'IP address', 'Date and time'], shown.map((x) => h('tr', { 'data-test': 'log-row', 'data-kind': x.kind },
      h('td', {}, h('details', {}, h('summary', {}, h('strong', {}, x.kind.replace(/_/g, ' ')), ' ', describe(x)),
        h('pre', { class: 'json' }, JSON.stringify(x.metadata || {}, null, 2)))),
      h('td', {}, x.performer ? `${x.performer.name}${x.performer.kind === 'robot' ? ' (robot)' : ''}` : '(anonymous)'),
      h('td', {}, x.ip || '—'),
      h('td', {}, when(x.datetime)))), 'No log entries in this range.'),
    next ? h('p', {}, h('button', { class: 'secondary', 'data-test': 'logs-more', onclick: more }, 'Load more')) : null);
  };
  const load = async () => {
    const r = await get(`${base}/logs?${range()}`);
    entries = r.logs || [];
    next = r.next_page || null;
    draw();
  };
  async function more() {
    const r = await get(`${base}/logs?${range()}&next_page=${encodeURIComponent(next)}`);
    entries = entries.concat(r.logs || []);
    next = r.next_page || null;
    draw();
  }
  const exportButton = h('button', { class: 'secondary', 'data-test': 'logs-export', onclick: async () => {
    const data = await dialog('Export usage logs', [
      h('p', {}, `Entries from ${from.value} to ${to.value}. When the export is ready it is sent to the address or URL below.`),
      field(feature('MAILING') ? 'Email address or callback URL' : 'Callback URL', h('input', { name: 'target', required: true, 'data-test': 'export-target' }),
        'A URL (http:// or https://) receives a POST with the download link; an email address gets a message.'),
    ], 'Start export');
    if (!data) return;
    const target = String(data.get('target')).trim();
    const s = new Date(from.value + 'T00:00:00');
    const e = new Date(to.value + 'T00:00:00');
    const req = { starttime: quayDate(s), endtime: quayDate(e) };
    if (/^https?:\/\//.test(target)) req.callback_url = target; else req.callback_email = target;
    await act(() => post(`${base}/exportlogs`, req), 'Export started; you are told when it is ready');
  } }, 'Export');
  for (const el of [from, to]) el.addEventListener('change', () => load().catch((e) => mount(list, h('p', { class: 'error-text' }, e.message))));
  filter.addEventListener('input', draw);
  mount(body, h('div', { class: 'toolbar' }, h('label', { class: 'inline' }, 'From ', from), h('label', { class: 'inline' }, 'to ', to), filter, h('span', { class: 'grow' }), exportButton), list);
  await load();
}
