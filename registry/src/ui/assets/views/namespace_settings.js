// Settings that depend on features: an organization's quota and proxy
// cache, and a repository's mirroring.

import { h, mount, field, act, bytes, select, confirmAction, when } from '../dom.js';
import { get, put, post, del, enc, ApiError } from '../api.js';
import { feature } from '../app.js';

async function maybe(p) {
  try { return await get(p); } catch (e) { if (e instanceof ApiError && e.status === 404) return null; throw e; }
}

export async function quotaCard(box, org, isSuperuser) {
  if (!feature('QUOTA_MANAGEMENT')) return;
  const quotas = (await get(`/organization/${enc(org)}/quota`)) || [];
  const q = quotas[0];
  const editable = isSuperuser || feature('EDIT_QUOTA');
  const gib = h('input', { type: 'number', min: 0, step: 'any', name: 'gib', value: q ? (q.limit_bytes / 2 ** 30).toString() : '', 'data-test': 'quota-gib', disabled: !editable });
  const form = h('form', {}, field('Storage quota (GiB)', gib, q ? `Now ${bytes(q.limit_bytes)}.` : 'No quota: unlimited.'),
    editable ? h('div', { class: 'toolbar' }, h('button', { type: 'submit', 'data-test': 'quota-save' }, 'Apply'),
      q ? h('button', { type: 'button', class: 'danger', onclick: async () => {
        const done = await act(() => del(`/organization/${enc(org)}/quota/${q.id}`), 'Quota removed');
        if (done !== undefined) quotaCard(box, org, isSuperuser);
      } }, 'Remove quota') : null) : null);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const limit = Math.round(Number(gib.value) * 2 ** 30);
    const done = await act(() => (q ? put(`/organization/${enc(org)}/quota/${q.id}`, { limit_bytes: limit }) : post(`/organization/${enc(org)}/quota`, { limit_bytes: limit })), `Quota set to ${bytes(limit)}`);
    if (done !== undefined) quotaCard(box, org, isSuperuser);
  });
  mount(box, h('div', { class: 'card' }, h('h2', {}, 'Quota'), form));
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
