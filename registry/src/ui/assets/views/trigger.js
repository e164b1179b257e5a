// Setting up a build trigger: the page /customtrigger/setup/{repo} sends
// the browser to once it has made an inactive custom-git trigger. The
// admin names the git repository, the Dockerfile and the tagging, then
// activates it and copies the deploy key and the webhook URL, which are
// shown in full only now.

import { h, mount, field, act, copyBox, confirmAction, select } from '../dom.js';
import { get, post, del, enc } from '../api.js';
import { go } from '../app.js';

export async function triggerView(main, ns, name, uuid) {
  const path = `${enc(ns)}/${enc(name)}`;
  const builds = `/repository/${path}?tab=builds`;
  const t = await get(`/repository/${path}/trigger/${encodeURIComponent(uuid)}`);
  const crumbs = h('div', { class: 'breadcrumb' }, h('a', { href: '/repository', 'data-link': true }, 'Repositories'), ' / ',
    h('a', { href: `/repository/${path}`, 'data-link': true }, `${ns}/${name}`), ' / ', h('a', { href: builds, 'data-link': true }, 'Builds'));
  if (t.is_active) {
    mount(main, crumbs, h('h1', {}, 'Build trigger'), h('div', { class: 'card' }, summary(t), credentials(t, false)),
      h('a', { class: 'button', href: builds, 'data-link': true }, 'Back to builds'));
    return;
  }
  const robots = await get(`/organization/${enc(ns)}/robots`).catch(() => get('/user/robots').catch(() => ({ robots: [] })));
  const robot = select('pull_robot', [['', 'None'], ...(robots.robots || []).map((r) => [r.name, r.name])], '');
  robot.setAttribute('data-test', 'trigger-robot');
  const form = h('form', { class: 'card', 'data-test': 'trigger-form' },
    h('h2', {}, 'Git repository'),
    field('Repository URL', h('input', { name: 'build_source', required: true, placeholder: 'git@git.example.com:team/app.git', 'data-test': 'trigger-source' }),
      'The address the builder clones with the deploy key (SSH) shown after activation.'),
    h('h2', {}, 'Dockerfile'),
    field('Dockerfile path', h('input', { name: 'dockerfile_path', value: '/Dockerfile', required: true, pattern: '/.*', 'data-test': 'trigger-dockerfile' }), 'Within the git repository, starting with /.'),
    field('Context', h('input', { name: 'context', value: '/', required: true, pattern: '/.*', 'data-test': 'trigger-context' }), 'The folder sent to the build.'),
    h('h2', {}, 'Tagging'),
    h('label', { class: 'inline' }, h('input', { type: 'checkbox', name: 'default_tag_from_ref', checked: true }), 'Tag manifest with the branch or tag name'),
    h('label', { class: 'inline' }, h('input', { type: 'checkbox', name: 'latest_for_default_branch', checked: true }), 'Tag "latest" for the default branch'),
    field('Tag templates', h('input', { name: 'tag_templates', placeholder: '${commit_info.short_sha}, v1', 'data-test': 'trigger-templates' }),
      'More tags, separated by commas; ${commit_info.short_sha}, ${parsed_ref.branch} and the like are filled in from the push.'),
    field('Branches and tags to build', h('input', { name: 'branchtag_regex', placeholder: 'heads/main|tags/.*', 'data-test': 'trigger-regex' }),
      'A regular expression over the ref (heads/<branch>, tags/<tag>); empty builds every push.'),
    h('h2', {}, 'Robot account'),
    field('Pull robot', robot, 'Credentials for private base images the Dockerfile pulls from this registry.'),
    h('div', { class: 'toolbar' },
      h('button', { type: 'submit', 'data-test': 'trigger-activate' }, 'Activate trigger'),
      h('button', { type: 'button', class: 'secondary', 'data-test': 'trigger-discard', onclick: async () => {
        if (!(await confirmAction('Discard trigger', 'Delete this trigger before it is set up?', 'Discard'))) return;
        const done = await act(() => del(`/repository/${path}/trigger/${encodeURIComponent(uuid)}`), 'Trigger discarded');
        if (done !== undefined) go(builds);
      } }, 'Discard')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const d = new FormData(form);
    const config = {
      build_source: String(d.get('build_source')).trim(),
      dockerfile_path: String(d.get('dockerfile_path')).trim(),
      context: String(d.get('context')).trim(),
      default_tag_from_ref: d.get('default_tag_from_ref') === 'on',
      latest_for_default_branch: d.get('latest_for_default_branch') === 'on',
      tag_templates: String(d.get('tag_templates') || '').split(',').map((x) => x.trim()).filter(Boolean),
    };
    if (String(d.get('branchtag_regex') || '').trim()) config.branchtag_regex = String(d.get('branchtag_regex')).trim();
    const body = { config };
    if (d.get('pull_robot')) body.pull_robot = d.get('pull_robot');
    const activated = await act(() => post(`/repository/${path}/trigger/${encodeURIComponent(uuid)}/activate`, body), 'Trigger activated');
    if (!activated) return;
    mount(main, crumbs, h('h1', {}, 'Trigger activated'),
      h('div', { class: 'card', 'data-test': 'trigger-activated' }, summary(activated), credentials(activated, true)),
      h('a', { class: 'button', href: builds, 'data-link': true, 'data-test': 'trigger-done' }, 'Done'));
  });
  mount(main, crumbs, h('h1', {}, 'Set up build trigger: custom Git repository push'), form);
}

function summary(t) {
  const c = t.config || {};
  return h('dl', { class: 'grid2' },
    h('dt', {}, 'Git repository'), h('dd', { class: 'mono' }, t.build_source || c.build_source || '—'),
    h('dt', {}, 'Dockerfile'), h('dd', { class: 'mono' }, c.dockerfile_path || '/Dockerfile'),
    h('dt', {}, 'Context'), h('dd', { class: 'mono' }, c.context || '/'),
    h('dt', {}, 'Tags'), h('dd', {}, [c.default_tag_from_ref !== false ? 'branch or tag name' : null, c.latest_for_default_branch !== false ? 'latest for the default branch' : null,
      ...(c.tag_templates || [])].filter(Boolean).join(', ') || '—'),
    h('dt', {}, 'Pull robot'), h('dd', {}, t.pull_robot ? t.pull_robot.name : 'none'));
}

function credentials(t, fresh) {
  const creds = (t.config && t.config.credentials) || [];
  if (!creds.length) return null;
  return h('div', {},
    h('h2', {}, 'Credentials'),
    h('p', { class: fresh ? 'warning' : 'help' }, fresh
      ? 'Add the SSH public key as a read-only deploy key of the git repository, and the webhook URL as a push webhook (POST, JSON). The URL holds a secret and is shown only now.'
      : 'The webhook URL\'s secret was shown only when the trigger was activated.'),
    creds.map((c) => [h('p', { class: 'help' }, c.name), copyBox(c.value, c.name === 'SSH Public Key' ? 'trigger-public-key' : 'trigger-webhook-url')]));
}
