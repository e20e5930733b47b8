// The one way Studio talks to the server: same-origin fetches with the session cookie, the
// CSRF token on every state-changing request, and errors as ApiError with the server's
// stable code (X-Tessera-Error) and one-line reason.

import { pathIn } from './document.js';

let csrf = null;
let onSignedOut = () => {};

export class ApiError extends Error {
  constructor(status, code, message, path) {
    super(message || `HTTP ${status}`);
    this.status = status;
    this.code = code || '';
    // The JSON path a template error names ("$.layers[2].size"), when there is one.
    this.path = path || null;
  }
}

export function setCsrf(token) { csrf = token; }
export function whenSignedOut(fn) { onSignedOut = fn; }


export async function request(method, url, { json, body, headers = {}, raw = false } = {}) {
  const init = { method, credentials: 'same-origin', headers: { ...headers } };
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers['Content-Type'] = 'application/json';
  } else if (body !== undefined) {
    init.body = body;
  }
  if (method !== 'GET' && method !== 'HEAD' && csrf) init.headers['X-CSRF-Token'] = csrf;
  let res;
  try {
    res = await fetch(url, init);
  } catch (e) {
    throw new ApiError(0, 'network', 'The server could not be reached.');
  }
  if (!res.ok) {
    const text = (await res.text()).trim();
    const code = res.headers.get('X-Tessera-Error');
    if (res.status === 401 && url !== '/auth/login') onSignedOut();
    throw new ApiError(res.status, code, text.split('\n')[0], pathIn(text));
  }
  if (raw) return res;
  const type = res.headers.get('Content-Type') || '';
  if (type.includes('json')) return res.json();
  return res.text();
}

export const api = {
  get: (url, opts) => request('GET', url, opts),
  post: (url, json, opts = {}) => request('POST', url, { ...opts, json }),
  put: (url, json, opts = {}) => request('PUT', url, { ...opts, json }),
  patch: (url, json, opts = {}) => request('PATCH', url, { ...opts, json }),
  del: (url, opts) => request('DELETE', url, opts),
};

// A path segment or query value, encoded.
export const enc = encodeURIComponent;

// Query string from an object, leaving out empty values.
export function query(params) {
  const parts = [];
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === '') continue;
    parts.push(`${enc(k)}=${enc(v)}`);
  }
  return parts.length ? `?${parts.join('&')}` : '';
}
