// A user's page: their repositories; for the signed-in user also robot
// accounts, usage logs and account settings (password, email, time
// machine window).

import { h, mount, table, dialog, field, act, when, tabs, toast } from '../dom.js';
import { get, put, post, enc } from '../api.js';
import { app, reloadUser } from '../app.js';
import { logsPanel } from './logs.js';
import { quotaUsage } from './namespace_settings.js';
import { robotsPanel } from './robots.js';

export async function accountView(main, name, query) {
  const mine = app.user && app.user.username === name;
  const tab = query.get('tab') || (mine ? 'settings' : 'repos');
  const base = `/user/${enc(name)}`;
  const entries = [['repos', 'Repositories', `${base}?tab=repos`]];
  if (mine) entries.push(['robots', 'Robot accounts', `${base}?tab=robots`], ['logs', 'Usage logs', `${base}?tab=logs`], ['settings', 'Account settings', `${base}?tab=settings`]);
  const body = h('div', { 'data-test': 'user-tab-' + tab });
  mount(main, h('h1', {}, name), tabs(tab, entries), body);
  if (mine && tab === 'robots') await robotsPanel(body, name, '/user/robots');
  else if (mine && tab === 'logs') await logsPanel(body, '/user', query);
  else if (mine && tab === 'settings') settingsPanel(body);
  else {
    const r = await get(`/repository?namespace=${encodeURIComponent(name)}&last_modified=true`);
    mount(body, table(['Name', 'Visibility', 'Last modified'], r.repositories.map((x) => h('tr', { 'data-test': 'repo-row' },
      h('td', {}, h('a', { href: `/repository/${enc(x.namespace)}/${enc(x.name)}`, 'data-link': true }, x.name)),
      h('td', {}, x.is_public ? 'public' : 'private'), h('td', {}, when(x.last_modified)))), 'No repositories you can see.'));
  }
}

/** Runs a change; when the registry asks for a recent sign-in, asks for the password and repeats it. */
async function fresh(fn) {
  try {
    return await fn();
  } catch (e) {
    if (!(e.body && e.body.error_type === 'fresh_login_required')) throw e;
    const data = await dialog('Confirm your password', [field('Current password', h('input', { name: 'password', type: 'password', required: true, autocomplete: 'current-password', 'data-test': 'verify-password' }))], 'Verify');
    if (!data) throw new Error('Not changed: the password was not confirmed');
    await post('/signin/verify', { password: data.get('password') });
    return fn();
  }
}

function settingsPanel(body) {
  const u = app.user;
  const email = h('input', { name: 'email', type: 'email', value: u.email || '', 'data-test': 'account-email' });
  const emailForm = h('form', {}, field('Email address', email), h('p', {}, h('button', { type: 'submit', 'data-test': 'account-email-save' }, 'Change email')));
  emailForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const done = await act(() => fresh(() => put('/user/', { email: email.value })), 'Email address changed');
    if (done !== undefined) await reloadUser();
  });
  const pw = h('input', { name: 'password', type: 'password', required: true, minlength: 8, autocomplete: 'new-password', 'data-test': 'account-password' });
  const pw2 = h('input', { name: 'password2', type: 'password', required: true, autocomplete: 'new-password', 'data-test': 'account-password2' });
  const pwForm = h('form', {}, field('New password', pw), field('Confirm new password', pw2), h('p', {}, h('button', { type: 'submit', 'data-test': 'account-password-save' }, 'Change password')));
  pwForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (pw.value !== pw2.value) { toast('The passwords do not match', 'error'); return; }
    const done = await act(() => fresh(() => put('/user/', { password: pw.value })), 'Password changed');
    if (done !== undefined) pwForm.reset();
  });
  const options = app.config.config.TAG_EXPIRATION_OPTIONS || [];
  const tm = h('select', { name: 'tag_expiration_s', 'data-test': 'account-time-machine' }, options.map((o) => {
    const s = seconds(o);
    return h('option', { value: s, selected: s === u.tag_expiration_s }, o);
  }));
  const tmForm = h('form', {}, field('Time machine window', tm, 'How long deleted and moved tags of your repositories can be restored.'),
    h('p', {}, h('button', { type: 'submit', 'data-test': 'account-time-machine-save' }, 'Save')));
  tmForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const done = await act(() => put('/user/', { tag_expiration_s: Number(tm.value) }), 'Time machine window saved');
    if (done !== undefined) await reloadUser();
  });
  mount(body,
    h('div', { class: 'card' }, h('h2', {}, 'Account'), h('dl', { class: 'grid2' },
      h('dt', {}, 'Username'), h('dd', { 'data-test': 'account-username' }, u.username),
      h('dt', {}, 'Superuser'), h('dd', {}, u.super_user ? 'yes' : 'no'),
      u.quota_report ? [h('dt', {}, 'Storage used'), h('dd', { 'data-test': 'account-quota' }, quotaUsage(u.quota_report))] : null)),
    h('div', { class: 'card' }, h('h2', {}, 'Email'), emailForm),
    h('div', { class: 'card' }, h('h2', {}, 'Password'), pwForm),
    options.length ? h('div', { class: 'card' }, h('h2', {}, 'Time machine'), tmForm) : null);
}

function seconds(option) {
  const m = String(option).match(/^(\d+)\s*([smhdw])$/);
  if (!m) return 0;
  return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400, w: 604800 }[m[2]];
}
