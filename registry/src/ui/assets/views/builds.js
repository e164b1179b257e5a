// Repository builds: start a build from an uploaded Dockerfile or archive,
// the build history, one build with a log that follows it while it runs,
// log download and copy, and running a build trigger now.

import { h, mount, table, dialog, field, act, when, toast, confirmAction } from '../dom.js';
import { get, post, put, del, request } from '../api.js';
import { go } from '../app.js';

const DONE = ['complete', 'error', 'internalerror', 'cancelled', 'expired'];

export async function buildsTab(body, repo, path, query) {
  const uuid = query.get('build');
  if (uuid) { await buildView(body, repo, path, uuid); return; }
  const [builds, triggers] = await Promise.all([
    get(`/repository/${path}/build/?limit=50`),
    repo.can_admin ? get(`/repository/${path}/trigger/`).catch(() => ({ triggers: [] })) : Promise.resolve({ triggers: [] }),
  ]);
  const base = `/repository/${path}?tab=builds`;
  mount(body,
    repo.can_write ? h('div', { class: 'toolbar' }, h('span', { class: 'grow' }),
      h('button', { 'data-test': 'start-build', onclick: () => startBuild(repo, path) }, 'Start new build')) : null,
    h('h2', {}, 'Build history'),
    table(['Build', 'Status', 'Started', 'Tags', 'Triggered by'], builds.builds.map((b) => h('tr', { 'data-test': 'build-row', 'data-build': b.id, 'data-phase': b.phase },
      h('td', {}, h('a', { href: `${base}&build=${b.id}`, 'data-link': true }, b.display_name || b.id.slice(0, 8))),
      h('td', {}, phaseLabel(b.phase)),
      h('td', {}, when(b.started)),
      h('td', {}, (b.tags || []).map((t) => h('span', { class: 'label' }, t))),
      h('td', {}, b.trigger ? `${b.trigger.service} trigger` : b.manual_user || '—'))), 'No builds yet.'),
    repo.can_admin ? [h('div', { class: 'toolbar' }, h('h2', { class: 'grow' }, 'Build triggers'),
      h('a', { class: 'button', href: `/customtrigger/setup/${path}`, 'data-test': 'create-trigger' }, 'Create build trigger: custom Git repository push')),
    table(['Trigger', 'Source', 'State', ''], (triggers.triggers || []).map((t) => h('tr', { 'data-test': 'trigger-row', 'data-trigger': t.id },
      h('td', {}, h('a', { href: `/repository/${path}/trigger/${t.id}`, 'data-link': true }, t.service === 'custom-git' ? 'Custom Git' : t.service)),
      h('td', { class: 'mono' }, t.build_source || (t.config && t.config.build_source) || '—'),
      h('td', { 'data-test': 'trigger-state' }, t.is_active ? (t.enabled === false ? `disabled${t.disabled_reason ? ` (${t.disabled_reason.replace(/_/g, ' ')})` : ''}` : 'active') : 'not set up'),
      h('td', { class: 'actions' },
        t.is_active ? h('button', { class: 'secondary', 'data-test': 'run-trigger', onclick: () => runTrigger(path, t) }, 'Run trigger now') : null,
        t.is_active ? h('button', { class: 'secondary', 'data-test': 'toggle-trigger', onclick: async () => {
          const done = await act(() => put(`/repository/${path}/trigger/${t.id}`, { enabled: t.enabled === false }), t.enabled === false ? 'Trigger enabled' : 'Trigger disabled');
          if (done !== undefined) go(`/repository/${path}?tab=builds`, true);
        } }, t.enabled === false ? 'Enable' : 'Disable') : null,
        h('button', { class: 'danger', 'data-test': 'delete-trigger', onclick: async () => {
          if (!(await confirmAction('Delete trigger', 'Delete this build trigger? Pushes to its git repository no longer start builds.'))) return;
          const done = await act(() => del(`/repository/${path}/trigger/${t.id}`), 'Trigger deleted');
          if (done !== undefined) go(`/repository/${path}?tab=builds`, true);
        } }, 'Delete')))),
    'No build triggers. A trigger builds this repository on every push to a git repository.')] : null);
}

function phaseLabel(phase) {
  const cls = phase === 'complete' ? 'public' : ['error', 'internalerror', 'expired'].includes(phase) ? 'private' : '';
  return h('span', { class: 'label ' + cls, 'data-test': 'build-phase' }, phase);
}

async function startBuild(repo, path) {
  const file = h('input', { type: 'file', name: 'file', required: true, 'data-test': 'build-file', accept: '.tar,.tar.gz,.tgz,.zip,Dockerfile,Containerfile,*' });
  const data = await dialog('Start new build', [
    field('Dockerfile or archive', file, 'A Dockerfile alone, or a .tar.gz or .zip of the build context with its Dockerfile.'),
    field('Tags', h('input', { name: 'tags', value: 'latest', 'data-test': 'build-tags' }), 'Separated by commas.'),
    field('Pull robot (optional)', h('input', { name: 'robot', placeholder: `${repo.namespace}+robot`, 'data-test': 'build-robot' }), 'A robot account whose credentials pull private base images.'),
  ], 'Start build');
  if (!data) return;
  const upload = data.get('file');
  const started = await act(async () => {
    const drop = await post('/filedrop/', { mimeType: upload.type || 'application/octet-stream' });
    const target = new URL(drop.url, location.href);
    const put = await fetch(target.pathname, { method: 'PUT', body: upload, credentials: 'same-origin', headers: { 'Content-Type': upload.type || 'application/octet-stream' } });
    if (!put.ok) throw new Error(`The upload failed (${put.status})`);
    const tags = String(data.get('tags') || 'latest').split(',').map((t) => t.trim()).filter(Boolean);
    const req = { file_id: drop.file_id, docker_tags: tags };
    if (data.get('robot')) req.pull_robot = String(data.get('robot')).trim();
    return post(`/repository/${path}/build/`, req);
  }, 'Build queued');
  if (started) go(`/repository/${path}?tab=builds&build=${started.id}`);
}

async function runTrigger(path, t) {
  const data = await dialog('Run trigger now', [
    field('Commit SHA or branch', h('input', { name: 'commit', required: true, 'data-test': 'trigger-commit' }), 'The commit (full SHA) or branch to build.'),
  ], 'Start build');
  if (!data) return;
  const commit = String(data.get('commit')).trim();
  const body = /^[0-9a-f]{40}$/.test(commit) ? { commit_sha: commit } : { refs: { kind: 'branch', name: commit } };
  const started = await act(() => post(`/repository/${path}/trigger/${t.id}/start`, body), 'Build queued');
  if (started) go(`/repository/${path}?tab=builds&build=${started.id}`);
}

async function buildView(body, repo, path, uuid) {
  const logBox = h('pre', { class: 'json log', 'data-test': 'build-log', tabindex: 0, 'aria-label': 'Build log' });
  const phase = h('span');
  const error = h('p', { class: 'error-text', 'data-test': 'build-error' });
  const lines = [];
  let next = 0;
  let build = await get(`/repository/${path}/build/${uuid}`);
  const draw = () => {
    mount(phase, phaseLabel(build.phase));
    error.textContent = build.error || '';
  };
  const cancel = h('button', { class: 'danger', 'data-test': 'cancel-build', onclick: async () => {
    const done = await act(() => request('DELETE', `/repository/${path}/build/${uuid}`), 'Build cancelled');
    if (done !== undefined) { build = await get(`/repository/${path}/build/${uuid}`); draw(); }
  } }, 'Cancel build');
  mount(body,
    h('div', { class: 'breadcrumb' }, h('a', { href: `/repository/${path}?tab=builds`, 'data-link': true }, 'Builds'), ' / ', build.display_name || uuid),
    h('div', { class: 'card' }, h('dl', { class: 'grid2' },
      h('dt', {}, 'Status'), h('dd', {}, phase),
      h('dt', {}, 'Started'), h('dd', {}, when(build.started)),
      h('dt', {}, 'Tags'), h('dd', {}, (build.tags || []).join(', ')),
      h('dt', {}, 'Build id'), h('dd', { class: 'mono' }, uuid)), error,
      h('div', { class: 'toolbar' },
        h('a', { class: 'button', href: `/buildlogs/${uuid}`, download: `build-${uuid}.log`, 'data-test': 'download-log' }, 'Download logs'),
        h('button', { class: 'secondary', 'data-test': 'copy-log', onclick: async () => {
          try { await navigator.clipboard.writeText(lines.join('\n')); toast('Logs copied to clipboard'); } catch { toast('The browser refused the clipboard', 'error'); }
        } }, 'Copy logs'),
        repo.can_write && !DONE.includes(build.phase) ? cancel : null)),
    h('h2', {}, 'Build log'), logBox);
  draw();
  const follow = async () => {
    for (;;) {
      if (!document.body.contains(logBox)) return;
      const r = await get(`/repository/${path}/build/${uuid}/logs?start=${next}`);
      for (const l of r.logs || []) {
        const text = l.type === 'phase' ? `— ${l.message} —` : l.message;
        lines.push(text);
        logBox.append(h('div', { class: l.type === 'error' ? 'error-text' : '' }, text));
      }
      next = (r.start || 0) + (r.logs || []).length;
      if (r.total !== undefined && next < r.total) continue;
      logBox.scrollTop = logBox.scrollHeight;
      build = await get(`/repository/${path}/build/${uuid}`);
      draw();
      if (DONE.includes(build.phase)) {
        cancel.remove();
        const last = await get(`/repository/${path}/build/${uuid}/logs?start=${next}`);
        for (const l of last.logs || []) { lines.push(l.message); logBox.append(h('div', {}, l.message)); }
        return;
      }
      await new Promise((r2) => setTimeout(r2, 1000));
    }
  };
  follow().catch((e) => { error.textContent = e.message; });
}
