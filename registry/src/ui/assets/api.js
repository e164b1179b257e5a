// The /api/v1 client: session cookie, CSRF token, Quay's error bodies.

let csrf = null;

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

function messageOf(status, body) {
  if (body && typeof body === 'object') {
    return body.error_message || body.detail || body.message || body.error_description || body.error || `Request failed (${status})`;
  }
  if (typeof body === 'string' && body) return body;
  return `Request failed (${status})`;
}

export async function request(method, path, body, base = '/api/v1') {
  const headers = { 'X-Requested-With': 'XMLHttpRequest', Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD') {
    if (!csrf) await refreshCsrf();
    if (csrf) headers['X-CSRF-Token'] = csrf;
  }
  let res;
  try {
    res = await fetch(base + path, { method, headers, credentials: 'same-origin', body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new ApiError(0, 'The registry cannot be reached. Check your connection and try again.');
  }
  const next = res.headers.get('X-Next-CSRF-Token');
  if (next) csrf = next;
  const text = await res.text();
  let parsed = text;
  try { parsed = text ? JSON.parse(text) : null; } catch { /* plain text */ }
  if (!res.ok) throw new ApiError(res.status, messageOf(res.status, parsed), parsed);
  return parsed;
}

export async function refreshCsrf() {
  try {
    const r = await fetch('/csrf_token', { headers: { 'X-Requested-With': 'XMLHttpRequest' }, credentials: 'same-origin' });
    if (r.ok) csrf = (await r.json()).csrf_token;
  } catch { /* the next call reports the outage */ }
}

export const get = (p) => request('GET', p);
export const post = (p, b) => request('POST', p, b === undefined ? {} : b);
export const put = (p, b) => request('PUT', p, b === undefined ? {} : b);
export const del = (p) => request('DELETE', p);

export function enc(s) {
  return String(s).split('/').map(encodeURIComponent).join('/');
}
