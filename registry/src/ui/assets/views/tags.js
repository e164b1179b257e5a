// Tags of a repository: the list with sizes, digests and expirations;
// adding, moving and deleting tags; expiration; the fetch-tag dialog;
// the children of multi-architecture images; and the tag history with
// revert and permanent delete.

import { h, mount, table, when, bytes, dialog, confirmAction, field, copyBox, act } from '../dom.js';
import { get, put, post, del, enc } from '../api.js';
import { app, registryHost, feature } from '../app.js';
import { securityCell, securityView } from './security.js';

const PAGE = 50;

function short(digest) {
  return digest ? digest.replace(/^sha256:/, '').slice(0, 12) : '';
}

export async function tagsTab(body, repo, path, query) {
  if (query.get('security') && feature('SECURITY_SCANNER')) { await securityView(body, repo, path, query.get('security'), query.get('tag')); return; }
  let page = Math.max(1, Number(query.get('page')) || 1);
  const filter = h('input', { type: 'search', placeholder: 'Filter tags', 'aria-label': 'Filter tags', 'data-test': 'tag-filter', value: query.get('filter') || '' });
  const list = h('div');
  const draw = async () => {
    const q = filter.value.trim();
    const r = await get(`/repository/${path}/tag/?onlyActiveTags=true&limit=${PAGE}&page=${page}${q ? `&filter_tag_name=like:${encodeURIComponent(q)}` : ''}`);
    const writable = repo.can_write && (repo.state || 'NORMAL') === 'NORMAL';
    mount(list,
      table(['Tag', 'Security', 'Size', 'Last modified', 'Expires', 'Manifest', ''],
        r.tags.map((t) => tagRow(t, repo, path, writable, draw)), 'This repository has no tags. Push an image to it to see tags here.'),
      h('div', { class: 'pager' },
        h('span', {}, `Page ${r.page}`),
        h('button', { class: 'secondary', disabled: page <= 1, 'data-test': 'tags-prev', onclick: () => { page--; draw(); } }, 'Previous'),
        h('button', { class: 'secondary', disabled: !r.has_additional, 'data-test': 'tags-next', onclick: () => { page++; draw(); } }, 'Next')));
  };
  let timer = null;
  filter.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(() => { page = 1; draw(); }, 250); });
  mount(body, h('div', { class: 'toolbar' }, filter), list);
  await draw();
}

function tagRow(t, repo, path, writable, redraw) {
  const children = h('tr', { hidden: true, 'data-test': 'children-' + t.name }, h('td', { colspan: 7 }));
  const expand = t.is_manifest_list ? h('button', {
    class: 'link', 'aria-expanded': 'false', 'data-test': 'expand-' + t.name,
    onclick: async () => {
      const open = children.hidden;
      children.hidden = !open;
      expand.setAttribute('aria-expanded', String(open));
      if (open) await showChildren(children.firstChild, repo, path, t.manifest_digest);
    },
  }, '▸') : null;
  const actions = h('td', { class: 'actions' },
    h('button', { class: 'secondary', 'data-test': 'fetch-' + t.name, onclick: () => fetchTag(repo, t) }, 'Fetch'),
    writable ? [
      h('button', { class: 'secondary', 'data-test': 'addtag-' + t.name, onclick: () => addTag(repo, path, t, redraw) }, 'Add tag'),
      feature('CHANGE_TAG_EXPIRATION') ? h('button', { class: 'secondary', 'data-test': 'expire-' + t.name, onclick: () => changeExpiration(path, t, redraw) }, 'Expiration') : null,
      h('button', { class: 'danger', 'data-test': 'delete-' + t.name, onclick: () => deleteTag(path, t, redraw) }, 'Delete'),
    ] : null);
  return [h('tr', { 'data-test': 'tag-row', 'data-tag': t.name },
    h('td', {}, expand, ' ', h('strong', {}, t.name), t.immutable ? h('span', { class: 'label' }, 'immutable') : null, t.is_manifest_list ? h('span', { class: 'label' }, 'multi-arch') : null),
    h('td', {}, securityStatus(repo, path, t)),
    h('td', {}, t.is_manifest_list ? '—' : bytes(t.size)),
    h('td', {}, when(t.start_ts)),
    h('td', { 'data-test': 'expires-' + t.name }, t.end_ts ? when(t.end_ts) : 'Never'),
    h('td', {}, h('span', { class: 'digest', title: t.manifest_digest }, 'SHA256 ' + short(t.manifest_digest))),
    actions), children];
}

function securityStatus(repo, path, t) {
  if (!feature('SECURITY_SCANNER')) return h('span', { class: 'help' }, 'Not scanned');
  return securityCell(repo, path, t);
}

async function showChildren(cell, repo, path, digest) {
  mount(cell, h('span', { class: 'loading' }, 'Loading…'));
  try {
    const m = await get(`/repository/${path}/manifest/${encodeURIComponent(digest)}`);
    const data = JSON.parse(m.manifest_data || '{}');
    const scanned = feature('SECURITY_SCANNER');
    const rows = (data.manifests || []).map((c) => {
      const platform = [c.platform && c.platform.os, c.platform && c.platform.architecture, c.platform && c.platform.variant].filter(Boolean).join('/') || 'unknown platform';
      return h('tr', {},
        h('td', {}, platform),
        scanned ? h('td', {}, securityCell(repo, path, { name: platform, manifest_digest: c.digest })) : null,
        h('td', {}, bytes(c.size)),
        h('td', { class: 'digest' }, c.digest));
    });
    mount(cell, table(['Platform', ...(scanned ? ['Security'] : []), 'Manifest size', 'Digest'], rows, 'No child manifests.'));
  } catch (e) {
    mount(cell, h('span', { class: 'error-text' }, e.message));
  }
}

function fetchTag(repo, t) {
  const host = registryHost();
  const ref = `${host}/${repo.namespace}/${repo.name}`;
  dialog(`Fetch tag ${t.name}`, [
    h('p', { class: 'help' }, 'Podman, by tag'), copyBox(`podman pull ${ref}:${t.name}`, 'fetch-podman-tag'),
    h('p', { class: 'help' }, 'Podman, by digest'), copyBox(`podman pull ${ref}@${t.manifest_digest}`, 'fetch-podman-digest'),
    h('p', { class: 'help' }, 'Docker, by tag'), copyBox(`docker pull ${ref}:${t.name}`, 'fetch-docker-tag'),
    h('p', { class: 'help' }, 'Docker, by digest'), copyBox(`docker pull ${ref}@${t.manifest_digest}`, 'fetch-docker-digest'),
  ], null);
}

async function addTag(repo, path, t, redraw) {
  const name = h('input', { name: 'tag', required: true, pattern: '[\\w][\\w.\\-]{0,127}', 'data-test': 'new-tag-name' });
  const data = await dialog(`Add a tag to ${short(t.manifest_digest)}`, [field('New tag name', name, 'A tag that already exists is moved to this image.')], 'Create tag');
  if (!data) return;
  const tag = data.get('tag');
  const existing = await get(`/repository/${path}/tag/?onlyActiveTags=true&specificTag=${encodeURIComponent(tag)}`);
  if (existing.tags.length && existing.tags[0].manifest_digest !== t.manifest_digest) {
    const ok = await confirmAction('Move tag?', `Tag ${tag} points at ${short(existing.tags[0].manifest_digest)}. Move it to ${short(t.manifest_digest)}?`, 'Move tag');
    if (!ok) return;
  }
  const done = await act(() => put(`/repository/${path}/tag/${encodeURIComponent(tag)}`, { manifest_digest: t.manifest_digest }), `Tag ${tag} now points at ${short(t.manifest_digest)}`);
  if (done !== undefined) await redraw();
}

async function deleteTag(path, t, redraw) {
  if (!(await confirmAction('Delete tag', `Delete tag ${t.name}? It stays in the tag history for the time machine window and can be restored from there.`))) return;
  const done = await act(() => del(`/repository/${path}/tag/${encodeURIComponent(t.name)}`), `Deleted tag ${t.name}`);
  if (done !== undefined) await redraw();
}

function localInputValue(seconds) {
  const d = new Date(seconds * 1000);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

async function changeExpiration(path, t, redraw) {
  const input = h('input', { type: 'datetime-local', name: 'when', 'data-test': 'expiration-input', value: t.end_ts ? localInputValue(t.end_ts) : '' });
  const data = await dialog(`Change expiration of ${t.name}`, [
    field('Expires at (your local time)', input, 'Leave empty for no expiration. The registry may limit how far ahead a tag can expire.'),
  ], 'Change expiration');
  if (!data) return;
  const v = data.get('when');
  const expiration = v ? Math.floor(new Date(v).getTime() / 1000) : null;
  const done = await act(() => put(`/repository/${path}/tag/${encodeURIComponent(t.name)}`, { expiration }),
    expiration ? `Tag ${t.name} expires ${when(expiration)}` : `Tag ${t.name} no longer expires`);
  if (done !== undefined) await redraw();
}

export async function historyTab(body, repo, path) {
  let page = 1;
  const list = h('div');
  const writable = repo.can_write && (repo.state || 'NORMAL') === 'NORMAL';
  const draw = async () => {
    const r = await get(`/repository/${path}/tag/?onlyActiveTags=false&limit=${PAGE}&page=${page}`);
    const now = Date.now() / 1000;
    mount(list,
      table(['Tag', 'Change', 'Manifest', 'When', ''], r.tags.map((t) => {
        const ended = t.end_ts && t.end_ts <= now;
        const actions = h('td', { class: 'actions' });
        if (ended && writable) {
          actions.append(h('button', { class: 'secondary', 'data-test': `restore-${t.name}-${short(t.manifest_digest)}`,
            onclick: async () => {
              if (!(await confirmAction('Restore tag', `Point ${t.name} at ${short(t.manifest_digest)} again?`, 'Restore'))) return;
              const done = await act(() => post(`/repository/${path}/tag/${encodeURIComponent(t.name)}/restore`, { manifest_digest: t.manifest_digest }), `Restored ${t.name}`);
              if (done !== undefined) await draw();
            } }, 'Revert'));
          if (app.config.config.PERMANENTLY_DELETE_TAGS) {
            actions.append(h('button', { class: 'danger', 'data-test': `purge-${t.name}-${short(t.manifest_digest)}`,
              onclick: async () => {
                if (!(await confirmAction('Permanently delete', `Remove ${t.name} at ${short(t.manifest_digest)} from the time machine? It cannot be restored afterwards.`))) return;
                const done = await act(() => post(`/repository/${path}/tag/${encodeURIComponent(t.name)}/expire`, { manifest_digest: t.manifest_digest, is_alive: false }), `Permanently deleted ${t.name}`);
                if (done !== undefined) await draw();
              } }, 'Permanently delete'));
          }
        }
        return h('tr', { 'data-test': 'history-row', 'data-tag': t.name },
          h('td', {}, h('strong', {}, t.name)),
          h('td', {}, ended ? 'deleted or moved away' : t.end_ts ? `expires ${when(t.end_ts)}` : 'current'),
          h('td', { class: 'digest' }, 'SHA256 ' + short(t.manifest_digest)),
          h('td', {}, when(ended ? t.end_ts : t.start_ts)),
          actions);
      }), 'No tag history yet.'),
      h('div', { class: 'pager' },
        h('button', { class: 'secondary', disabled: page <= 1, onclick: () => { page--; draw(); } }, 'Previous'),
        h('button', { class: 'secondary', disabled: !r.has_additional, onclick: () => { page++; draw(); } }, 'Next')));
  };
  mount(body, list);
  await draw();
}
