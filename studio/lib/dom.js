// Building the page without innerHTML: every value is text, so nothing a user types (a
// template name, a field value, a server reason) can become markup.

// h('button', { class: 'primary', onclick: fn, 'aria-label': 'Save' }, 'Save')
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'value' || k === 'checked' || k === 'selected' || k === 'disabled') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

// Replaces an element's children.
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let toastBox = null;
// A short message in the corner: kind is 'ok' or 'error'.
export function toast(message, kind = 'ok') {
  toastBox = toastBox || document.getElementById('toasts');
  const t = h('div', { class: `toast ${kind}` }, message);
  toastBox.append(t);
  setTimeout(() => t.remove(), kind === 'error' ? 8000 : 4000);
}

// A labelled form control: field('Name', input) → <label>Name <input></label> with an error slot.
export function field(label, control, { hint, error } = {}) {
  const id = control.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  control.id = id;
  const wrap = h('div', { class: 'field' },
    h('label', { for: id }, label),
    control,
    hint ? h('small', { class: 'hint' }, hint) : null,
    h('small', { class: 'error', role: 'alert', id: `${id}-error` }, error || ''));
  control.setAttribute('aria-describedby', `${id}-error`);
  return wrap;
}

// Shows or clears the error of a control made with field().
export function setError(control, message) {
  const slot = document.getElementById(`${control.id}-error`);
  if (slot) slot.textContent = message || '';
  if (message) control.setAttribute('aria-invalid', 'true');
  else control.removeAttribute('aria-invalid');
}

// A modal dialog (native <dialog>): resolves with the returned value, or null when cancelled.
export function dialog(title, body, actions) {
  return new Promise((resolve) => {
    const d = h('dialog', { 'aria-label': title }, h('h2', {}, title), body,
      h('div', { class: 'actions' }, ...actions.map(([label, value, cls]) =>
        h('button', { type: 'button', class: cls || '', onclick: () => { d.close(); resolve(value); } }, label))));
    d.addEventListener('cancel', () => resolve(null));
    d.addEventListener('close', () => d.remove());
    document.body.append(d);
    d.showModal();
  });
}

// Copies text and says so.
export async function copy(text, what = 'Copied') {
  try {
    await navigator.clipboard.writeText(text);
    toast(`${what} to the clipboard`);
  } catch {
    toast('Select the text and copy it (the clipboard is not available here)', 'error');
  }
}

// "3 minutes ago" for unix seconds.
export function ago(seconds) {
  if (!seconds) return '';
  const d = Math.round(Date.now() / 1000 - seconds);
  if (d < 60) return 'just now';
  if (d < 3600) return `${Math.round(d / 60)} min ago`;
  if (d < 86400) return `${Math.round(d / 3600)} h ago`;
  return new Date(seconds * 1000).toISOString().slice(0, 10);
}

// Debounce: fn runs once, ms after the last call.
export function later(fn, ms) {
  let t = null;
  const run = (...args) => { clearTimeout(t); t = setTimeout(() => fn(...args), ms); };
  run.cancel = () => clearTimeout(t);
  return run;
}
