// Repository settings: user, team and robot permissions; description and
// visibility; events and notifications; deleting the repository.

import { h, mount, table, dialog, confirmAction, field, select, act } from '../dom.js';
import { get, put, post, del, enc } from '../api.js';
import { go } from '../app.js';
import { mirrorCard } from './namespace_settings.js';

const ROLES = [['read', 'Read'], ['write', 'Write'], ['admin', 'Admin']];

export async function settingsTab(body, repo, ns, name) {
  const path = `${enc(ns)}/${enc(name)}`;
  const perms = h('div');
  const notes = h('div');
  const mirror = h('div');
  mount(body,
    h('div', { class: 'card' }, h('h2', {}, 'User and robot permissions'), perms),
    h('div', { class: 'card' }, h('h2', {}, 'Events and notifications'), notes),
    mirror,
    h('div', { class: 'card' }, h('h2', {}, 'Description'), descriptionForm(repo, path)),
    h('div', { class: 'card' }, h('h2', {}, 'Repository visibility'), visibilityBox(repo, path)),
    h('div', { class: 'card' }, h('h2', {}, 'Delete repository'),
      h('p', {}, 'Deleting a repository removes its tags and images. This cannot be undone.'),
      h('button', { class: 'danger', 'data-test': 'delete-repo', onclick: async () => {
        if (!(await confirmAction('Delete repository', `Delete ${ns}/${name} and all of its tags?`))) return;
        const done = await act(() => del(`/repository/${path}`), `Deleted ${ns}/${name}`);
        if (done !== undefined) go('/repository');
      } }, 'Delete repository')));
  await Promise.all([permissionsPanel(perms, repo, ns, path), notificationsPanel(notes, path), mirrorCard(mirror, path, ns)]);
}

async function permissionsPanel(box, repo, ns, path) {
  const [users, teams] = await Promise.all([
    get(`/repository/${path}/permissions/user/`),
    repo.is_organization ? get(`/repository/${path}/permissions/team/`) : Promise.resolve({ permissions: {} }),
  ]);
  const rows = [];
  const row = (kind, who, role, label) => {
    const sel = select('role', ROLES, role);
    sel.setAttribute('aria-label', `Role of ${who}`);
    sel.setAttribute('data-test', `role-${who}`);
    sel.addEventListener('change', () => act(() => put(`/repository/${path}/permissions/${kind}/${encodeURIComponent(who)}`, { role: sel.value }), `${who} now has ${sel.value} permission`));
    return h('tr', { 'data-test': 'permission-row', 'data-who': who },
      h('td', {}, h('span', { class: 'label' }, label), ' ', who), h('td', {}, sel),
      h('td', { class: 'actions' }, h('button', { class: 'danger', 'data-test': `remove-${who}`, onclick: async () => {
        const done = await act(() => del(`/repository/${path}/permissions/${kind}/${encodeURIComponent(who)}`), `Removed ${who}`);
        if (done !== undefined) permissionsPanel(box, repo, ns, path);
      } }, 'Remove')));
  };
  for (const [who, p] of Object.entries(teams.permissions || {})) rows.push(row('team', who, p.role, 'team'));
  for (const [who, p] of Object.entries(users.permissions || {})) rows.push(row('user', who, p.role, p.is_robot ? 'robot' : 'user'));
  const entity = h('input', { list: 'entity-options', name: 'entity', placeholder: 'User, robot or team', 'aria-label': 'User, robot or team', 'data-test': 'perm-entity', autocomplete: 'off' });
  const options = h('datalist', { id: 'entity-options' });
  const kinds = new Map();
  entity.addEventListener('input', async () => {
    const prefix = entity.value.trim();
    if (!prefix) return;
    try {
      const r = await get(`/entities/${encodeURIComponent(prefix)}?namespace=${encodeURIComponent(ns)}&includeTeams=true&includeOrgs=false`);
      kinds.clear();
      mount(options, r.results.filter((e) => e.kind !== 'org').map((e) => {
        kinds.set(e.name, e.kind === 'team' ? 'team' : 'user');
        return h('option', { value: e.name }, e.kind === 'team' ? 'team' : e.is_robot ? 'robot' : 'user');
      }));
    } catch { /* typeahead is best effort */ }
  });
  const role = select('role', ROLES, 'read');
  role.setAttribute('aria-label', 'Role');
  role.setAttribute('data-test', 'perm-role');
  const form = h('form', { class: 'toolbar', 'data-test': 'perm-form' }, entity, options, role, h('button', { type: 'submit', 'data-test': 'perm-add' }, 'Add permission'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const who = entity.value.trim();
    if (!who) return;
    const kind = kinds.get(who) || (who.includes('+') || !repo.is_organization ? 'user' : await guessKind(ns, who));
    const done = await act(() => put(`/repository/${path}/permissions/${kind}/${encodeURIComponent(who)}`, { role: role.value }), `${who} now has ${role.value} permission`);
    if (done !== undefined) permissionsPanel(box, repo, ns, path);
  });
  mount(box, table(['Account', 'Permission', ''], rows, 'No permissions granted yet.'), h('h2', {}, 'Add a permission'), form);
}

async function guessKind(ns, who) {
  try {
    const r = await get(`/entities/${encodeURIComponent(who)}?namespace=${encodeURIComponent(ns)}&includeTeams=true&includeOrgs=false`);
    const exact = r.results.find((e) => e.name === who);
    return exact && exact.kind === 'team' ? 'team' : 'user';
  } catch {
    return 'user';
  }
}

function descriptionForm(repo, path) {
  const text = h('textarea', { name: 'description', 'data-test': 'edit-description' }, repo.description || '');
  const form = h('form', {}, text, h('p', {}, h('button', { type: 'submit', 'data-test': 'save-description' }, 'Save description')));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    act(() => put(`/repository/${path}`, { description: text.value }), 'Description saved').then(() => { repo.description = text.value; });
  });
  return form;
}

function visibilityBox(repo, path) {
  const box = h('div');
  const draw = () => mount(box,
    h('p', { 'data-test': 'visibility-text' }, repo.is_public ? 'This repository is public: anyone can see and pull it.' : 'This repository is private: only accounts with permission can see it.'),
    h('button', { class: 'secondary', 'data-test': 'toggle-visibility', onclick: async () => {
      const visibility = repo.is_public ? 'private' : 'public';
      if (!(await confirmAction('Change visibility', `Make this repository ${visibility}?`, `Make ${visibility}`))) return;
      const done = await act(() => post(`/repository/${path}/changevisibility`, { visibility }), `The repository is now ${visibility}`);
      if (done !== undefined) { repo.is_public = !repo.is_public; draw(); }
    } }, repo.is_public ? 'Make private' : 'Make public'));
  draw();
  return box;
}

const EVENTS = [
  ['repo_push', 'Push to repository'],
  ['build_queued', 'Dockerfile build queued'],
  ['build_start', 'Dockerfile build started'],
  ['build_success', 'Dockerfile build successfully completed'],
  ['build_failure', 'Dockerfile build failed'],
  ['build_cancelled', 'Dockerfile build cancelled'],
  ['repo_mirror_sync_started', 'Repository mirror started'],
  ['repo_mirror_sync_success', 'Repository mirror successful'],
  ['repo_mirror_sync_failed', 'Repository mirror unsuccessful'],
  ['vulnerability_found', 'Package vulnerability found'],
  ['repo_image_expiry', 'Image expiry trigger'],
];
const METHODS = [
  ['webhook', 'Webhook POST', 'url', 'Webhook URL'],
  ['email', 'Email notification', 'email', 'Email address'],
  ['slack', 'Slack notification', 'url', 'Slack webhook URL'],
  ['quay_notification', 'Registry notification', 'target', 'User, team or organization to notify'],
  ['flowdock', 'Flowdock team notification', 'flow_api_token', 'Flow API token'],
  ['hipchat', 'HipChat room notification', 'notification_token', 'Room notification token'],
];

async function notificationsPanel(box, path) {
  const r = await get(`/repository/${path}/notification/`);
  const label = (list, key) => (list.find((x) => x[0] === key) || [key, key])[1];
  const rows = r.notifications.map((n) => h('tr', { 'data-test': 'notification-row', 'data-title': n.title || '' },
    h('td', {}, n.title || '(untitled)'),
    h('td', {}, label(EVENTS, n.event)),
    h('td', {}, label(METHODS, n.method), n.config && (n.config.url || n.config.email) ? h('div', { class: 'help' }, n.config.url || n.config.email) : null),
    h('td', {}, n.number_of_failures ? h('span', { class: 'error-text' }, `${n.number_of_failures} failures`) : 'Enabled'),
    h('td', { class: 'actions' },
      h('button', { class: 'secondary', 'data-test': 'test-notification', onclick: () => act(() => post(`/repository/${path}/notification/${n.uuid}/test`), 'Test notification queued') }, 'Test'),
      n.number_of_failures ? h('button', { class: 'secondary', 'data-test': 'reset-notification', onclick: async () => {
        const done = await act(() => post(`/repository/${path}/notification/${n.uuid}`), 'Notification re-enabled');
        if (done !== undefined) notificationsPanel(box, path);
      } }, 'Reset') : null,
      h('button', { class: 'danger', 'data-test': 'delete-notification', onclick: async () => {
        if (!(await confirmAction('Delete notification', `Delete "${n.title || n.event}"?`))) return;
        const done = await act(() => del(`/repository/${path}/notification/${n.uuid}`), 'Notification deleted');
        if (done !== undefined) notificationsPanel(box, path);
      } }, 'Delete'))));
  mount(box, table(['Title', 'Event', 'Notification', 'Status', ''], rows, 'No notifications yet.'),
    h('p', {}, h('button', { 'data-test': 'create-notification', onclick: () => createNotification(box, path) }, 'Create notification')));
}

async function createNotification(box, path) {
  const event = select('event', EVENTS, 'repo_push');
  event.setAttribute('data-test', 'notification-event');
  const method = select('method', METHODS.map(([k, l]) => [k, l]), 'webhook');
  method.setAttribute('data-test', 'notification-method');
  const target = h('input', { name: 'target', required: true, 'data-test': 'notification-target' });
  const targetField = field('Webhook URL', target);
  const refRegex = h('input', { name: 'ref_regex', 'data-test': 'notification-ref-regex' });
  const level = select('level', [['', 'Any'], ['critical', 'Critical'], ['high', 'High'], ['medium', 'Medium'], ['low', 'Low']], '');
  const extras = h('div');
  const sync = () => {
    const m = METHODS.find((x) => x[0] === method.value);
    targetField.querySelector('label').textContent = m[3];
    target.type = m[0] === 'email' ? 'email' : m[2] === 'url' ? 'url' : 'text';
    const ev = event.value;
    mount(extras, ev.startsWith('build_') ? field('Matching references (regular expression)', refRegex, 'Only builds of git references matching it notify; empty for all.')
      : ev === 'vulnerability_found' ? field('Minimum severity', level) : null);
  };
  method.addEventListener('change', sync);
  event.addEventListener('change', sync);
  sync();
  const data = await dialog('Create notification', [
    field('When this event occurs', event), extras, field('Then issue a notification', method), targetField,
    field('Title (optional)', h('input', { name: 'title', 'data-test': 'notification-title' })),
  ], 'Create notification');
  if (!data) return;
  const m = data.get('method');
  const key = METHODS.find((x) => x[0] === m)[2];
  const config = {};
  if (key === 'target') config.target = { name: data.get('target'), kind: 'user' };
  else config[key] = data.get('target');
  const eventConfig = {};
  if (data.get('ref_regex')) eventConfig['ref-regex'] = data.get('ref_regex');
  if (data.get('level')) eventConfig.level = data.get('level');
  const done = await act(() => post(`/repository/${path}/notification/`, { event: data.get('event'), method: m, config, eventConfig, title: data.get('title') || undefined }), 'Notification created');
  if (done !== undefined) notificationsPanel(box, path);
}
