// One repository: its information and pull commands, tags, tag history,
// usage logs and settings.

import { h, mount, tabs, copyBox, toast } from '../dom.js';
import { get, post, del, enc } from '../api.js';
import { registryHost, feature } from '../app.js';
import { tagsTab, historyTab } from './tags.js';
import { settingsTab } from './repo_settings.js';
import { logsPanel } from './logs.js';
import { buildsTab } from './builds.js';

export async function repoView(main, ns, name, query) {
  const path = `${enc(ns)}/${enc(name)}`;
  const repo = await get(`/repository/${path}?includeStats=false&includeTags=false`);
  const tab = query.get('tab') || 'tags';
  const base = `/repository/${path}`;
  const entries = [['info', 'Information', `${base}?tab=info`], ['tags', 'Tags', `${base}?tab=tags`], ['history', 'Tag history', `${base}?tab=history`]];
  if (feature('BUILD_SUPPORT') && (repo.can_write || repo.is_public)) entries.push(['builds', 'Builds', `${base}?tab=builds`]);
  if (repo.can_admin) entries.push(['logs', 'Usage logs', `${base}?tab=logs`], ['settings', 'Settings', `${base}?tab=settings`]);
  const body = h('div', { 'data-test': 'repo-tab-' + tab });
  const star = h('button', {
    class: 'secondary', 'data-test': 'star',
    onclick: async () => {
      try {
        if (repo.is_starred) await del(`/user/starred/${path}`);
        else await post('/user/starred', { namespace: ns, repository: name });
        repo.is_starred = !repo.is_starred;
        star.textContent = repo.is_starred ? '★ Starred' : '☆ Star';
      } catch (e) { toast(e.message, 'error'); }
    },
  }, repo.is_starred ? '★ Starred' : '☆ Star');
  mount(main,
    h('div', { class: 'breadcrumb' }, h('a', { href: '/repository', 'data-link': true }, 'Repositories'), ' / ',
      h('a', { href: repo.is_organization ? `/organization/${enc(ns)}` : `/user/${enc(ns)}`, 'data-link': true }, ns)),
    h('div', { class: 'toolbar' }, h('h1', { 'data-test': 'repo-title' }, `${ns}/${name}`), h('span', { class: 'grow' }),
      h('span', { class: 'label ' + (repo.is_public ? 'public' : 'private') }, repo.is_public ? 'public' : 'private'),
      repo.state && repo.state !== 'NORMAL' ? h('span', { class: 'label' }, repo.state.toLowerCase().replace('_', ' ')) : null,
      star),
    tabs(tab, entries), body);
  if (tab === 'info') infoTab(body, repo, ns, name);
  else if (tab === 'history') await historyTab(body, repo, path);
  else if (tab === 'builds' && feature('BUILD_SUPPORT')) await buildsTab(body, repo, path, query);
  else if (tab === 'logs' && repo.can_admin) await logsPanel(body, `/repository/${path}`, query);
  else if (tab === 'settings' && repo.can_admin) await settingsTab(body, repo, ns, name);
  else await tagsTab(body, repo, path, query);
}

function infoTab(body, repo, ns, name) {
  const host = registryHost();
  mount(body,
    h('div', { class: 'card' },
      h('h2', {}, 'Description'),
      repo.description ? h('p', { 'data-test': 'repo-description' }, repo.description) : h('p', { class: 'help' }, 'No description.'),
      h('h2', {}, 'Pull this repository'),
      h('p', { class: 'help' }, 'Podman'), copyBox(`podman pull ${host}/${ns}/${name}`, 'pull-podman'),
      h('p', { class: 'help' }, 'Docker'), copyBox(`docker pull ${host}/${ns}/${name}`, 'pull-docker')));
}
