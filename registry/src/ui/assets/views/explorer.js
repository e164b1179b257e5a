// The API explorer (/api/v1/explorer): the endpoints the discovery
// document lists, grouped by family, and a form per operation that calls
// it with the signed-in session (or anonymously) and shows the answer.

import { h, mount, field } from '../dom.js';
import { get, request, ApiError } from '../api.js';

const METHODS = ['get', 'post', 'put', 'delete'];

/** An example body from a schema: each property's type, as a start. */
function example(schema, defs, depth = 0) {
  if (!schema || depth > 4) return {};
  if (schema.$ref) return example(defs[schema.$ref.replace('#/definitions/', '')], defs, depth + 1);
  if (schema.enum) return schema.enum[0];
  switch (schema.type) {
    case 'object': {
      const out = {};
      for (const [k, v] of Object.entries(schema.properties || {})) out[k] = example(v, defs, depth + 1);
      return out;
    }
    case 'array': return [];
    case 'integer': case 'number': return 0;
    case 'boolean': return false;
    case 'string': return '';
    default: return null;
  }
}

function operationPanel(path, method, op, defs) {
  const inputs = {};
  const params = (op.parameters || []).filter((p) => p.in === 'path' || p.in === 'query');
  const bodyParam = (op.parameters || []).find((p) => p.in === 'body');
  const fields = params.map((p) => {
    const input = h('input', { name: p.name, 'data-test': `param-${p.name}`, placeholder: p.type || 'string' });
    inputs[p.name] = [p, input];
    return field(`${p.name} (${p.in}${p.required ? ', required' : ''})`, input, p.description || null);
  });
  const body = bodyParam
    ? h('textarea', { rows: 8, class: 'mono', 'data-test': 'param-body', 'aria-label': 'Request body' }, JSON.stringify(example(bodyParam.schema, defs), null, 2))
    : null;
  const status = h('div', { 'data-test': 'response-status', role: 'status' });
  const output = h('pre', { class: 'json', 'data-test': 'response-body' });
  const send = async (e) => {
    e.preventDefault();
    let url = path.replace(/^\/api\/v1/, '');
    const query = new URLSearchParams();
    for (const [name, [p, input]] of Object.entries(inputs)) {
      if (p.in === 'path') url = url.replace(`{${name}}`, p.name === 'repo' ? input.value.split('/').map(encodeURIComponent).join('/') : encodeURIComponent(input.value));
      else if (input.value !== '') query.append(name, input.value);
    }
    if ([...query].length) url += '?' + query;
    let payload;
    if (body) {
      try { payload = body.value.trim() ? JSON.parse(body.value) : undefined; } catch { mount(status, 'The body is not valid JSON.'); return; }
    }
    mount(status, 'Sending…');
    try {
      const r = await request(method.toUpperCase(), url, payload);
      mount(status, `${method.toUpperCase()} ${url}: OK`);
      output.textContent = r === null || r === undefined ? '(no content)' : JSON.stringify(r, null, 2);
    } catch (err) {
      mount(status, err instanceof ApiError ? `${method.toUpperCase()} ${url}: ${err.status || 'no answer'}` : String(err));
      output.textContent = err instanceof ApiError && err.body ? JSON.stringify(err.body, null, 2) : (err.message || '');
    }
  };
  const scopes = (op.security || []).flatMap((s) => Object.values(s).flat());
  return h('form', { class: 'card', 'data-test': 'operation-form', onsubmit: send },
    op.description ? h('p', {}, op.description) : null,
    scopes.length ? h('p', { class: 'help' }, 'OAuth scope: ', scopes.join(', ')) : null,
    fields,
    body ? field('Body (JSON)', body) : null,
    h('button', { type: 'submit', 'data-test': 'send' }, 'Send'),
    status, output);
}

export async function explorerView(main, query) {
  const internal = query.get('internal') === 'true';
  const spec = await get('/discovery' + (internal ? '?internal=true' : ''));
  const defs = spec.definitions || {};
  const ops = [];
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const m of METHODS) if (item[m]) ops.push({ path, method: m, op: item[m], tag: item['x-tag'] });
  }
  ops.sort((a, b) => a.tag.localeCompare(b.tag) || a.path.localeCompare(b.path) || METHODS.indexOf(a.method) - METHODS.indexOf(b.method));
  const filter = h('input', { type: 'search', placeholder: 'Filter by path or operation', 'aria-label': 'Filter endpoints', 'data-test': 'explorer-filter' });
  const list = h('div');
  const draw = () => {
    const needle = filter.value.trim().toLowerCase();
    const shown = ops.filter((o) => !needle || o.path.toLowerCase().includes(needle) || o.op.operationId.toLowerCase().includes(needle));
    const groups = new Map();
    for (const o of shown) { if (!groups.has(o.tag)) groups.set(o.tag, []); groups.get(o.tag).push(o); }
    mount(list, [...groups].map(([tag, items]) => h('section', { 'data-test': `tag-${tag}` },
      h('h2', {}, tag),
      items.map((o) => {
        const details = h('details', { 'data-test': `op-${o.op.operationId}` },
          h('summary', {}, h('span', { class: 'label' }, o.method.toUpperCase()), ' ', h('code', {}, o.path), ' ', h('span', { class: 'help' }, o.op.operationId)));
        details.addEventListener('toggle', () => {
          if (details.open && details.children.length === 1) details.append(operationPanel(o.path, o.method, o.op, defs));
        }, { once: false });
        return details;
      }))),
    shown.length ? null : h('div', { class: 'empty' }, 'No endpoint matches.'));
  };
  filter.addEventListener('input', draw);
  draw();
  mount(main,
    h('h1', {}, 'API explorer'),
    h('p', {}, `${ops.length} operations of ${spec.info.title}. The document is at `, h('a', { href: '/api/v1/discovery', 'data-test': 'discovery-link' }, '/api/v1/discovery'),
      internal ? '; internal endpoints are shown.' : '.'),
    h('p', {}, h('a', { href: internal ? '/api/v1/explorer' : '/api/v1/explorer?internal=true', 'data-link': true, 'data-test': 'toggle-internal' }, internal ? 'Hide internal endpoints' : 'Show internal endpoints')),
    filter, list);
}
