// Repositories: the list (own, organizations', public, starred) with a
// filter, and creating one.

import { h, mount, field, table, paged, when, select, toast, bytes } from '../dom.js';
import { get, post, enc } from '../api.js';
import { app, go, feature } from '../app.js';

const RESERVED = ['build', 'builds', 'tag', 'tags', 'trigger', 'triggers', 'history', 'settings', 'logs', 'permissions', 'notifications'];

export async function reposView(main, query) {
  const show = query.get('show') || 'mine';
  const namespaces = [app.user.username, ...(app.user.organizations || []).map((o) => o.name)];
  let repos = [];
  if (show === 'starred') {
    repos = (await get('/repository?starred=true&last_modified=true')).repositories;
  } else if (show === 'public') {
    repos = await allPages('/repository?public=true&last_modified=true');
  } else {
    const lists = await Promise.all(namespaces.map((ns) => allPages(`/repository?namespace=${encodeURIComponent(ns)}&last_modified=true`)));
    repos = lists.flat();
  }
  const filter = h('input', { type: 'search', placeholder: 'Filter by name', 'aria-label': 'Filter repositories', 'data-test': 'repo-filter', value: query.get('q') || '' });
  const list = h('div');
  const draw = () => {
    const q = filter.value.trim().toLowerCase();
    const shown = repos.filter((r) => !q || `${r.namespace}/${r.name}`.toLowerCase().includes(q));
    mount(list, paged(shown, 25, (page) => table(['Name', 'Visibility', 'Last modified', ...(feature('QUOTA_MANAGEMENT') ? ['Size'] : [])],
      page.map((r) => h('tr', { 'data-test': 'repo-row' },
        h('td', {}, h('a', { href: `/repository/${enc(r.namespace)}/${enc(r.name)}`, 'data-link': true }, `${r.namespace}/${r.name}`),
          r.description ? h('div', { class: 'help' }, r.description.split('\n')[0].slice(0, 120)) : null),
        h('td', {}, h('span', { class: 'label ' + (r.is_public ? 'public' : 'private') }, r.is_public ? 'public' : 'private')),
        h('td', {}, when(r.last_modified)),
        feature('QUOTA_MANAGEMENT') ? h('td', { 'data-test': 'repo-size' }, r.quota_report ? bytes(r.quota_report.quota_bytes || 0) : '—') : null)),
      'No repositories. Create one, or push an image: podman push <registry>/<namespace>/<name>:<tag>')));
  };
  filter.addEventListener('input', draw);
  draw();
  const link = (key, label) => h('a', { href: `/repository?show=${key}`, 'data-link': true, class: key === show ? 'active' : '', 'data-test': 'tab-' + key }, label);
  mount(main,
    h('h1', {}, 'Repositories'),
    h('div', { class: 'tabs' }, link('mine', 'Mine and my organizations\''), link('starred', 'Starred'), link('public', 'Public')),
    h('div', { class: 'toolbar' }, filter, h('span', { class: 'grow' }),
      h('a', { class: 'button', href: '/repository/new', 'data-link': true, 'data-test': 'create-repo' }, 'Create Repository')),
    list);
}

async function allPages(path) {
  const out = [];
  let next = null;
  for (let i = 0; i < 20; i++) {
    const r = await get(path + (next ? `&next_page=${encodeURIComponent(next)}` : ''));
    out.push(...r.repositories);
    if (!r.next_page) break;
    next = r.next_page;
  }
  return out;
}

export async function newRepoView(main, query) {
  const namespaces = [app.user.username, ...(app.user.organizations || []).filter((o) => o.can_create_repo !== false).map((o) => o.name)];
  const ns = query.get('namespace') || namespaces[0];
  const name = h('input', { name: 'name', required: true, pattern: '[a-z0-9]+(?:[._\\-\\/][a-z0-9]+)*', 'data-test': 'repo-name', title: 'Lowercase letters, digits and . _ - / separators' });
  const warn = h('div');
  name.addEventListener('input', () => {
    const reserved = RESERVED.includes(name.value.trim().toLowerCase());
    mount(warn, reserved ? h('p', { class: 'warning', 'data-test': 'reserved-warning' },
      `"${name.value}" is a word the web UI uses in its own addresses; the repository works, but its pages may be hard to reach. Choose another name if you can.`) : null);
  });
  const form = h('form', { class: 'card', 'data-test': 'new-repo-form' },
    field('Namespace', select('namespace', namespaces.map((n) => [n, n]), ns)),
    field('Repository name', name),
    warn,
    field('Description', h('textarea', { name: 'description', 'data-test': 'repo-description' }), 'Markdown is shown as text.'),
    h('label', {}, 'Visibility'),
    h('label', { class: 'inline' }, h('input', { type: 'radio', name: 'visibility', value: 'public', 'data-test': 'visibility-public' }), 'Public: anyone can see and pull this repository'),
    h('label', { class: 'inline' }, h('input', { type: 'radio', name: 'visibility', value: 'private', checked: true, 'data-test': 'visibility-private' }), 'Private: you choose who can see it'),
    h('p', {}, h('button', { type: 'submit', 'data-test': 'repo-submit' }, 'Create repository')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const d = new FormData(form);
    try {
      await post('/repository', { namespace: d.get('namespace'), repository: d.get('name'), visibility: d.get('visibility'), description: d.get('description') || '', repo_kind: 'image' });
      toast(`Created ${d.get('namespace')}/${d.get('name')}`);
      go(`/repository/${enc(d.get('namespace'))}/${enc(d.get('name'))}`);
    } catch (err) {
      toast(err.message, 'error');
    }
  });
  mount(main, h('div', { class: 'breadcrumb' }, h('a', { href: '/repository', 'data-link': true }, 'Repositories'), ' / New'),
    h('h1', {}, 'Create repository'), form);
}
