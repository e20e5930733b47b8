// The template document as data: what the editor does to it (layers, boxes, fields, merge
// tags), the recipients the previews render, and where a server error's JSON path points.
// Pure functions with no DOM, so `node --test studio/lib/` checks them. Every function that
// changes a document returns a new one; the caller's stays as it was (undo keeps old ones).
//
// The format is README "Personalized images"; names, defaults and limits follow
// src/template/model.rs and src/template/fields.rs.

// ---------------------------------------------------------------------------------------
// Defaults and limits (as the server applies them when a key is absent)

export const MAX_SIDE = 8192;
export const FONTS = ['Noto Sans', 'Noto Sans Arabic', 'Noto Sans Hebrew'];
export const WEIGHTS = [100, 200, 300, 400, 500, 600, 700, 800, 900];
export const FIELD_KINDS = ['text', 'number', 'date', 'datetime', 'url'];
// Longest value of any field whatever the template says (templates.max_field_chars).
export const MAX_FIELD_CHARS = 256;

export const DEFAULTS = {
  text: { weight: 400, line_height: 1.2, color: '#000000', align: 'left', valign: 'top', max_lines: 1, case: 'none' },
  image: { fit: 'cover', circle: false },
  shape: { radius: 0, opacity: 1 },
  field: { kind: 'text', max_length: 64, open: false, default: '' },
};

export const TYPE_LABEL = { text: 'Text', image: 'Picture', shape: 'Shape', qr: 'QR code' };

const clone = (v) => (v === undefined ? undefined : JSON.parse(JSON.stringify(v)));

// A new template: a white 1200×630 canvas (the size of a link preview card) and nothing on it.
export function blankDocument() {
  return { canvas: { width: 1200, height: 630, background: '#ffffff' }, fields: {}, layers: [] };
}

// ---------------------------------------------------------------------------------------
// JSON paths: `$.layers[2].box.width`, as the server names the value it refuses

// ['layers', 2, 'box', 'width'] → '$.layers[2].box.width'
export function jsonPath(keys) {
  return '$' + keys.map((k) => (typeof k === 'number' ? `[${k}]` : `.${k}`)).join('');
}

export function getIn(doc, keys) {
  let v = doc;
  for (const k of keys) {
    if (v === null || typeof v !== 'object') return undefined;
    v = v[k];
  }
  return v;
}

// A copy of `doc` with the value at `keys` set; `undefined` removes the key (an absent
// optional property takes the server's default).
export function setIn(doc, keys, value) {
  const out = clone(doc);
  let v = out;
  for (const k of keys.slice(0, -1)) {
    if (v[k] === null || typeof v[k] !== 'object') v[k] = typeof k === 'number' ? [] : {};
    v = v[k];
  }
  const last = keys[keys.length - 1];
  if (value === undefined) delete v[last];
  else v[last] = value;
  return out;
}

// The JSON path a refusal names, wherever in the reason it stands ("invalid template:
// $.layers[0].text: merge tag names undeclared field 'x'" → "$.layers[0].text").
export function pathIn(message) {
  const m = /(?:^|\s)(\$(?:[.[][^\s:]*)?):\s/.exec(message || '');
  return m ? m[1] : null;
}

// The reason of a refusal after its path (the whole message when it names none).
export function reasonAfterPath(message, path) {
  const text = String(message || '');
  const at = path ? text.indexOf(`${path}: `) : -1;
  return at < 0 ? text : text.slice(at + path.length + 2);
}

// Where a server error's path points: a layer's property, a field's, the canvas's, or the
// document as a whole. Field names may hold dots, so they are matched against the document.
export function errorTarget(path, doc) {
  if (!path || path === '$') return { scope: 'document' };
  let m = /^\$\.layers\[(\d+)\](?:\.(.+))?$/.exec(path);
  if (m) return { scope: 'layer', index: Number(m[1]), key: m[2] || null };
  if (path.startsWith('$.fields.')) {
    const rest = path.slice('$.fields.'.length);
    const names = Object.keys(doc?.fields || {}).sort((a, b) => b.length - a.length);
    for (const name of names) {
      if (rest === name) return { scope: 'field', name, key: null };
      if (rest.startsWith(`${name}.`)) return { scope: 'field', name, key: rest.slice(name.length + 1) };
    }
    const dot = rest.indexOf('.');
    return dot < 0 ? { scope: 'field', name: rest, key: null } : { scope: 'field', name: rest.slice(0, dot), key: rest.slice(dot + 1) };
  }
  m = /^\$\.canvas(?:\.(.+))?$/.exec(path);
  if (m) return { scope: 'canvas', key: m[1] || null };
  m = /^\$\.([a-z_]+)/.exec(path);
  return { scope: 'document', key: m ? m[1] : null };
}

// Of the paths that have a control on screen, the one an error at `path` belongs to: the same
// path, else the nearest enclosing one ($.layers[1].box.x.foo → $.layers[1].box.x), else the
// first control inside it ($.canvas → $.canvas.background).
export function closestControl(path, controlPaths) {
  if (!path) return null;
  const paths = [...controlPaths];
  if (paths.includes(path)) return path;
  const within = (inner, outer) => inner.startsWith(outer) && /^[.[]/.test(inner.slice(outer.length));
  const enclosing = paths.filter((p) => within(path, p)).sort((a, b) => b.length - a.length);
  if (enclosing.length) return enclosing[0];
  return paths.find((p) => within(p, path)) || null;
}

// ---------------------------------------------------------------------------------------
// Lengths and boxes: px numbers or "N%" of the canvas side

export const isPercent = (len) => typeof len === 'string' && /%\s*$/.test(len);

export function toPx(len, side) {
  if (typeof len === 'number') return len;
  if (isPercent(len)) return (parseFloat(len) / 100) * side;
  return NaN;
}

// A layer's box in canvas pixels.
export function layerRect(doc, layer) {
  const { width: cw, height: ch } = doc.canvas;
  const b = layer.box || {};
  return { x: toPx(b.x, cw), y: toPx(b.y, ch), width: toPx(b.width, cw), height: toPx(b.height, ch) };
}

const round = (v) => Math.round(v * 100) / 100;

// A copy of layer `index` with its box at `rect` (canvas px). Only the sides that changed are
// rewritten, in whole pixels: a "100%" width stays "100%" when the box only moves down.
export function setLayerRect(doc, index, rect) {
  const layer = doc.layers[index];
  const now = layerRect(doc, layer);
  const box = { ...(layer.box || {}) };
  for (const k of ['x', 'y', 'width', 'height']) {
    if (!Number.isFinite(rect[k])) continue;
    if (Number.isFinite(now[k]) && Math.abs(now[k] - rect[k]) < 0.005) continue;
    box[k] = Math.round(rect[k]);
  }
  return setIn(doc, ['layers', index, 'box'], box);
}

// A box moved to (x, y), kept on the canvas's top and left sides (the server refuses
// negative positions; a box may run past the right and bottom edges and be cut there).
export function moveRect(rect, x, y) {
  return { ...rect, x: Math.max(0, x), y: Math.max(0, y) };
}

// A box resized by dragging `handle` ('n', 'se', 'w', …) by (dx, dy) canvas px. With
// `keepRatio` a corner keeps the box's proportions. Never smaller than 1 px, never left of or
// above the canvas.
export function resizeRect(start, handle, dx, dy, { keepRatio = false } = {}) {
  let { x, y, width, height } = start;
  const right = x + width;
  const bottom = y + height;
  if (handle.includes('e')) width = Math.max(1, start.width + dx);
  if (handle.includes('s')) height = Math.max(1, start.height + dy);
  if (handle.includes('w')) { x = Math.min(Math.max(0, start.x + dx), right - 1); width = right - x; }
  if (handle.includes('n')) { y = Math.min(Math.max(0, start.y + dy), bottom - 1); height = bottom - y; }
  if (keepRatio && handle.length === 2 && start.width > 0 && start.height > 0) {
    const ratio = start.width / start.height;
    // The side that moved most leads; the other follows.
    if (Math.abs(width / start.width) >= Math.abs(height / start.height)) height = Math.max(1, width / ratio);
    else width = Math.max(1, height * ratio);
    if (handle.includes('w')) x = Math.max(0, right - width);
    if (handle.includes('n')) y = Math.max(0, bottom - height);
  }
  return { x, y, width, height };
}

// Snapping while dragging: the box's edges and centre (moving) or its moving edges (resizing)
// jump to the canvas's edges and centre lines when within `threshold` canvas px. Returns the
// snapped box and the guide lines to draw ({axis: 'x', at: 600} is a vertical line).
export function snapRect(rect, canvas, threshold, handle = null) {
  const out = { ...rect };
  const guides = [];
  const axes = [
    ['x', 'width', canvas.width, 'w', 'e'],
    ['y', 'height', canvas.height, 'n', 's'],
  ];
  for (const [pos, size, side, lowHandle, highHandle] of axes) {
    const targets = [0, side / 2, side];
    let best = null;
    const consider = (value, apply) => {
      for (const t of targets) {
        const d = t - value;
        if (Math.abs(d) <= threshold && (!best || Math.abs(d) < Math.abs(best.d))) best = { d, t, apply };
      }
    };
    if (!handle) {
      consider(out[pos], (d) => { out[pos] += d; });
      consider(out[pos] + out[size] / 2, (d) => { out[pos] += d; });
      consider(out[pos] + out[size], (d) => { out[pos] += d; });
    } else {
      if (handle.includes(lowHandle)) {
        consider(out[pos], (d) => { if (out[size] - d >= 1) { out[pos] += d; out[size] -= d; } });
      }
      if (handle.includes(highHandle)) {
        consider(out[pos] + out[size], (d) => { if (out[size] + d >= 1) out[size] += d; });
      }
    }
    if (best) {
      best.apply(best.d);
      guides.push({ axis: pos, at: best.t });
    }
  }
  if (out.x < 0 || out.y < 0) return { rect: moveRect(out, out.x, out.y), guides };
  return { rect: out, guides };
}

// Arrow keys on a box: move 1 px (10 with shift); with alt/option, resize instead (right and
// down grow, left and up shrink). Null for any other key.
export function nudge(rect, key, { shift = false, alt = false } = {}) {
  const step = shift ? 10 : 1;
  const d = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] }[key];
  if (!d) return null;
  if (alt) {
    return { ...rect, width: Math.max(1, rect.width + d[0]), height: Math.max(1, rect.height + d[1]) };
  }
  return moveRect(rect, rect.x + d[0], rect.y + d[1]);
}

// ---------------------------------------------------------------------------------------
// Layers

export const layerLabel = (layer) => (layer.name && String(layer.name).trim()) || TYPE_LABEL[layer.type] || 'Layer';

// A line to tell layers apart in the panel: the text, the picture's source, the shape.
export function layerSummary(layer) {
  const cut = (s) => (s.length > 40 ? `${s.slice(0, 39)}…` : s);
  if (layer.type === 'text') return cut(String(layer.text ?? ''));
  if (layer.type === 'image') return cut(String(layer.source ?? ''));
  if (layer.type === 'shape') return `${layer.shape || 'rect'} ${layer.fill || ''}`.trim();
  if (layer.type === 'qr') return cut(String(layer.data ?? ''));
  return '';
}

// A new layer of `type`, centred on the canvas. `picture` is an identifier the server has
// (an image layer needs a default picture that exists).
export function newLayer(type, doc, { picture = 'avatar-default' } = {}) {
  const { width: cw, height: ch } = doc.canvas;
  const centred = (w, h) => ({ x: Math.max(0, Math.round((cw - w) / 2)), y: Math.max(0, Math.round((ch - h) / 2)), width: w, height: h });
  const fit = (w, h) => {
    const k = Math.min(1, (cw * 0.8) / w, (ch * 0.8) / h);
    return [Math.max(1, Math.round(w * k)), Math.max(1, Math.round(h * k))];
  };
  if (type === 'text') {
    const [w, h] = fit(Math.round(cw * 0.6), Math.round(ch * 0.2));
    const size = Math.max(8, Math.round(h * 0.45));
    return {
      type: 'text', box: centred(w, h), text: 'Your text here', font: FONTS[0], weight: 700,
      size, min_size: Math.max(4, Math.round(size / 2)), line_height: 1.2, color: '#14202e',
      align: 'center', valign: 'middle', max_lines: 2,
    };
  }
  if (type === 'image') {
    // At the right, vertically centred (a portrait beside a headline), so it does not land
    // on the middle of a new text layer.
    const side = fit(240, 240)[0];
    const box = centred(side, side);
    box.x = Math.max(0, Math.round(cw * 0.95 - side));
    return { type: 'image', box, source: picture, default: picture, fit: 'cover' };
  }
  const [w, h] = fit(320, 180);
  return { type: 'shape', box: centred(w, h), shape: 'rounded', radius: 16, fill: '#f5a623' };
}

// Adds `layer` on top of the others (drawn last). Returns the document and the new index.
export function addLayer(doc, layer) {
  const out = clone(doc);
  out.layers = out.layers || [];
  out.layers.push(clone(layer));
  return { doc: out, index: out.layers.length - 1 };
}

// A copy of layer `index` just above it, 20 px down and right so both can be seen.
export function duplicateLayer(doc, index) {
  const out = clone(doc);
  const copy = clone(out.layers[index]);
  if (copy.name) copy.name = `${copy.name} copy`;
  out.layers.splice(index + 1, 0, copy);
  const r = layerRect(out, copy);
  const moved = setLayerRect(out, index + 1, { ...r, x: r.x + 20, y: r.y + 20 });
  return { doc: moved, index: index + 1 };
}

export function deleteLayer(doc, index) {
  const out = clone(doc);
  out.layers.splice(index, 1);
  return out;
}

// Moves a layer `delta` places in drawing order (+1 brings it forward, over the next one).
export function moveLayer(doc, index, delta) {
  const to = Math.max(0, Math.min(doc.layers.length - 1, index + delta));
  if (to === index) return { doc, index };
  const out = clone(doc);
  const [layer] = out.layers.splice(index, 1);
  out.layers.splice(to, 0, layer);
  return { doc: out, index: to };
}

export function setHidden(doc, index, hidden) {
  return setIn(doc, ['layers', index, 'hidden'], hidden ? true : undefined);
}

// ---------------------------------------------------------------------------------------
// Merge tags: {{ field }} and {{ field | default: "there" }} (the grammar of fields.rs)

const NAME_CHAR = /[\p{L}\p{N}_.-]/u;

// The tags in `text`: [{field, default, start, end, nameStart, nameEnd}] (string indices),
// and the first syntax error as {what, at} (null when there is none).
export function parseTags(text) {
  const tags = [];
  let i = 0;
  const s = String(text ?? '');
  const spaces = (j) => { while (s[j] === ' ' || s[j] === '\t') j++; return j; };
  for (;;) {
    const open = s.indexOf('{{', i);
    if (open < 0) return { tags, error: null };
    let j = spaces(open + 2);
    const nameStart = j;
    while (j < s.length && NAME_CHAR.test(s[j])) j++;
    if (j === nameStart) return { tags, error: { what: 'expected a field name', at: j } };
    const tag = { field: s.slice(nameStart, j), default: null, start: open, nameStart, nameEnd: j };
    j = spaces(j);
    if (s[j] === '|') {
      j = spaces(j + 1);
      if (!s.startsWith('default', j)) return { tags, error: { what: 'the only filter is `default`', at: j } };
      j = spaces(j + 'default'.length);
      if (s[j] !== ':') return { tags, error: { what: 'expected `:` after `default`', at: j } };
      j = spaces(j + 1);
      if (s[j] !== '"') return { tags, error: { what: 'expected a quoted default', at: j } };
      let value = '';
      let k = j + 1;
      let closed = false;
      while (k < s.length) {
        const c = s[k];
        if (c === '"') { closed = true; k++; break; }
        if (c === '\\') {
          if (s[k + 1] !== '"' && s[k + 1] !== '\\') break;
          value += s[k + 1];
          k += 2;
          continue;
        }
        value += c;
        k++;
      }
      if (!closed) return { tags, error: { what: 'expected a quoted default', at: j } };
      tag.default = value;
      j = spaces(k);
    }
    if (!s.startsWith('}}', j)) return { tags, error: { what: 'expected `}}`', at: j } };
    tag.end = j + 2;
    tags.push(tag);
    i = tag.end;
  }
}

// The tag that prints `field`, or `fallback` when the value is missing or refused.
export function mergeTag(field, fallback = '') {
  if (!fallback) return `{{ ${field} }}`;
  const quoted = String(fallback).replace(/\\/g, '\\\\').replace(/"/g, '\\"');
  return `{{ ${field} | default: "${quoted}" }}`;
}

// `insert` put in place of value[start, end): the new value and where the caret goes.
export function insertAt(value, start, end, insert) {
  const v = String(value ?? '');
  const a = Math.max(0, Math.min(start ?? v.length, v.length));
  const b = Math.max(a, Math.min(end ?? a, v.length));
  return { value: v.slice(0, a) + insert + v.slice(b), caret: a + insert.length };
}

// The properties of a layer that hold merge tags.
const TAGGED = { text: 'text', image: 'source' };

// Indices of the layers whose merge tags name `field`.
export function fieldUses(doc, field) {
  const out = [];
  (doc.layers || []).forEach((layer, i) => {
    const key = TAGGED[layer.type];
    if (key && parseTags(layer[key]).tags.some((t) => t.field === field)) out.push(i);
  });
  return out;
}

// ---------------------------------------------------------------------------------------
// Fields

export const validFieldName = (name) => /^[\p{L}\p{N}_.-]+$/u.test(name);

export function newField() {
  return { ...DEFAULTS.field };
}

export function addField(doc, name, spec = newField()) {
  return setIn(doc, ['fields', name], spec);
}

export function deleteField(doc, name) {
  const out = clone(doc);
  delete out.fields[name];
  return out;
}

// Renames a field where it is declared and in every merge tag that names it, keeping the
// fields' order.
export function renameField(doc, from, to) {
  if (from === to) return doc;
  const out = clone(doc);
  const fields = {};
  for (const [k, v] of Object.entries(out.fields || {})) fields[k === from ? to : k] = v;
  out.fields = fields;
  out.layers = (out.layers || []).map((layer) => {
    const key = TAGGED[layer.type];
    if (!key || typeof layer[key] !== 'string') return layer;
    const { tags } = parseTags(layer[key]);
    let text = layer[key];
    // From the end, so earlier indices stay right.
    for (const t of [...tags].reverse()) {
      if (t.field === from) text = text.slice(0, t.nameStart) + to + text.slice(t.nameEnd);
    }
    return { ...layer, [key]: text };
  });
  return out;
}

// ---------------------------------------------------------------------------------------
// The three recipients the previews render

// A plausible value to start the sample recipient with, guessed from the field's name and
// kind (the designer types over it). Empty for `url` fields: their picture's default shows.
export function sampleValue(name, spec = {}) {
  const kind = spec.kind || 'text';
  const max = Math.min(spec.max_length ?? 64, MAX_FIELD_CHARS);
  let v = '';
  if (kind === 'number') v = '42';
  else if (kind === 'date') v = '2026-12-03';
  else if (kind === 'url') v = '';
  else {
    const n = name.toLowerCase();
    v = /first|given|fname/.test(n) ? 'Ana'
      : /last|sur|family|lname/.test(n) ? 'Lima'
        : /company|org|business|team/.test(n) ? 'Acme Museum'
          : /city|town|place/.test(n) ? 'Lisbon'
            : /host|speaker|rep|agent/.test(n) ? 'Eileen Collins'
              : /name/.test(n) ? 'Ana Lima'
                : /when|time|date/.test(n) ? 'Thursday 3 December, 17:00'
                  : /code|coupon|promo/.test(n) ? 'SPRING25'
                    : 'Sample text';
  }
  return v.slice(0, max);
}

// The longest recipient: every field at its longest accepted value, to see the worst case.
// Text is 7-letter words of "W" (the widest Latin capital in Noto Sans) separated by single
// spaces, so wrapping, shrinking to min_size and the final "…" all show, as real long names
// and company names would; it never ends in a space (values are trimmed). Numbers are 9s;
// dates have one length; `url` fields are left out (a picture has no "longest").
export function longestValue(spec = {}) {
  const n = Math.max(1, Math.min(spec.max_length ?? 64, MAX_FIELD_CHARS));
  const kind = spec.kind || 'text';
  if (kind === 'url') return null;
  if (kind === 'date') return '2026-12-31';
  if (kind === 'number') return '9'.repeat(n);
  let v = '';
  while (v.length < n) v += 'WWWWWWW ';
  v = v.slice(0, n);
  return v.endsWith(' ') ? `${v.slice(0, -1)}W` : v;
}

export function longestValues(doc) {
  const out = {};
  for (const [name, spec] of Object.entries(doc.fields || {})) {
    const v = longestValue(spec);
    if (v !== null) out[name] = v;
  }
  return out;
}

// The sample recipient's values: what was typed, else the guess; empty ones are left out.
export function sampleValues(doc, typed = {}) {
  const out = {};
  for (const [name, spec] of Object.entries(doc.fields || {})) {
    const v = name in typed ? typed[name] : sampleValue(name, spec);
    if (v !== '' && v !== null && v !== undefined) out[name] = v;
  }
  return out;
}

// A draft preview rendered by Tessera, at most w×h, for these values. `counter` makes each
// refresh a new URL (drafts change under the same identifier).
export function previewUrl(iiif, qualified, values, { width, height, counter = 0, canvas } = {}) {
  const w = Math.max(1, Math.round(canvas ? Math.min(width, canvas.width) : width));
  const hgt = Math.max(1, Math.round(canvas ? Math.min(height, canvas.height) : height));
  const q = Object.entries(values || {})
    .filter(([, v]) => v !== undefined && v !== null)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`);
  q.push(`_=${counter}`);
  return `${iiif}/tpl~${encodeURIComponent(qualified)}~draft/full/!${w},${hgt}/0/default.png?${q.join('&')}`;
}

// X-Tessera-Fallbacks ("first_name=missing, company=too-long") as [{field, reason}].
export function parseFallbacks(header) {
  if (!header) return [];
  return header.split(',').map((part) => part.trim()).filter(Boolean).map((part) => {
    const eq = part.lastIndexOf('=');
    return eq < 0 ? { field: part, reason: '' } : { field: part.slice(0, eq), reason: part.slice(eq + 1) };
  });
}

const REASONS = {
  missing: 'no value, so the default shows',
  empty: 'empty, so the default shows',
  'too-long': 'longer than its max length, so the default shows',
  invalid: 'not a valid value for its kind or pattern, so the default shows',
  denied: 'holds a denied word, so the default shows',
  uncovered: 'has a character no font can draw, so the default shows',
  unfilled: 'an email platform tag left unfilled, so the default shows',
};

export const explainFallback = (reason) => REASONS[reason] || `fell back (${reason})`;

// ---------------------------------------------------------------------------------------
// Colours: #rgb, #rrggbb, #rrggbbaa (an <input type=color> holds only #rrggbb)

export function splitColor(color) {
  const m = /^#([0-9a-f]{3}|[0-9a-f]{6}|[0-9a-f]{8})$/i.exec(String(color ?? '').trim());
  if (!m) return null;
  let d = m[1].toLowerCase();
  if (d.length === 3) d = d.split('').map((c) => c + c).join('');
  return { rgb: `#${d.slice(0, 6)}`, alpha: d.length === 8 ? parseInt(d.slice(6), 16) : 255 };
}

export function joinColor(rgb, alpha = 255) {
  const a = Math.max(0, Math.min(255, Math.round(alpha)));
  return a === 255 ? rgb.toLowerCase() : `${rgb.toLowerCase()}${a.toString(16).padStart(2, '0')}`;
}

// ---------------------------------------------------------------------------------------
// Undo history: earlier documents as JSON text

export function createHistory(limit = 200) {
  return { past: [], future: [], limit, lastKey: null, lastAt: 0 };
}

// Records `before` (the state an edit replaced). Edits with the same `key` within `window` ms
// (typing in one control, holding an arrow key) make one undo step.
export function record(history, before, { key = null, now = 0, window = 1200 } = {}) {
  const same = key !== null && key === history.lastKey && now - history.lastAt < window;
  if (!same) {
    history.past.push(before);
    if (history.past.length > history.limit) history.past.shift();
  }
  history.future = [];
  history.lastKey = key;
  history.lastAt = now;
}

export function undo(history, current) {
  if (!history.past.length) return null;
  history.future.push(current);
  history.lastKey = null;
  return history.past.pop();
}

export function redo(history, current) {
  if (!history.future.length) return null;
  history.past.push(current);
  history.lastKey = null;
  return history.future.pop();
}
