// Organization default permissions (permissions new repositories get) and
// OAuth applications (create, secret, generate a token).

import { h, mount, table, dialog, confirmAction, field, select, act, copyBox } from '../dom.js';
import { get, post, del, enc } from '../api.js';

const ROLES = [['read', 'Read'], ['write', 'Write'], ['admin', 'Admin']];
const SCOPES = [
  ['repo:read', 'View all visible repositories'],
  ['repo:write', 'Read/Write to any accessible repositories'],
  ['repo:admin', 'Administer repositories'],
  ['repo:create', 'Create repositories'],
  ['user:read', 'Read user information'],
  ['user:admin', 'Administer user'],
  ['org:admin', 'Administer organization'],
  ['super:user', 'Super user access'],
];

export async function defaultPermissions(body, org) {
  const r = await get(`/organization/${enc(org)}/prototypes`);
  const who = (e) => (e ? `${e.name}${e.kind === 'team' ? ' (team)' : e.is_robot ? ' (robot)' : ''}` : 'anyone');
  mount(body,
    h('p', { class: 'help' }, 'Repositories created in this organization get these permissions, optionally only when a given user creates them.'),
    table(['Repository creator', 'Gets permission', 'Permission', ''], (r.prototypes || []).map((p) => h('tr', { 'data-test': 'prototype-row' },
      h('td', {}, p.activating_user ? p.activating_user.name : 'Anyone'), h('td', {}, who(p.delegate)), h('td', {}, p.role),
      h('td', { class: 'actions' }, h('button', { class: 'danger', onclick: async () => {
        const done = await act(() => del(`/organization/${enc(org)}/prototypes/${p.id}`), 'Default permission deleted');
        if (done !== undefined) defaultPermissions(body, org);
      } }, 'Delete')))), 'No default permissions.'),
    h('p', {}, h('button', { 'data-test': 'create-prototype', onclick: async () => {
      const data = await dialog('Create default permission', [
        field('When created by (optional user)', h('input', { name: 'creator', placeholder: 'Anyone' })),
        field('Give this user, robot or team', h('input', { name: 'delegate', required: true, 'data-test': 'prototype-delegate' })),
        field('Kind', select('kind', [['user', 'User or robot'], ['team', 'Team']], 'user')),
        field('Permission', select('role', ROLES, 'read')),
      ], 'Create default permission');
      if (!data) return;
      const req = { role: data.get('role'), delegate: { name: data.get('delegate'), kind: data.get('kind') } };
      if (data.get('creator')) req.activating_user = { name: data.get('creator') };
      const done = await act(() => post(`/organization/${enc(org)}/prototypes`, req), 'Default permission created');
      if (done !== undefined) defaultPermissions(body, org);
    } }, 'Create default permission')));
}

export async function applications(body, org) {
  const r = await get(`/organization/${enc(org)}/applications`);
  mount(body,
    table(['Application', 'Client ID', ''], (r.applications || []).map((a) => h('tr', { 'data-test': 'application-row' },
      h('td', {}, h('strong', {}, a.name), a.description ? h('div', { class: 'help' }, a.description) : null),
      h('td', { class: 'mono' }, a.client_id),
      h('td', { class: 'actions' },
        h('button', { class: 'secondary', 'data-test': 'app-details', onclick: () => details(org, a.client_id) }, 'Details'),
        h('button', { class: 'secondary', 'data-test': 'app-token', onclick: () => generateToken(a) }, 'Generate token'),
        h('button', { class: 'danger', onclick: async () => {
          if (!(await confirmAction('Delete application', `Delete ${a.name}? Its tokens stop working.`))) return;
          const done = await act(() => del(`/organization/${enc(org)}/applications/${a.client_id}`), `Deleted ${a.name}`);
          if (done !== undefined) applications(body, org);
        } }, 'Delete')))), 'No OAuth applications.'),
    h('p', {}, h('button', { 'data-test': 'create-application', onclick: async () => {
      const data = await dialog('Create OAuth application', [
        field('Application name', h('input', { name: 'name', required: true, 'data-test': 'app-name' })),
        field('Homepage URL', h('input', { name: 'application_uri', type: 'url' })),
        field('Redirect/callback URL prefix', h('input', { name: 'redirect_uri', type: 'url' })),
        field('Description', h('input', { name: 'description' })),
      ], 'Create application');
      if (!data) return;
      const done = await act(() => post(`/organization/${enc(org)}/applications`, Object.fromEntries(data.entries())), `Created ${data.get('name')}`);
      if (done !== undefined) applications(body, org);
    } }, 'Create new application')));
}

async function details(org, clientId) {
  const a = await get(`/organization/${enc(org)}/applications/${clientId}`);
  await dialog(a.name, [
    h('p', { class: 'help' }, 'Client ID'), copyBox(a.client_id, 'app-client-id'),
    h('p', { class: 'help' }, 'Client secret'), copyBox(a.client_secret || '', 'app-client-secret'),
    h('p', { class: 'help' }, 'Redirect URL prefix'), h('p', {}, a.redirect_uri || '—'),
  ], null);
}

/** Quay's "Generate Token": pick scopes, then authorize as yourself. */
async function generateToken(a) {
  const data = await dialog(`Generate a token for ${a.name}`, [
    h('p', {}, 'The token acts as you, limited to the permissions you pick.'),
    SCOPES.map(([s, label]) => h('label', { class: 'inline' }, h('input', { type: 'checkbox', name: 'scope', value: s, 'data-test': 'scope-' + s }), label)),
  ], 'Generate access token');
  if (!data) return;
  const scopes = data.getAll('scope');
  if (!scopes.length) return;
  const q = new URLSearchParams({ response_type: 'token', client_id: a.client_id, scope: scopes.join(' '), redirect_uri: new URL('/oauth/localapp', location.href).href });
  location.assign(`/oauth/authorize?${q}`);
}
