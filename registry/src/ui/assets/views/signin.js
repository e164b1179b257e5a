// Sign in, and the first user of an empty registry.

import { h, mount, field, toast } from '../dom.js';
import { post } from '../api.js';
import { app, go, reloadUser, feature } from '../app.js';

export async function signinView(main, query) {
  if (app.user) { go(query.get('next') || '/repository', true); return; }
  const next = query.get('next') || '/repository';
  if (app.config.awaits_first_user) { firstUser(main, next); return; }
  const error = h('p', { class: 'error-text', 'data-test': 'signin-error', role: 'alert' });
  const form = h('form', { class: 'card', 'data-test': 'signin-form' },
    field('Username', h('input', { name: 'username', autocomplete: 'username', required: true })),
    field('Password', h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true })),
    error,
    h('p', {}, h('button', { type: 'submit', 'data-test': 'signin-submit' }, 'Sign in')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const data = new FormData(form);
    error.textContent = '';
    try {
      await post('/signin', { username: data.get('username'), password: data.get('password') });
      await reloadUser();
      toast(`Signed in as ${app.user.username}`);
      go(next);
    } catch (err) {
      error.textContent = err.message || 'Invalid username or password';
    }
  });
  mount(main, h('div', { class: 'signin' }, h('h1', {}, 'Sign in to ' + (app.config.config.REGISTRY_TITLE || 'the registry')),
    feature('DIRECT_LOGIN') ? form : h('p', {}, 'Password sign-in is turned off on this registry.'),
    feature('USER_CREATION') && feature('DIRECT_LOGIN') ? h('p', {}, 'No account yet? ',
      h('button', { class: 'link', 'data-test': 'show-create-account', onclick: () => createAccount(main, next) }, 'Create account')) : null));
  focusFirst(form);
}

/** Puts the cursor in the form's first field, so typing starts at once. */
function focusFirst(form) {
  const first = form.querySelector('input');
  if (first && document.body.contains(first)) first.focus();
}

function createAccount(main, next) {
  const error = h('p', { class: 'error-text', role: 'alert', 'data-test': 'create-account-error' });
  const form = h('form', { class: 'card', 'data-test': 'create-account-form' },
    field('Username', h('input', { name: 'username', autocomplete: 'username', required: true })),
    field('Email', h('input', { name: 'email', type: 'email', autocomplete: 'email', required: true })),
    field('Password', h('input', { name: 'password', type: 'password', autocomplete: 'new-password', required: true, minlength: 8 })),
    error,
    h('p', {}, h('button', { type: 'submit', 'data-test': 'create-account-submit' }, 'Create account')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const data = new FormData(form);
    try {
      const created = await post('/user/', { username: data.get('username'), password: data.get('password'), email: data.get('email') });
      if (created && created.awaiting_verification) {
        mount(main, h('div', { class: 'signin' }, h('h1', {}, 'Check your email'), h('p', {}, 'Confirm your email address, then sign in.')));
        return;
      }
      await post('/signin', { username: data.get('username'), password: data.get('password') });
      await reloadUser();
      toast(`Welcome, ${app.user.username}`);
      go(next);
    } catch (err) {
      error.textContent = err.message;
    }
  });
  mount(main, h('div', { class: 'signin' }, h('h1', {}, 'Create account'), form,
    h('p', {}, h('a', { href: '/signin', 'data-link': true }, 'Back to sign in'))));
  focusFirst(form);
}

function firstUser(main, next) {
  const error = h('p', { class: 'error-text', role: 'alert', 'data-test': 'init-error' });
  const form = h('form', { class: 'card', 'data-test': 'init-form' },
    h('p', {}, 'This registry has no users yet. Create the first one; list it under SUPER_USERS in config.yaml to make it a superuser.'),
    field('Username', h('input', { name: 'username', autocomplete: 'username', required: true })),
    field('Email', h('input', { name: 'email', type: 'email', autocomplete: 'email' })),
    field('Password', h('input', { name: 'password', type: 'password', autocomplete: 'new-password', required: true, minlength: 8 })),
    error,
    h('p', {}, h('button', { type: 'submit', 'data-test': 'init-submit' }, 'Create first user')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const data = new FormData(form);
    try {
      await post('/user/initialize', { username: data.get('username'), password: data.get('password'), email: data.get('email') || undefined });
      app.config.awaits_first_user = false;
      await reloadUser();
      toast(`Created ${app.user.username}`);
      go(next);
    } catch (err) {
      error.textContent = err.message;
    }
  });
  mount(main, h('div', { class: 'signin' }, h('h1', {}, 'Create the first user'), form));
  focusFirst(form);
}
