// The application: who is signed in, the frame (masthead and navigation)
// and the router from the address to a view.

import { h, mount, toast, dialog, table, when } from './dom.js';
import { get, post, put, refreshCsrf, ApiError } from './api.js';
import { signinView } from './views/signin.js';
import { reposView, newRepoView } from './views/repos.js';
import { repoView } from './views/repo.js';
import { triggerView } from './views/trigger.js';
import { orgsView, newOrgView } from './views/orgs.js';
import { orgView, teamView } from './views/org.js';
import { accountView } from './views/account.js';
import { superuserView } from './views/superuser.js';
import { explorerView } from './views/explorer.js';

export const app = { user: null, config: { features: {}, config: {} } };

export function feature(name) {
  return !!app.config.features[name];
}

/** The registry host for pull commands. */
export function registryHost() {
  return app.config.config.SERVER_HOSTNAME || location.host;
}

export function go(path, replace) {
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  render();
}

/** Loads the signed-in user again (after sign-in, sign-out, changes). */
export async function reloadUser() {
  try {
    app.user = await get('/user/');
  } catch (e) {
    if (e instanceof ApiError && (e.status === 401 || e.status === 403)) app.user = null;
    else throw e;
  }
  if (app.user && app.user.anonymous) app.user = null;
}

function masthead() {
  const title = app.config.config.REGISTRY_TITLE_SHORT || 'Registry';
  const el = document.getElementById('masthead');
  mount(el,
    h('a', { class: 'brand', href: '/repository', 'data-link': true }, title),
    h('span', { class: 'spacer' }),
    app.user
      ? h('span', { class: 'user' },
          bell(),
          h('a', { href: `/user/${encodeURIComponent(app.user.username)}?tab=settings`, 'data-link': true, 'data-test': 'user-menu' }, app.user.username),
          h('button', { class: 'link', 'data-test': 'signout', onclick: signOut }, 'Sign out'))
      : h('a', { href: '/signin', 'data-link': true, class: 'user' }, 'Sign in'));
  document.title = title;
}

function sidebar(path) {
  const el = document.getElementById('sidebar');
  if (!app.user) { mount(el); return; }
  const items = [['/repository', 'Repositories'], ['/organization', 'Organizations']];
  if (app.user.super_user) items.push(['/superuser', 'Superuser']);
  mount(el, items.map(([href, label]) =>
    h('a', { href, 'data-link': true, class: path.startsWith(href) ? 'active' : '', 'data-test': 'nav-' + label.toLowerCase() }, label)));
}

let messages = null;

/** Global messages from the superusers, above every page. */
async function banner() {
  const main = document.getElementById('main');
  let box = document.getElementById('messages');
  if (!box) { box = h('div', { id: 'messages', role: 'region', 'aria-label': 'Messages' }); main.before(box); }
  try {
    if (messages === null) messages = (await get('/messages')).messages || [];
  } catch { messages = []; }
  mount(box, messages.map((m) => h('div', { class: 'message ' + (m.severity || 'info'), 'data-test': 'global-message' }, m.content)));
}

/** The notifications bell: Quay's inbox of the signed-in user. */
function bell() {
  const button = h('button', { class: 'link', 'data-test': 'bell', onclick: showInbox }, 'Notifications');
  get('/user/notifications').then((r) => {
    const open = (r.notifications || []).filter((n) => !n.dismissed).length;
    if (open) button.append(' ', h('span', { class: 'label', 'data-test': 'bell-count' }, String(open)));
  }).catch(() => { /* the bell stays empty */ });
  return button;
}

async function showInbox() {
  const r = await get('/user/notifications');
  const body = h('div');
  const draw = () => mount(body, table(['Notification', 'When', ''], r.notifications.filter((n) => !n.dismissed).map((n) => h('tr', { 'data-test': 'inbox-row' },
    h('td', {}, n.kind.replace(/_/g, ' '), n.metadata && (n.metadata.message || n.metadata.repository || n.metadata.namespace) ? h('div', { class: 'help' }, String(n.metadata.message || n.metadata.repository || n.metadata.namespace)) : null),
    h('td', {}, when(n.created)),
    h('td', { class: 'actions' }, h('button', { type: 'button', class: 'secondary', onclick: async () => {
      try { await put(`/user/notifications/${n.id}`, { dismissed: true }); n.dismissed = true; draw(); masthead(); } catch (e) { toast(e.message, 'error'); }
    } }, 'Dismiss')))), 'No notifications.'));
  draw();
  await dialog('Notifications', body, null);
}

async function signOut() {
  try { await post('/signout'); } catch { /* signed out either way */ }
  app.user = null;
  await refreshCsrf();
  toast('Signed out');
  go('/signin');
}

const routes = [
  [/^\/signin$/, () => signinView],
  [/^\/$/, () => () => go('/repository', true)],
  [/^\/repository\/?$/, () => reposView],
  [/^\/new\/?$/, () => newRepoView],
  [/^\/repository\/new\/?$/, () => newRepoView],
  [/^\/repository\/([^/]+)\/(.+)\/trigger\/([0-9a-fA-F-]{36})$/, (m) => (main) => triggerView(main, m[1], m[2], m[3])],
  [/^\/repository\/([^/]+)\/(.+)$/, (m) => (main, q) => repoView(main, m[1], m[2], q)],
  [/^\/organization\/?$/, () => orgsView],
  [/^\/organization\/new\/?$/, () => newOrgView],
  [/^\/organization\/([^/]+)\/teams\/([^/]+)$/, (m) => (main, q) => teamView(main, m[1], m[2], q)],
  [/^\/organization\/([^/]+)\/?$/, (m) => (main, q) => orgView(main, m[1], q)],
  [/^\/user\/([^/]+)\/?$/, (m) => (main, q) => accountView(main, decodeURIComponent(m[1]), q)],
  [/^\/superuser\/?$/, () => superuserView],
  [/^\/api\/v1\/explorer\/?$/, () => explorerView],
];

let renderCount = 0;

export async function render() {
  const path = location.pathname;
  const query = new URLSearchParams(location.search);
  const main = document.getElementById('main');
  const mine = ++renderCount;
  masthead();
  sidebar(path);
  banner();
  // The sign-in page and the API explorer (anonymous calls) need no user.
  const open = path === '/signin' || /^\/api\/v1\/explorer\/?$/.test(path);
  if (!app.user && !open) {
    go('/signin?next=' + encodeURIComponent(path + location.search), true);
    return;
  }
  let view = null;
  for (const [re, make] of routes) {
    const m = path.match(re);
    if (m) { view = make(m.map((x, i) => (i ? decodeURIComponent(x) : x))); break; }
  }
  mount(main, h('p', { class: 'loading' }, 'Loading…'));
  if (!view) { mount(main, h('h1', {}, 'Page not found'), h('p', {}, h('a', { href: '/repository', 'data-link': true }, 'Back to repositories'))); return; }
  try {
    await view(main, query);
  } catch (e) {
    if (mine !== renderCount) return;
    if (e instanceof ApiError && e.status === 401) { app.user = null; go('/signin', true); return; }
    mount(main, h('h1', {}, e instanceof ApiError && e.status === 404 ? 'Not found' : 'Something went wrong'),
      h('p', { class: 'error-text', 'data-test': 'page-error' }, e.message || String(e)));
  }
}

document.addEventListener('click', (e) => {
  if (e.target.closest('a.skip')) {
    // Skip to content: focus moves to the page, the address stays.
    e.preventDefault();
    document.getElementById('main').focus();
    return;
  }
  const a = e.target.closest('a[data-link]');
  if (!a || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
  e.preventDefault();
  go(a.getAttribute('href'));
});
window.addEventListener('popstate', render);

/** The UI's settings from /config; null (and a message) when they cannot be read. */
async function loadConfig() {
  try {
    const r = await fetch('/config', { credentials: 'same-origin', headers: { Accept: 'application/json' } });
    const body = await r.json().catch(() => null);
    if (r.ok && body && body.features && body.config) return body;
    const why = body && (body.error_message || body.message);
    toast(`The registry's settings could not be read${why ? `: ${why}` : ` (${r.status})`}. Some features may be hidden; reload the page to try again.`, 'error');
  } catch {
    toast('The registry cannot be reached. Check your connection and reload the page.', 'error');
  }
  return null;
}

async function start() {
  try {
    const [config] = await Promise.all([loadConfig(), refreshCsrf()]);
    if (config) app.config = config;
    await reloadUser();
  } catch (e) {
    toast(e.message || String(e), 'error');
  }
  await render();
}

start();
