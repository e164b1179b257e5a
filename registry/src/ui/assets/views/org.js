// One organization: repositories, teams and membership, robot accounts,
// usage logs and settings; and one team's members and permissions.

import { h, mount, table, dialog, confirmAction, field, select, act, toast, when, tabs, bytes } from '../dom.js';
import { get, put, del, enc } from '../api.js';
import { go, reloadUser, feature } from '../app.js';
import { logsPanel } from './logs.js';
import { robotsPanel } from './robots.js';
import { defaultPermissions, applications } from './org_extras.js';
import { quotaCard, proxyCacheCard } from './namespace_settings.js';
import { app } from '../app.js';

export async function orgView(main, org, query) {
  const o = await get(`/organization/${enc(org)}`);
  const tab = query.get('tab') || 'repos';
  const base = `/organization/${enc(org)}`;
  const entries = [['repos', 'Repositories', `${base}?tab=repos`]];
  if (o.is_member || o.is_admin) entries.push(['teams', 'Teams and membership', `${base}?tab=teams`]);
  if (o.is_admin) {
    entries.push(['robots', 'Robot accounts', `${base}?tab=robots`], ['defaults', 'Default permissions', `${base}?tab=defaults`],
      ['applications', 'OAuth applications', `${base}?tab=applications`], ['logs', 'Usage logs', `${base}?tab=logs`], ['settings', 'Settings', `${base}?tab=settings`]);
  }
  const body = h('div', { 'data-test': 'org-tab-' + tab });
  mount(main,
    h('div', { class: 'breadcrumb' }, h('a', { href: '/organization', 'data-link': true }, 'Organizations')),
    h('h1', { 'data-test': 'org-title' }, org),
    tabs(tab, entries), body);
  if (tab === 'teams') await teamsPanel(body, org, o);
  else if (tab === 'robots' && o.is_admin) await robotsPanel(body, org, `/organization/${enc(org)}/robots`);
  else if (tab === 'defaults' && o.is_admin) await defaultPermissions(body, org);
  else if (tab === 'applications' && o.is_admin) await applications(body, org);
  else if (tab === 'logs' && o.is_admin) await logsPanel(body, `/organization/${enc(org)}`, query);
  else if (tab === 'settings' && o.is_admin) settingsPanel(body, org, o);
  else await reposPanel(body, org);
}

async function reposPanel(body, org) {
  const r = await get(`/repository?namespace=${encodeURIComponent(org)}&last_modified=true`);
  const quota = feature('QUOTA_MANAGEMENT');
  mount(body,
    h('div', { class: 'toolbar' }, h('span', { class: 'grow' }),
      h('a', { class: 'button', href: `/repository/new?namespace=${encodeURIComponent(org)}`, 'data-link': true }, 'Create Repository')),
    table(['Name', 'Visibility', 'Last modified', ...(quota ? ['Size'] : [])], r.repositories.map((x) => h('tr', { 'data-test': 'repo-row' },
      h('td', {}, h('a', { href: `/repository/${enc(x.namespace)}/${enc(x.name)}`, 'data-link': true }, x.name)),
      h('td', {}, h('span', { class: 'label ' + (x.is_public ? 'public' : 'private') }, x.is_public ? 'public' : 'private')),
      h('td', {}, when(x.last_modified)),
      quota ? h('td', { 'data-test': 'repo-size' }, x.quota_report ? bytes(x.quota_report.quota_bytes || 0) : '—') : null)), 'This organization has no repositories you can see.'),
    r.next_page ? h('p', { class: 'help' }, 'Showing the first 100 repositories; the Repositories page lists them all.') : null);
}

const TEAM_ROLES = [['member', 'Member'], ['creator', 'Creator'], ['admin', 'Admin']];

async function teamsPanel(body, org, o) {
  const teams = o.ordered_teams && o.teams ? o.ordered_teams.map((n) => o.teams[n]).filter(Boolean) : Object.values(o.teams || {});
  const rows = teams.map((t) => {
    const role = select('role', TEAM_ROLES, t.role);
    role.setAttribute('aria-label', `Role of team ${t.name}`);
    role.setAttribute('data-test', `team-role-${t.name}`);
    role.disabled = !o.is_admin;
    role.addEventListener('change', () => act(() => put(`/organization/${enc(org)}/team/${enc(t.name)}`, { role: role.value, description: t.description || '' }), `Team ${t.name} is now ${role.value}`));
    return h('tr', { 'data-test': 'team-row', 'data-team': t.name },
      h('td', {}, t.can_view || o.is_admin ? h('a', { href: `/organization/${enc(org)}/teams/${enc(t.name)}`, 'data-link': true }, t.name) : t.name,
        t.description ? h('div', { class: 'help' }, t.description) : null),
      h('td', {}, String(t.member_count ?? '')), h('td', {}, String(t.repo_count ?? '')), h('td', {}, role),
      h('td', { class: 'actions' }, o.is_admin && t.name !== 'owners' ? h('button', { class: 'danger', 'data-test': `delete-team-${t.name}`, onclick: async () => {
        if (!(await confirmAction('Delete team', `Delete team ${t.name}? Its members lose the permissions it gave them.`))) return;
        const done = await act(() => del(`/organization/${enc(org)}/team/${enc(t.name)}`), `Deleted team ${t.name}`);
        if (done !== undefined) go(`/organization/${enc(org)}?tab=teams`, true);
      } }, 'Delete') : null));
  });
  mount(body,
    o.is_admin ? h('div', { class: 'toolbar' }, h('span', { class: 'grow' }), h('button', { 'data-test': 'create-team', onclick: () => createTeam(org) }, 'Create new team')) : null,
    table(['Team', 'Members', 'Repositories', 'Role', ''], rows, 'No teams.'),
    h('p', { class: 'help' }, 'Members can pull what their teams can read; creators can also create repositories; admins administer the organization.'));
}

async function createTeam(org) {
  const data = await dialog('Create team', [
    field('Team name', h('input', { name: 'name', required: true, pattern: '[a-z][a-z0-9]{1,254}', 'data-test': 'team-name', title: 'Lowercase letters and digits, starting with a letter' })),
    field('Description', h('input', { name: 'description', 'data-test': 'team-description' })),
    field('Role', select('role', TEAM_ROLES, 'member')),
  ], 'Create team');
  if (!data) return;
  const name = data.get('name');
  const done = await act(() => put(`/organization/${enc(org)}/team/${enc(name)}`, { role: data.get('role'), description: data.get('description') || '' }), `Created team ${name}`);
  if (done !== undefined) go(`/organization/${enc(org)}/teams/${enc(name)}`);
}

export async function teamView(main, org, team) {
  const path = `/organization/${enc(org)}/team/${enc(team)}`;
  const [members, perms] = await Promise.all([
    get(`${path}/members?includePending=true`),
    get(`${path}/permissions`).catch(() => ({ permissions: [] })),
  ]);
  const canEdit = members.can_edit;
  const rows = members.members.map((m) => h('tr', { 'data-test': 'member-row', 'data-member': m.name },
    h('td', {}, h('span', { class: 'label' }, m.invited ? 'invited' : m.is_robot ? 'robot' : 'user'), ' ', m.name),
    h('td', { class: 'actions' }, canEdit ? h('button', { class: 'danger', 'data-test': `remove-member-${m.name}`, onclick: async () => {
      const target = m.invited && m.email ? `/organization/${enc(org)}/team/${enc(team)}/invite/${encodeURIComponent(m.email)}` : `${path}/members/${encodeURIComponent(m.name)}`;
      const done = await act(() => del(target), `Removed ${m.name} from ${team}`);
      if (done !== undefined) teamView(main, org, team);
    } }, 'Remove') : null)));
  const who = h('input', { name: 'member', list: 'member-options', placeholder: 'User or robot', 'aria-label': 'User or robot to add', 'data-test': 'member-name', autocomplete: 'off' });
  const options = h('datalist', { id: 'member-options' });
  who.addEventListener('input', async () => {
    if (!who.value.trim()) return;
    try {
      const r = await get(`/entities/${encodeURIComponent(who.value.trim())}?namespace=${encodeURIComponent(org)}&includeTeams=false&includeOrgs=false`);
      mount(options, r.results.filter((e) => e.kind === 'user').map((e) => h('option', { value: e.name }, e.is_robot ? 'robot' : 'user')));
    } catch { /* best effort */ }
  });
  const form = h('form', { class: 'toolbar' }, who, options, h('button', { type: 'submit', 'data-test': 'add-member' }, 'Add member'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const name = who.value.trim();
    if (!name) return;
    const done = await act(async () => {
      const r = await put(`${path}/members/${encodeURIComponent(name)}`);
      if (r && r.kind === 'invite') toast(`${name} was invited; they join the team when they accept`);
      return r;
    }, `Added ${name} to ${team}`);
    if (done !== undefined) teamView(main, org, team);
  });
  const permRows = (perms.permissions || []).map((p) => h('tr', {},
    h('td', {}, h('a', { href: `/repository/${enc(org)}/${enc(p.repository.name)}?tab=settings`, 'data-link': true }, p.repository.name)),
    h('td', {}, p.role)));
  mount(main,
    h('div', { class: 'breadcrumb' }, h('a', { href: `/organization/${enc(org)}?tab=teams`, 'data-link': true }, org), ' / Teams'),
    h('h1', { 'data-test': 'team-title' }, `Team ${team}`),
    h('div', { class: 'card' }, h('h2', {}, 'Members'), table(['Member', ''], rows, 'This team has no members.'), canEdit ? form : null),
    h('div', { class: 'card' }, h('h2', {}, 'Repository permissions'),
      table(['Repository', 'Permission'], permRows, 'This team has no repository permissions. Grant them in a repository\'s settings.')));
}

function settingsPanel(body, org, o) {
  const email = h('input', { name: 'email', type: 'email', value: o.email || '', 'data-test': 'org-settings-email' });
  const tm = h('input', { name: 'tag_expiration_s', type: 'number', min: 0, value: o.tag_expiration_s ?? '', 'data-test': 'org-time-machine' });
  const form = h('form', {}, field('Organization email', email), field('Time machine window (seconds)', tm, 'How long deleted tags can be restored.'),
    h('p', {}, h('button', { type: 'submit', 'data-test': 'org-settings-save' }, 'Save settings')));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const change = { email: email.value };
    if (tm.value !== '') change.tag_expiration_s = Number(tm.value);
    act(() => put(`/organization/${enc(org)}`, change), 'Organization settings saved');
  });
  const quota = h('div');
  const proxy = h('div');
  quotaCard(quota, org, app.user.super_user, o.quota_report).catch((e) => mount(quota, h('p', { class: 'error-text' }, e.message)));
  proxyCacheCard(proxy, org).catch((e) => mount(proxy, h('p', { class: 'error-text' }, e.message)));
  mount(body,
    h('div', { class: 'card' }, h('h2', {}, 'Organization settings'), form),
    quota, proxy,
    h('div', { class: 'card' }, h('h2', {}, 'Delete organization'),
      h('p', {}, 'Deleting an organization deletes its repositories, teams and robot accounts.'),
      h('button', { class: 'danger', 'data-test': 'delete-org', onclick: async () => {
        if (!(await confirmAction('Delete organization', `Delete ${org} and everything in it?`))) return;
        const done = await act(() => del(`/organization/${enc(org)}`), `Deleted ${org}`);
        if (done !== undefined) { await reloadUser(); go('/organization'); }
      } }, 'Delete organization')));
}
