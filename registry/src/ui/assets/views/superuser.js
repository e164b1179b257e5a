// The superuser panel: users (create with a generated password shown
// once, change password, disable, delete, make superuser), organizations,
// global messages, usage logs and the registry's size.

import { h, mount, table, dialog, confirmAction, field, select, act, tabs, copyBox, bytes, when, paged } from '../dom.js';
import { get, put, post, del, enc } from '../api.js';
import { app, feature } from '../app.js';
import { quotaPanel, quotaUsage } from './namespace_settings.js';
import { logsPanel } from './logs.js';

export async function superuserView(main, query) {
  if (!app.user.super_user) {
    mount(main, h('h1', {}, 'Superuser'), h('p', {}, 'Only superusers can use this panel.'));
    return;
  }
  const tab = query.get('tab') || 'users';
  const entries = [['users', 'Users', '/superuser?tab=users'], ['orgs', 'Organizations', '/superuser?tab=orgs'],
    ['messages', 'Global messages', '/superuser?tab=messages'], ['logs', 'Usage logs', '/superuser?tab=logs'], ['size', 'Registry size', '/superuser?tab=size']];
  const body = h('div', { 'data-test': 'su-tab-' + tab });
  mount(main, h('h1', {}, 'Superuser panel'), tabs(tab, entries), body);
  if (tab === 'orgs') await orgs(body);
  else if (tab === 'messages') await messages(body);
  else if (tab === 'logs') await logsPanel(body, '/superuser', query);
  else if (tab === 'size') await size(body);
  else await users(body);
}

async function users(body) {
  const r = await get('/superuser/users/');
  const filter = h('input', { type: 'search', placeholder: 'Filter users', 'aria-label': 'Filter users', 'data-test': 'su-user-filter' });
  const list = h('div');
  const draw = () => {
    const q = filter.value.trim().toLowerCase();
    const shown = r.users.filter((u) => !q || u.username.toLowerCase().includes(q) || (u.email || '').toLowerCase().includes(q));
    const quota = feature('QUOTA_MANAGEMENT');
    mount(list, paged(shown, 50, (page) => table(['Username', 'Email', 'Status', ...(quota ? ['Size'] : []), ''], page.map((u) => h('tr', { 'data-test': 'su-user-row', 'data-user': u.username },
      h('td', {}, u.username, u.super_user ? h('span', { class: 'label' }, 'superuser') : null),
      h('td', {}, u.email || '—'),
      h('td', {}, u.enabled === false ? h('span', { class: 'error-text' }, 'disabled') : 'enabled'),
      quota ? h('td', { 'data-test': 'su-size' }, quotaUsage(u.quota_report)) : null,
      h('td', { class: 'actions' }, quota ? quotaButton('users', u.username, u.quota_report, async () => { Object.assign(r, await get('/superuser/users/')); draw(); }) : null,
        u.username === app.user.username ? h('span', { class: 'help' }, 'you') : [
        h('button', { class: 'secondary', 'data-test': `su-password-${u.username}`, onclick: () => changePassword(u) }, 'Change password'),
        h('button', { class: 'secondary', 'data-test': `su-toggle-${u.username}`, onclick: async () => {
          const enabled = u.enabled === false;
          const done = await act(() => put(`/superuser/users/${enc(u.username)}`, { enabled }), `${u.username} ${enabled ? 'enabled' : 'disabled'}`);
          if (done !== undefined) { u.enabled = enabled; draw(); }
        } }, u.enabled === false ? 'Enable' : 'Disable'),
        h('button', { class: 'secondary', 'data-test': `su-superuser-${u.username}`, onclick: async () => {
          const superuser = !u.super_user;
          const done = await act(() => put(`/superuser/users/${enc(u.username)}`, { superuser }), `${u.username} ${superuser ? 'is now a superuser' : 'is no longer a superuser'}`);
          if (done !== undefined) { u.super_user = superuser; draw(); }
        } }, u.super_user ? 'Remove superuser' : 'Make superuser'),
        h('button', { class: 'danger', 'data-test': `su-delete-${u.username}`, onclick: async () => {
          if (!(await confirmAction('Delete user', `Delete ${u.username} and their repositories?`))) return;
          const done = await act(() => del(`/superuser/users/${enc(u.username)}`), `Deleted ${u.username}`);
          if (done !== undefined) { r.users = r.users.filter((x) => x !== u); draw(); }
        } }, 'Delete'),
      ]))), 'No users.')));
  };
  filter.addEventListener('input', draw);
  draw();
  mount(body, h('div', { class: 'toolbar' }, filter, h('span', { class: 'grow' }),
    h('button', { 'data-test': 'su-create-user', onclick: async () => {
      const data = await dialog('Create user', [
        field('Username', h('input', { name: 'username', required: true, 'data-test': 'su-new-username' })),
        field('Email address', h('input', { name: 'email', type: 'email', required: true, 'data-test': 'su-new-email' })),
      ], 'Create user');
      if (!data) return;
      const created = await act(() => post('/superuser/users/', { username: data.get('username'), email: data.get('email') }), `Created ${data.get('username')}`);
      if (!created) return;
      r.users.push({ username: created.username, email: created.email, enabled: true });
      draw();
      await dialog(`User ${created.username} created`, [
        h('p', {}, 'This is the new user\'s password. It is shown only now: give it to them and ask them to change it.'),
        copyBox(created.password, 'su-new-password'),
      ], null);
    } }, 'Create user')), list);
}

async function changePassword(u) {
  const data = await dialog(`Change password of ${u.username}`, [field('New password', h('input', { name: 'password', type: 'password', required: true, minlength: 8, autocomplete: 'new-password', 'data-test': 'su-change-password' }))], 'Change password');
  if (!data) return;
  await act(() => put(`/superuser/users/${enc(u.username)}`, { password: data.get('password') }), `Password of ${u.username} changed`);
}

/** "Configure quota": the namespace's quota panel in a dialog, then `done`. */
function quotaButton(kind, name, report, done) {
  return h('button', { class: 'secondary', 'data-test': `su-quota-${name}`, onclick: async () => {
    const box = h('div', {}, h('p', { class: 'loading' }, 'Loading…'));
    const paths = { read: `/superuser/${kind}/${enc(name)}/quota`, write: `/superuser/${kind}/${enc(name)}/quota` };
    if (kind === 'organization') paths.limits = `/organization/${enc(name)}/quota`;
    quotaPanel(box, paths, feature('EDIT_QUOTA'), report).catch((e) => mount(box, h('p', { class: 'error-text' }, e.message)));
    await dialog(`Quota of ${name}`, box, null);
    await done();
  } }, 'Configure quota');
}

async function orgs(body) {
  const r = await get('/superuser/organizations/');
  const quota = feature('QUOTA_MANAGEMENT');
  const draw = () => mount(body, table(['Organization', 'Email', ...(quota ? ['Size'] : []), ''], r.organizations.map((o) => h('tr', { 'data-test': 'su-org-row', 'data-org': o.name },
    h('td', {}, h('a', { href: `/organization/${enc(o.name)}`, 'data-link': true }, o.name)),
    h('td', {}, o.email || '—'),
    quota ? h('td', { 'data-test': 'su-size' }, quotaUsage(o.quota_report)) : null,
    h('td', { class: 'actions' }, quota ? quotaButton('organization', o.name, o.quota_report, async () => { Object.assign(r, await get('/superuser/organizations/')); draw(); }) : null,
      h('button', { class: 'danger', onclick: async () => {
      if (!(await confirmAction('Delete organization', `Delete ${o.name} and everything in it?`))) return;
      const done = await act(() => del(`/superuser/organizations/${enc(o.name)}`), `Deleted ${o.name}`);
      if (done !== undefined) { r.organizations = r.organizations.filter((x) => x !== o); draw(); }
    } }, 'Delete')))), 'No organizations.'));
  draw();
}

async function messages(body) {
  const r = await get('/messages');
  mount(body,
    table(['Message', 'Severity', ''], r.messages.map((m) => h('tr', { 'data-test': 'su-message-row' },
      h('td', {}, m.content), h('td', {}, m.severity),
      h('td', { class: 'actions' }, h('button', { class: 'danger', onclick: async () => {
        const done = await act(() => del(`/message/${encodeURIComponent(m.uuid)}`), 'Message deleted');
        if (done !== undefined) messages(body);
      } }, 'Delete')))), 'No global messages.'),
    h('p', {}, h('button', { 'data-test': 'su-create-message', onclick: async () => {
      const data = await dialog('Create global message', [
        field('Message', h('textarea', { name: 'content', required: true })),
        field('Severity', select('severity', [['info', 'Normal'], ['warning', 'Warning'], ['error', 'Error']], 'info')),
      ], 'Create message');
      if (!data) return;
      const done = await act(() => post('/messages', { message: { content: data.get('content'), media_type: 'text/markdown', severity: data.get('severity') } }), 'Message created');
      if (done !== undefined) messages(body);
    } }, 'Create message')));
}

async function size(body) {
  const r = await get('/superuser/registrysize/');
  mount(body, h('div', { class: 'card' }, h('dl', { class: 'grid2' },
    h('dt', {}, 'Registry size'), h('dd', { 'data-test': 'su-registry-size' }, bytes(r.size_bytes)),
    h('dt', {}, 'Last calculated'), h('dd', {}, r.last_ran ? when(r.last_ran) : 'not yet'),
    h('dt', {}, 'Status'), h('dd', {}, r.running ? 'calculating' : r.queued ? 'queued' : 'idle'))),
  h('button', { class: 'secondary', onclick: async () => {
    const done = await act(() => post('/superuser/registrysize/'), 'Size calculation queued');
    if (done !== undefined) size(body);
  } }, 'Calculate now'));
}
