// Robot accounts of an organization or a user: create, delete, the token
// (view, copy, regenerate), credential files, and repository permissions.

import { h, mount, table, dialog, confirmAction, field, select, act, copyBox, when, paged } from '../dom.js';
import { get, put, post, del, enc } from '../api.js';
import { registryHost } from '../app.js';

export async function robotsPanel(body, namespace, base) {
  const r = await get(`${base}?permissions=true&token=false`);
  const rows = r.robots.map((robot) => {
    const short = robot.name.split('+').pop();
    return h('tr', { 'data-test': 'robot-row', 'data-robot': robot.name },
      h('td', {}, h('strong', {}, robot.name), robot.description ? h('div', { class: 'help' }, robot.description) : null),
      h('td', {}, (robot.teams || []).map((t) => h('span', { class: 'label' }, t.name || t))),
      h('td', {}, String((robot.repositories || []).length)),
      h('td', {}, when(robot.created)),
      h('td', { class: 'actions' },
        h('button', { class: 'secondary', 'data-test': `robot-credentials-${short}`, onclick: () => credentials(base, short, robot.name) }, 'View credentials'),
        h('button', { class: 'secondary', 'data-test': `robot-permissions-${short}`, onclick: () => permissions(namespace, base, short, robot.name) }, 'Permissions'),
        h('button', { class: 'danger', 'data-test': `robot-delete-${short}`, onclick: async () => {
          if (!(await confirmAction('Delete robot account', `Delete ${robot.name}? Clients using its token stop working.`))) return;
          const done = await act(() => del(`${base}/${encodeURIComponent(short)}`), `Deleted ${robot.name}`);
          if (done !== undefined) robotsPanel(body, namespace, base);
        } }, 'Delete')));
  });
  mount(body,
    h('div', { class: 'toolbar' }, h('span', { class: 'grow' }), h('button', { 'data-test': 'create-robot', onclick: async () => {
      const data = await dialog('Create robot account', [
        field('Robot name', h('input', { name: 'name', required: true, pattern: '[a-z][a-z0-9_]{1,254}', 'data-test': 'robot-name', title: 'Lowercase letters, digits and underscores, starting with a letter' }),
          `The account is named ${namespace}+<name>.`),
        field('Description', h('input', { name: 'description', 'data-test': 'robot-description' })),
      ], 'Create robot account');
      if (!data) return;
      const short = data.get('name');
      const done = await act(() => put(`${base}/${encodeURIComponent(short)}`, { description: data.get('description') || '' }), `Created ${namespace}+${short}`);
      if (done !== undefined) { await robotsPanel(body, namespace, base); await credentials(base, short, `${namespace}+${short}`); }
    } }, 'Create robot account')),
    paged(rows, 50, (page) => table(['Robot account', 'Teams', 'Repositories', 'Created', ''], page, 'No robot accounts yet.')));
}

function download(name, content, type) {
  const url = URL.createObjectURL(content instanceof Blob ? content : new Blob([content], { type: type || 'text/plain' }));
  const a = h('a', { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

/** A one-file ustar archive, gzipped (Mesos wants docker.tar.gz). */
async function tarGz(path, text) {
  const data = new TextEncoder().encode(text);
  const header = new Uint8Array(512);
  const put = (s, off) => header.set(new TextEncoder().encode(s), off);
  const octal = (n, len) => n.toString(8).padStart(len - 1, '0') + '\0';
  put(path, 0); put(octal(0o600, 8), 100); put(octal(0, 8), 108); put(octal(0, 8), 116);
  put(octal(data.length, 12), 124); put(octal(Math.floor(Date.now() / 1000), 12), 136);
  put('        ', 148); put('0', 156); put('ustar\0', 257); put('00', 263);
  const sum = header.reduce((a, b) => a + b, 0);
  put(octal(sum, 7) + ' ', 148);
  const padded = new Uint8Array(Math.ceil(data.length / 512) * 512);
  padded.set(data);
  const tar = new Blob([header, padded, new Uint8Array(1024)]);
  return new Response(tar.stream().pipeThrough(new CompressionStream('gzip'))).blob();
}

async function credentials(base, short, name) {
  const robot = await get(`${base}/${encodeURIComponent(short)}`);
  const host = registryHost();
  const body = h('div');
  const draw = (token) => {
    const auth = btoa(`${name}:${token}`);
    const config = JSON.stringify({ auths: { [host]: { auth, email: '' } } }, null, 2);
    const secretName = `${name.replace('+', '-')}-pull-secret`;
    const secret = `apiVersion: v1\nkind: Secret\nmetadata:\n  name: ${secretName}\ndata:\n  .dockerconfigjson: ${btoa(config)}\ntype: kubernetes.io/dockerconfigjson\n`;
    const rkt = JSON.stringify({ rktKind: 'dockerAuth', rktVersion: 'v1', registries: [host], credentials: { user: name, password: token } }, null, 2);
    mount(body,
      h('p', { class: 'help' }, 'Username'), copyBox(name, 'robot-username'),
      h('p', { class: 'help' }, 'Robot token'), copyBox(token, 'robot-token'),
      h('p', {}, h('button', { type: 'button', class: 'secondary', 'data-test': 'robot-regenerate', onclick: async () => {
        if (!(await confirmAction('Regenerate token', `Regenerate the token of ${name}? The current token stops working at once.`, 'Regenerate'))) return;
        const r = await act(() => post(`${base}/${encodeURIComponent(short)}/regenerate`), `New token for ${name}`);
        if (r) draw(r.token);
      } }, 'Regenerate token')),
      h('h2', {}, 'Docker login'), copyBox(`docker login -u='${name}' -p='${token}' ${host}`, 'robot-docker-login'),
      h('h2', {}, 'Podman login'), copyBox(`podman login -u='${name}' -p='${token}' ${host}`, 'robot-podman-login'),
      h('h2', {}, 'Files'),
      h('div', { class: 'toolbar' },
        h('button', { type: 'button', class: 'secondary', 'data-test': 'download-k8s', onclick: () => download(`${secretName}.yml`, secret, 'application/yaml') }, 'Kubernetes Secret'),
        h('button', { type: 'button', class: 'secondary', 'data-test': 'download-docker-config', onclick: () => download('config.json', config, 'application/json') }, 'Docker config.json'),
        h('button', { type: 'button', class: 'secondary', 'data-test': 'download-rkt', onclick: () => download(`${name.replace('+', '-')}-auth.json`, rkt, 'application/json') }, 'rkt configuration'),
        h('button', { type: 'button', class: 'secondary', 'data-test': 'download-mesos', onclick: async () => download('docker.tar.gz', await tarGz('.docker/config.json', config)) }, 'Mesos docker.tar.gz')),
      h('details', {}, h('summary', {}, 'Kubernetes Secret'), h('pre', { class: 'json', 'data-test': 'k8s-secret' }, secret)));
  };
  draw(robot.token);
  await dialog(`Credentials for ${name}`, body, null);
}

async function permissions(namespace, base, short, name) {
  const body = h('div');
  const draw = async () => {
    const [mine, repos] = await Promise.all([
      get(`${base}/${encodeURIComponent(short)}/permissions`),
      get(`/repository?namespace=${encodeURIComponent(namespace)}`),
    ]);
    const rows = (mine.permissions || []).map((p) => h('tr', { 'data-test': 'robot-permission-row' },
      h('td', {}, p.repository.name), h('td', {}, p.role),
      h('td', { class: 'actions' }, h('button', { type: 'button', class: 'danger', onclick: async () => {
        const done = await act(() => del(`/repository/${enc(namespace)}/${enc(p.repository.name)}/permissions/user/${encodeURIComponent(name)}`), `Removed ${name} from ${p.repository.name}`);
        if (done !== undefined) draw();
      } }, 'Remove'))));
    const repo = select('repo', repos.repositories.map((r) => [r.name, r.name]), '');
    repo.setAttribute('aria-label', 'Repository');
    repo.setAttribute('data-test', 'robot-perm-repo');
    const role = select('role', [['read', 'Read'], ['write', 'Write'], ['admin', 'Admin']], 'read');
    role.setAttribute('aria-label', 'Permission');
    role.setAttribute('data-test', 'robot-perm-role');
    mount(body, table(['Repository', 'Permission', ''], rows, 'No repository permissions yet.'),
      repos.repositories.length ? h('div', { class: 'toolbar' }, repo, role, h('button', { type: 'button', 'data-test': 'robot-perm-add', onclick: async () => {
        const done = await act(() => put(`/repository/${enc(namespace)}/${enc(repo.value)}/permissions/user/${encodeURIComponent(name)}`, { role: role.value }), `${name} has ${role.value} on ${repo.value}`);
        if (done !== undefined) draw();
      } }, 'Add permission')) : h('p', { class: 'help' }, 'Create a repository first.'));
  };
  await draw();
  await dialog(`Permissions of ${name}`, body, null);
}
