// Small DOM helpers shared by every view.

/** Builds an element: h('a', {href: '/x', class: 'c', onclick: fn}, 'text', child). */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'value') el.value = v;
    else if (k === 'checked') el.checked = !!v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function mount(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

/** A message in the corner: success by default, 'error' for failures. */
export function toast(message, kind) {
  const box = document.getElementById('toasts');
  const t = h('div', { class: 'toast' + (kind === 'error' ? ' error' : ''), 'data-test': 'toast' }, message);
  box.append(t);
  setTimeout(() => t.remove(), kind === 'error' ? 9000 : 5000);
}

/** Runs an action, showing its success message or its error. */
export async function act(fn, success) {
  try {
    const r = await fn();
    if (success) toast(success);
    return r;
  } catch (e) {
    toast(e.message || String(e), 'error');
    return undefined;
  }
}

/**
 * A modal dialog. `fields` is a form body; resolves with the form's
 * FormData on submit, or null when cancelled.
 */
export function dialog(title, body, submitLabel = 'OK', opts = {}) {
  return new Promise((resolve) => {
    // A dialog with no submit button only shows things (or panels with
    // forms of their own), so it is no form itself: forms do not nest.
    const form = h(submitLabel ? 'form' : 'div', { method: submitLabel ? 'dialog' : null },
      h('div', { class: 'dialog-head' }, title),
      h('div', { class: 'dialog-body' }, body),
      h('div', { class: 'dialog-actions' },
        submitLabel ? h('button', { type: 'submit', class: opts.danger ? 'danger' : '', 'data-test': 'dialog-submit' }, submitLabel) : null,
        h('button', { type: 'button', class: 'secondary', 'data-test': 'dialog-cancel', onclick: () => { d.close(); } }, submitLabel ? 'Cancel' : 'Close')));
    const d = h('dialog', { 'aria-label': title }, form);
    let done = false;
    form.addEventListener('submit', (e) => {
      if (e.target !== form) return;
      e.preventDefault();
      if (!form.reportValidity()) return;
      done = true;
      const data = new FormData(form);
      d.close();
      resolve(data);
    });
    d.addEventListener('close', () => { d.remove(); if (!done) resolve(null); });
    document.body.append(d);
    d.showModal();
    const first = form.querySelector('input:not([type=hidden]), select, textarea');
    if (first) first.focus();
  });
}

export async function confirmAction(title, text, label = 'Delete') {
  return (await dialog(title, h('p', {}, text), label, { danger: true })) !== null;
}

/** A labelled input. */
export function field(label, input, help) {
  if (!input.id) input.id = 'f-' + Math.random().toString(36).slice(2);
  return h('div', { class: 'field' }, h('label', { for: input.id }, label), input, help ? h('p', { class: 'help' }, help) : null);
}

/** A read-only text with a copy button. */
export function copyBox(value, testName) {
  const input = h('input', { readonly: true, value, 'data-test': testName || 'copy-value', 'aria-label': 'Value to copy' });
  const button = h('button', {
    type: 'button', class: 'secondary', 'data-test': 'copy-button',
    onclick: async () => {
      input.select();
      try { await navigator.clipboard.writeText(value); toast('Copied to clipboard'); }
      catch { document.execCommand && document.execCommand('copy'); toast('Copied to clipboard'); }
    },
  }, 'Copy');
  return h('div', { class: 'copy' }, input, button);
}

/** Dates in the viewer's locale: seconds since the epoch, or a date text. */
export function when(v) {
  if (v === null || v === undefined || v === '') return '—';
  const d = typeof v === 'number' ? new Date(v * 1000) : new Date(v);
  return isNaN(d) ? String(v) : d.toLocaleString();
}

export function bytes(n) {
  if (n === null || n === undefined) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + ' ' + units[i];
}

export function table(headers, rows, empty) {
  if (!rows.length) return h('div', { class: 'empty' }, empty || 'Nothing here yet.');
  return h('table', {},
    h('thead', {}, h('tr', {}, headers.map((x) => h('th', { scope: 'col' }, x)))),
    h('tbody', {}, rows));
}

/** Pages of `size` over `items`, rendered by `render(pageItems)`. */
export function paged(items, size, render) {
  const box = h('div');
  let page = 0;
  const draw = () => {
    const pages = Math.max(1, Math.ceil(items.length / size));
    page = Math.min(page, pages - 1);
    mount(box, render(items.slice(page * size, page * size + size)),
      items.length > size ? h('div', { class: 'pager' },
        h('span', {}, `${page * size + 1}–${Math.min(items.length, page * size + size)} of ${items.length}`),
        h('button', { class: 'secondary', disabled: page === 0, onclick: () => { page--; draw(); } }, 'Previous'),
        h('button', { class: 'secondary', disabled: page >= pages - 1, onclick: () => { page++; draw(); } }, 'Next')) : null);
  };
  draw();
  return box;
}

export function tabs(current, entries) {
  return h('div', { class: 'tabs', role: 'tablist' }, entries.map(([key, label, href]) =>
    h('a', { href, 'data-link': true, role: 'tab', class: key === current ? 'active' : '', 'aria-selected': String(key === current), 'data-test': 'tab-' + key }, label)));
}

export function select(name, options, value) {
  return h('select', { name }, options.map(([v, label]) => h('option', { value: v, selected: v === value }, label)));
}
