// Organizations: the ones the user belongs to, and creating one.

import { h, mount, table, field, toast } from '../dom.js';
import { get, post, enc } from '../api.js';
import { app, go, reloadUser, feature } from '../app.js';
import { quotaUsage } from './namespace_settings.js';

export async function orgsView(main) {
  await reloadUser();
  const orgs = app.user.organizations || [];
  const quota = feature('QUOTA_MANAGEMENT');
  // The quota report is in each organization's own view.
  const reports = quota ? await Promise.all(orgs.map((o) => get(`/organization/${enc(o.name)}`).then((x) => x.quota_report, () => null))) : [];
  mount(main,
    h('h1', {}, 'Organizations'),
    h('div', { class: 'toolbar' }, h('span', { class: 'grow' }),
      h('a', { class: 'button', href: '/organization/new', 'data-link': true, 'data-test': 'create-org' }, 'Create Organization')),
    table(['Name', 'Your role', ...(quota ? ['Size'] : [])], orgs.map((o, i) => h('tr', { 'data-test': 'org-row' },
      h('td', {}, h('a', { href: `/organization/${enc(o.name)}`, 'data-link': true }, o.name)),
      h('td', {}, o.is_org_admin ? 'Admin' : 'Member'),
      quota ? h('td', { 'data-test': 'org-size' }, quotaUsage(reports[i])) : null)),
    'You are not a member of any organization yet.'));
}

export async function newOrgView(main) {
  const form = h('form', { class: 'card', 'data-test': 'new-org-form' },
    field('Organization name', h('input', { name: 'name', required: true, pattern: '[a-z0-9_]{2,255}', 'data-test': 'org-name', title: 'Lowercase letters, digits and underscores; at least 2' }),
      'This is also the namespace of its repositories.'),
    field('Organization email', h('input', { name: 'email', type: 'email', 'data-test': 'org-email' })),
    h('p', {}, h('button', { type: 'submit', 'data-test': 'org-submit' }, 'Create organization')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const d = new FormData(form);
    try {
      await post('/organization/', { name: d.get('name'), email: d.get('email') || undefined });
      await reloadUser();
      toast(`Created organization ${d.get('name')}`);
      go(`/organization/${enc(d.get('name'))}`);
    } catch (err) {
      toast(err.message, 'error');
    }
  });
  mount(main, h('div', { class: 'breadcrumb' }, h('a', { href: '/organization', 'data-link': true }, 'Organizations'), ' / New'),
    h('h1', {}, 'Create organization'), form);
}
