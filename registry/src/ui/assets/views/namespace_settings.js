// Settings that depend on features: an organization's quota and proxy
// cache, and a repository's mirroring.

import { h, mount, field, act, bytes, select, confirmAction, when, table } from '../dom.js';
import { get, put, post, del, enc, ApiError } from '../api.js';
import { feature } from '../app.js';

async function maybe(p) {
  try { return await get(p); } catch (e) { if (e instanceof ApiError && e.status === 404) return null; throw e; }
}

const UNITS = [['MiB', 2 ** 20], ['GiB', 2 ** 30], ['TiB', 2 ** 40]];

/** "1.2 MiB of 10.0 GiB (12%)": what a namespace uses against its quota. */
export function quotaUsage(report) {
  if (!report) return '—';
  const used = bytes(report.quota_bytes || 0);
  if (!report.configured_quota) return used;
  const pct = Math.round(((report.quota_bytes || 0) / report.configured_quota) * 1000) / 10;
  return `${used} of ${bytes(report.configured_quota)} (${pct}%)`;
}

/** The organization settings' quota card (changes need a superuser). */
export async function quotaCard(box, org, isSuperuser, report) {
  if (!feature('QUOTA_MANAGEMENT')) return;
  const inner = h('div');
  mount(box, h('div', { class: 'card', 'data-test': 'quota-card' }, h('h2', {}, 'Quota'), inner));
  const base = `/organization/${enc(org)}/quota`;
  await quotaPanel(inner, { read: base, write: base, limits: base }, isSuperuser && feature('EDIT_QUOTA'), report);
}

/**
 * A namespace's quota: what it uses, its limit and its Warning and Reject
 * thresholds. `paths.read` lists the quotas, `paths.write` creates and
 * changes them, `paths.limits` (organizations only) holds the thresholds.
 */
export async function quotaPanel(box, paths, editable, report) {
  const quotas = (await get(paths.read)) || [];
  const q = quotas.find((x) => !x.default_config);
  const system = quotas.find((x) => x.default_config);
  const redraw = async (changed) => {
    if (changed !== undefined) await quotaPanel(box, paths, editable, report);
  };
  const [unitName, unitSize] = q ? UNITS.slice().reverse().find(([, size]) => q.limit_bytes % size === 0 && q.limit_bytes >= size) || UNITS[0] : UNITS[1];
  const amount = h('input', { type: 'number', min: 0, step: 'any', required: true, name: 'amount', value: q ? String(q.limit_bytes / unitSize) : '', 'aria-label': 'Quota amount', 'data-test': 'quota-amount', disabled: !editable });
  const unit = select('unit', UNITS.map(([n]) => [n, n]), unitName);
  unit.setAttribute('aria-label', 'Quota unit');
  unit.setAttribute('data-test', 'quota-unit');
  unit.disabled = !editable;
  amount.id = 'quota-' + Math.random().toString(36).slice(2);
  const form = h('form', { class: 'inline-form' },
    h('label', { for: amount.id }, 'Storage quota'), amount, unit,
    editable ? h('button', { type: 'submit', 'data-test': 'quota-save' }, 'Apply') : null,
    editable && q ? h('button', { type: 'button', class: 'danger', 'data-test': 'quota-remove', onclick: async () => {
      if (!(await confirmAction('Remove quota', 'Remove the quota and its thresholds? The namespace can then grow without limit.', 'Remove'))) return;
      await redraw(await act(() => del(`${paths.write}/${q.id}`), 'Quota removed'));
    } }, 'Remove quota') : null);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const size = UNITS.find(([n]) => n === unit.value)[1];
    const limit = Math.round(Number(amount.value) * size);
    await redraw(await act(() => (q ? put(`${paths.write}/${q.id}`, { limit_bytes: limit }) : post(paths.write, { limit_bytes: limit })), `Quota set to ${bytes(limit)}`));
  });
  const state = q ? `The quota is ${bytes(q.limit_bytes)}.`
    : system ? `No quota of its own: the registry's default of ${bytes(system.limit_bytes)} applies, and pushes beyond it are refused.`
      : 'No quota: the namespace can grow without limit.';
  mount(box,
    report ? h('p', { 'data-test': 'quota-usage' }, 'Used: ', h('strong', {}, quotaUsage({ ...report, configured_quota: q ? q.limit_bytes : system ? system.limit_bytes : null }))) : null,
    h('p', { class: 'help', 'data-test': 'quota-state' }, state), editable ? form : null,
    q && paths.limits ? limitsTable(q, `${paths.limits}/${q.id}/limit`, editable, redraw) : null);
}

function limitsTable(q, base, editable, redraw) {
  const rows = (q.limits || []).slice().sort((a, b) => a.limit_percent - b.limit_percent).map((l) => h('tr', { 'data-test': 'quota-limit-row' },
    h('td', {}, l.type === 'Reject' ? 'Reject pushes' : 'Warn'),
    h('td', {}, `${l.limit_percent}% (${bytes(Math.floor((q.limit_bytes * l.limit_percent) / 100))})`),
    h('td', { class: 'actions' }, editable ? h('button', { class: 'secondary', 'aria-label': `Remove the ${l.type} limit at ${l.limit_percent}%`, onclick: async () => {
      await redraw(await act(() => del(`${base}/${l.id}`), 'Limit removed'));
    } }, 'Remove') : null)));
  const percent = h('input', { type: 'number', name: 'percent', min: 1, max: 100, required: true, 'aria-label': 'Threshold (percent of the quota)', 'data-test': 'quota-limit-percent' });
  const kind = select('type', [['Warning', 'Warn'], ['Reject', 'Reject pushes']], 'Warning');
  kind.setAttribute('aria-label', 'Action at the threshold');
  kind.setAttribute('data-test', 'quota-limit-type');
  const add = h('form', { class: 'inline-form' }, kind, h('span', {}, 'at'), percent, h('span', {}, '%'),
    h('button', { type: 'submit', class: 'secondary', 'data-test': 'quota-limit-add' }, 'Add limit'));
  add.addEventListener('submit', async (e) => {
    e.preventDefault();
    await redraw(await act(() => post(base, { type: kind.value, threshold_percent: Number(percent.value) }), 'Limit added'));
  });
  return h('div', {}, h('h3', {}, 'Quota policy'),
    h('p', { class: 'help' }, 'Warn notifies the organization\'s administrators when usage passes the threshold; Reject refuses pushes beyond it.'),
    table(['Action', 'Threshold', ''], rows, 'No thresholds: the quota is only reported.'),
    editable ? add : null);
}

export async function proxyCacheCard(box, org) {
  if (!feature('PROXY_CACHE')) return;
  const cfg = await maybe(`/organization/${enc(org)}/proxycache`);
  const configured = cfg && cfg.upstream_registry;
  if (configured) {
    mount(box, h('div', { class: 'card' }, h('h2', {}, 'Proxy cache'),
      h('p', {}, `This organization caches ${cfg.upstream_registry}; cached tags expire ${cfg.expiration_s} seconds after their last pull.`),
      h('button', { class: 'danger', onclick: async () => {
        if (!(await confirmAction('Remove proxy cache', 'Stop caching the upstream registry?', 'Remove'))) return;
        const done = await act(() => del(`/organization/${enc(org)}/proxycache`), 'Proxy cache removed');
        if (done !== undefined) proxyCacheCard(box, org);
      } }, 'Remove proxy cache')));
    return;
  }
  const form = h('form', {},
    field('Remote registry', h('input', { name: 'upstream_registry', required: true, placeholder: 'quay.io/namespace', 'data-test': 'proxy-upstream' })),
    field('Remote registry username', h('input', { name: 'upstream_registry_username', autocomplete: 'off' })),
    field('Remote registry password', h('input', { name: 'upstream_registry_password', type: 'password', autocomplete: 'new-password' })),
    field('Expiration (seconds)', h('input', { name: 'expiration_s', type: 'number', min: 60, value: 86400 })),
    h('label', { class: 'inline' }, h('input', { type: 'checkbox', name: 'insecure' }), 'Insecure: skip TLS verification of the remote registry'),
    h('p', {}, h('button', { type: 'submit', 'data-test': 'proxy-save' }, 'Save')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const d = new FormData(form);
    const body = { org_name: org, upstream_registry: d.get('upstream_registry'), expiration_s: Number(d.get('expiration_s')), insecure: d.get('insecure') === 'on' };
    if (d.get('upstream_registry_username')) body.upstream_registry_username = d.get('upstream_registry_username');
    if (d.get('upstream_registry_password')) body.upstream_registry_password = d.get('upstream_registry_password');
    const done = await act(() => post(`/organization/${enc(org)}/proxycache`, body), 'Proxy cache configured');
    if (done !== undefined) proxyCacheCard(box, org);
  });
  mount(box, h('div', { class: 'card' }, h('h2', {}, 'Proxy cache'), h('p', { class: 'help' }, 'Pulls of this organization\'s repositories are served from the remote registry and cached here.'), form));
}

export async function mirrorCard(box, path, ns) {
  if (!feature('REPO_MIRROR')) return;
  const m = await maybe(`/repository/${path}/mirror`);
  const robots = await get(`/organization/${enc(ns)}/robots`).catch(() => get('/user/robots').catch(() => ({ robots: [] })));
  const tags = (m && m.root_rule && m.root_rule.rule_value) || [];
  const form = h('form', {},
    field('Registry location', h('input', { name: 'external_reference', required: true, value: m ? m.external_reference : '', placeholder: 'quay.io/namespace/repository', 'data-test': 'mirror-reference' })),
    field('Tags', h('input', { name: 'tags', required: true, value: tags.join(','), placeholder: 'latest, v1.*', 'data-test': 'mirror-tags' }), 'Comma-separated tag patterns (* and ? match).'),
    field('Start date', h('input', { name: 'start', type: 'datetime-local' })),
    field('Sync interval (seconds)', h('input', { name: 'sync_interval', type: 'number', min: 60, value: m ? m.sync_interval : 86400 })),
    field('Robot user', select('robot', (robots.robots || []).map((r) => [r.name, r.name]), m && m.robot_username)),
    field('Username', h('input', { name: 'username', value: m ? m.external_registry_username || '' : '', autocomplete: 'off' })),
    field('Password', h('input', { name: 'password', type: 'password', autocomplete: 'new-password' })),
    h('label', { class: 'inline' }, h('input', { type: 'checkbox', name: 'verify_tls', checked: !m || (m.external_registry_config && m.external_registry_config.verify_tls !== false) }), 'Verify TLS'),
    h('label', { class: 'inline' }, h('input', { type: 'checkbox', name: 'is_enabled', checked: !m || m.is_enabled }), 'Enabled'),
    h('div', { class: 'toolbar' }, h('button', { type: 'submit', 'data-test': 'mirror-save' }, m ? 'Update mirror' : 'Enable mirror'),
      m ? h('button', { type: 'button', class: 'secondary', 'data-test': 'mirror-sync-now', onclick: () => act(() => post(`/repository/${path}/mirror/sync-now`), 'Sync scheduled') }, 'Sync now') : null,
      m ? h('button', { type: 'button', class: 'secondary', onclick: () => act(() => post(`/repository/${path}/mirror/sync-cancel`), 'Sync cancelled') }, 'Cancel sync') : null));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const d = new FormData(form);
    const start = d.get('start') ? new Date(String(d.get('start'))) : new Date();
    const body = {
      is_enabled: d.get('is_enabled') === 'on',
      external_reference: d.get('external_reference'),
      sync_interval: Number(d.get('sync_interval')),
      sync_start_date: start.toISOString().replace(/\.\d+Z$/, 'Z'),
      robot_username: d.get('robot'),
      root_rule: { rule_kind: 'tag_glob_csv', rule_value: String(d.get('tags')).split(',').map((t) => t.trim()).filter(Boolean) },
      external_registry_config: { verify_tls: d.get('verify_tls') === 'on' },
    };
    if (d.get('username')) body.external_registry_username = d.get('username');
    if (d.get('password')) body.external_registry_password = d.get('password');
    const done = await act(() => (m ? put(`/repository/${path}/mirror`, body) : post(`/repository/${path}/mirror`, body)), 'Mirror saved');
    if (done !== undefined) mirrorCard(box, path, ns);
  });
  mount(box, h('div', { class: 'card' }, h('h2', {}, 'Repository mirroring'),
    m ? h('p', { 'data-test': 'mirror-status' }, `Status: ${(m.sync_status || 'NEVER_RUN').toLowerCase().replace(/_/g, ' ')}; next sync ${when(m.sync_expiration_date || m.sync_start_date)}`) : null,
    form));
}
