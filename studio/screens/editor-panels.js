// The template editor's panels: layers, properties of the selected layer (or the canvas),
// fields, and the raw JSON. Each is `{el, update({force})}` over the editor state `ed`
// (screens/editor.js): `ed.doc`, `ed.selected`, `ed.readOnly`, `ed.error`, `ed.edit(change)`,
// `ed.select(index)`. Controls register under their JSON path in `ed.controls`, so their
// values follow undo and a server error finds the control it is about.

import { h, fill, field, setError, dialog } from '../lib/dom.js';
import * as D from '../lib/document.js';

// What each property is called on screen (and in error messages).
const LABELS = {
  'box.x': 'X', 'box.y': 'Y', 'box.width': 'Width', 'box.height': 'Height', box: 'Box',
  text: 'Text', font: 'Font', weight: 'Weight', size: 'Size', min_size: 'Min size',
  line_height: 'Line height', color: 'Colour', align: 'Align', valign: 'Vertical align',
  max_lines: 'Max lines', case: 'Case', source: 'Source', default: 'Default picture', fit: 'Fit',
  circle: 'Circle', shape: 'Kind', radius: 'Radius', fill: 'Fill', opacity: 'Opacity',
  name: 'Layer name', hidden: 'Hidden', type: 'Type',
};
const CANVAS_LABELS = { width: 'Width', height: 'Height', background: 'Background', 'base.identifier': 'Base picture', 'base.region': 'Base region', base: 'Base picture' };
const FIELD_LABELS = { kind: 'Kind', default: 'Default', open: 'Open', max_length: 'Max length', pattern: 'Pattern' };

// "Layer “Headline” › Size" for "$.layers[1].size".
export function describePath(doc, path) {
  const t = D.errorTarget(path, doc);
  if (t.scope === 'layer') {
    const layer = doc.layers?.[t.index];
    const what = layer ? `Layer “${D.layerLabel(layer)}”` : `Layer ${t.index + 1}`;
    return t.key ? `${what} › ${LABELS[t.key] || t.key}` : what;
  }
  if (t.scope === 'field') return `Field “${t.name}”${t.key ? ` › ${FIELD_LABELS[t.key] || t.key}` : ''}`;
  if (t.scope === 'canvas') return `Canvas${t.key ? ` › ${CANVAS_LABELS[t.key] || t.key}` : ''}`;
  return t.key ? `Template › ${t.key}` : 'Template';
}

// The reason of a refusal without the path it starts with.
export function reasonOf(error) {
  return error ? D.reasonAfterPath(error.message, error.path) : '';
}

// Rebuilds `container` with `build()` and puts focus back on the control that had it
// (matched by data-focus-key), so panels can redraw while someone types or tabs.
function keepFocus(container, build) {
  const active = document.activeElement;
  const key = container.contains(active) ? active?.dataset?.focusKey : null;
  const caret = key && typeof active.selectionStart === 'number' ? [active.selectionStart, active.selectionEnd] : null;
  build();
  if (!key) return;
  const again = container.querySelector(`[data-focus-key="${CSS.escape(key)}"]`);
  if (!again) return;
  again.focus({ preventScroll: true });
  if (caret) { try { again.setSelectionRange(...caret); } catch { /* not a text control */ } }
}

// Controls bound to a JSON path of the document: typing edits the document (one undo step
// per control while typing), and `sync()` writes the document's values back (after undo),
// leaving alone the control being typed in.
function registry(ed) {
  const mine = new Set();
  return {
    bind(keys, control, { read = (v) => v ?? '', write = (v) => v, event = 'input', onSync = null, apply = null } = {}) {
      const path = D.jsonPath(keys);
      control.dataset.focusKey = path;
      const sync = (force = false) => {
        const v = read(D.getIn(ed.doc, keys));
        if (control.type === 'checkbox') control.checked = Boolean(v);
        else if ((force || control !== document.activeElement) && control.value !== String(v)) control.value = v;
        onSync?.(D.getIn(ed.doc, keys));
      };
      control.addEventListener(event, () => {
        const value = control.type === 'checkbox' ? write(control.checked) : write(control.value);
        ed.edit((doc) => (apply ? apply(doc, value) : D.setIn(doc, keys, value)), { key: path });
      });
      ed.controls.set(path, { el: control, sync });
      mine.add(path);
      sync(true);
      return control;
    },
    clear() {
      for (const p of mine) ed.controls.delete(p);
      mine.clear();
    },
    sync(force = false) {
      for (const p of mine) ed.controls.get(p)?.sync(force);
    },
  };
}

// Readers and writers for the document's kinds of values.
// An empty box leaves the key out: the server's default, or its "missing" error on its control.
// How the kinds of fields read in the Kind menu.
const KIND_LABEL = { text: 'text', number: 'number', date: 'date (YYYY-MM-DD)', datetime: 'date and time', url: 'url (a picture)' };
const number = (s) => (String(s).trim() === '' ? undefined : Number(s));
const optionalText = (s) => (String(s).trim() === '' ? undefined : s);
// A box side: a number of px, or "N%" kept as written; anything else goes to the server as
// typed, which names the problem.
const length = (s) => {
  const t = String(s).trim();
  if (D.isPercent(t)) return t;
  return t !== '' && Number.isFinite(Number(t)) ? Number(t) : t;
};
const showLength = (v) => (typeof v === 'number' ? String(Math.round(v * 100) / 100) : v ?? '');

const input = (attrs = {}) => h('input', { type: 'text', ...attrs });
const select = (options, attrs = {}) => h('select', attrs,
  ...options.map((o) => (Array.isArray(o) ? h('option', { value: o[0] }, o[1]) : h('option', { value: o }, o))));
const checkField = (label, control, opts) => {
  const f = field(label, control, opts);
  f.classList.add('check');
  return f;
};

// A colour: the browser's picker for the hue, and the hex text for alpha (#rrggbbaa).
function colorField(ed, reg, keys, label, { optional = false, hint } = {}) {
  const hex = input({ class: 'ed-hex', spellcheck: 'false', autocomplete: 'off', placeholder: optional ? 'none' : '#rrggbb', maxlength: 9 });
  const picker = h('input', { type: 'color', 'aria-label': `${label} picker` });
  const wrap = field(label, hex, { hint: hint || 'Hex; add two digits for transparency (#rrggbbaa).' });
  const row = h('div', { class: 'ed-color' });
  hex.replaceWith(row);
  row.append(picker, hex);
  reg.bind(keys, hex, {
    write: (s) => (s.trim() === '' ? (optional ? undefined : '') : s.trim()),
    onSync: (v) => { picker.value = D.splitColor(v)?.rgb || '#000000'; },
  });
  picker.addEventListener('input', () => {
    const now = D.splitColor(D.getIn(ed.doc, keys));
    ed.edit((doc) => D.setIn(doc, keys, D.joinColor(picker.value, now ? now.alpha : 255)), { key: D.jsonPath(keys) });
  });
  return wrap;
}

// Identifiers the catalogue has, offered while typing a picture's name.
function assetList(ed, id) {
  return h('datalist', { id }, ...ed.assets.map((a) => h('option', { value: a })));
}

// ---------------------------------------------------------------------------------------
// Layers: add, select, reorder, duplicate, delete, show/hide (listed front to back)

export function layersPanel(ed) {
  const list = h('ul', { class: 'ed-layer-list', 'aria-label': 'Layers, front to back' });
  const actions = h('div', { class: 'ed-layer-actions' });
  const canvasSummary = h('small', { id: 'ed-canvas-sum', 'aria-hidden': 'true' });
  const canvasPick = h('button', {
    type: 'button', class: 'ed-layer-pick ed-canvas-pick', dataset: { focusKey: 'canvas' },
    'aria-describedby': 'ed-canvas-sum', onclick: () => ed.select(null),
  },
  h('span', { class: 'ed-kind canvas', 'aria-hidden': 'true' }, 'C'),
  h('span', { class: 'ed-layer-text' }, h('span', { class: 'ed-layer-name' }, 'Canvas'), canvasSummary));
  const picture = () => ed.assets.find((a) => /^avatar-default(\.|$)/.test(a)) || ed.assets[0] || 'avatar-default';
  const add = (type) => ed.edit((doc) => D.addLayer(doc, D.newLayer(type, doc, { picture: picture() })));
  const el = h('section', { class: 'ed-panel ed-layers', 'aria-labelledby': 'ed-layers-h' },
    h('h2', { id: 'ed-layers-h' }, 'Layers'),
    ed.readOnly ? null : h('div', { class: 'ed-add' },
      h('button', { type: 'button', onclick: () => add('text') }, 'Add text'),
      h('button', { type: 'button', onclick: () => add('image') }, 'Add picture'),
      h('button', { type: 'button', onclick: () => add('shape') }, 'Add shape')),
    list,
    canvasPick,
    actions,
    ed.readOnly ? null : h('p', { class: 'ed-help muted' }, 'In the list: ↑/↓ select, Alt+↑/↓ move the layer.'));

  const focusPick = (i) => el.querySelector(`[data-focus-key="pick-${i}"]`)?.focus();
  const move = (i, delta) => {
    ed.edit((doc) => D.moveLayer(doc, i, delta));
    focusPick(ed.selected);
  };

  function row(layer, i) {
    const label = D.layerLabel(layer);
    const err = ed.error?.path && D.errorTarget(ed.error.path, ed.doc);
    const bad = err?.scope === 'layer' && err.index === i;
    // Named by the layer's label alone (its content, not aria-label, so it cannot be taken
    // for the label of a form control); the summary describes it.
    const pick = h('button', {
      type: 'button',
      class: 'ed-layer-pick',
      'aria-describedby': `ed-layer-sum-${i}`,
      'aria-pressed': String(ed.selected === i),
      dataset: { focusKey: `pick-${i}` },
      onclick: () => ed.select(i),
      onkeydown: (e) => {
        const up = e.key === 'ArrowUp';
        if (!up && e.key !== 'ArrowDown') {
          if ((e.key === 'Delete') && !ed.readOnly) { e.preventDefault(); ed.edit((doc) => D.deleteLayer(doc, i), { select: null }); }
          return;
        }
        e.preventDefault();
        if (e.altKey && !ed.readOnly) { move(i, up ? 1 : -1); return; }
        const next = i + (up ? 1 : -1);
        if (next >= 0 && next < ed.doc.layers.length) { ed.select(next); focusPick(next); }
      },
    },
    h('span', { class: `ed-kind ${layer.type}`, 'aria-hidden': 'true' }, { text: 'T', image: 'P', shape: 'S', qr: 'Q' }[layer.type] || '?'),
    h('span', { class: 'ed-layer-text' },
      h('span', { class: 'ed-layer-name' }, label),
      h('small', { id: `ed-layer-sum-${i}`, 'aria-hidden': 'true' }, layer.name ? `${D.TYPE_LABEL[layer.type] || ''} · ${D.layerSummary(layer)}` : D.layerSummary(layer))));
    const vis = ed.readOnly ? null : h('button', {
      type: 'button',
      class: 'ed-vis',
      dataset: { focusKey: `vis-${i}` },
      'aria-label': `${layer.hidden ? 'Show' : 'Hide'} layer ${label}`,
      onclick: () => ed.edit((doc) => D.setHidden(doc, i, !layer.hidden)),
    }, layer.hidden ? 'Show' : 'Hide');
    return h('li', { class: `ed-layer${ed.selected === i ? ' selected' : ''}${layer.hidden ? ' is-hidden' : ''}${bad ? ' has-error' : ''}` },
      pick, vis,
      bad ? h('small', { class: 'ed-layer-error' }, `${LABELS[err.key] || err.key || 'Layer'}: ${reasonOf(ed.error)}`) : null);
  }

  function update() {
    keepFocus(el, () => {
      const layers = ed.doc.layers || [];
      canvasPick.setAttribute('aria-pressed', String(ed.selected === null));
      const c = ed.doc.canvas || {};
      canvasSummary.textContent = `${c.width} × ${c.height}${c.background ? ` · ${c.background}` : ''}${c.base ? ` · ${c.base.identifier}` : ''} · behind every layer`;
      const rows = [];
      for (let i = layers.length - 1; i >= 0; i--) rows.push(row(layers[i], i));
      fill(list, rows.length ? rows : h('li', { class: 'muted ed-empty' }, 'No layers yet: add text, a picture or a shape.'));
      const i = ed.selected;
      fill(actions, ed.readOnly || i === null ? null : [
        h('button', { type: 'button', dataset: { focusKey: 'up' }, disabled: i >= layers.length - 1, title: 'Bring forward', onclick: () => move(i, 1) }, 'Move up'),
        h('button', { type: 'button', dataset: { focusKey: 'down' }, disabled: i <= 0, title: 'Send backward', onclick: () => move(i, -1) }, 'Move down'),
        h('button', { type: 'button', dataset: { focusKey: 'dup' }, onclick: () => ed.edit((doc) => D.duplicateLayer(doc, i)) }, 'Duplicate'),
        h('button', { type: 'button', class: 'danger', onclick: () => ed.edit((doc) => D.deleteLayer(doc, i), { select: null }) }, 'Delete'),
      ]);
    });
  }
  return { el, update };
}

// ---------------------------------------------------------------------------------------
// Properties of the selected layer, or of the canvas when none is selected

export function propertiesPanel(ed) {
  const reg = registry(ed);
  const body = h('div', { class: 'ed-props-body' });
  const el = h('section', { class: 'ed-panel ed-props', 'aria-labelledby': 'ed-props-h' },
    h('h2', { id: 'ed-props-h' }, 'Properties'), body);
  let builtFor = null;
  let boxInputs = null;

  function update({ force = false } = {}) {
    const layer = ed.selected === null ? null : ed.doc.layers?.[ed.selected];
    const fieldsKey = Object.entries(ed.doc.fields || {}).map(([n, s]) => `${n}:${s.kind || 'text'}`).join(',');
    const key = JSON.stringify([ed.selected, layer?.type, layer?.shape === 'rounded', ed.readOnly, fieldsKey]);
    if (!force && key === builtFor) { reg.sync(force); return; }
    builtFor = key;
    keepFocus(el, () => {
      reg.clear();
      boxInputs = null;
      const controls = layer ? layerControls(layer, ed.selected) : canvasControls();
      fill(body, h('fieldset', { class: 'ed-plain', disabled: ed.readOnly }, ...controls));
    });
  }

  // While a box is dragged, its numbers follow it (the document changes on release).
  function showRect(rect) {
    if (!boxInputs) return;
    for (const k of ['x', 'y', 'width', 'height']) boxInputs[k].value = String(Math.round(rect[k]));
  }

  function canvasControls() {
    const at = (k) => ['canvas', ...k];
    const base = ed.doc.canvas.base;
    const side = (k) => reg.bind(at([k]), h('input', { type: 'number', min: 1, max: D.MAX_SIDE, step: 1 }), { write: number });
    const baseId = input({ list: 'ed-assets-base', autocomplete: 'off', placeholder: 'none' });
    // The base is one object: an empty identifier removes it.
    reg.bind(at(['base', 'identifier']), baseId, {
      write: (s) => s.trim(),
      apply: (doc, id) => (id ? D.setIn(doc, ['canvas', 'base', 'identifier'], id) : D.setIn(doc, ['canvas', 'base'], undefined)),
    });
    const region = input({ placeholder: 'full', disabled: !base });
    reg.bind(at(['base', 'region']), region, { write: optionalText });
    return [
      h('h3', {}, 'Canvas'),
      h('p', { class: 'muted' }, 'Select a layer to change it, or set up the canvas here.'),
      h('div', { class: 'row' }, field('Width', side('width')), field('Height', side('height'))),
      colorField(ed, reg, at(['background']), 'Background', { optional: true, hint: 'Hex, #rrggbbaa for transparency; leave empty to show only the base picture.' }),
      field('Base picture', baseId, { hint: 'An image on this server drawn to cover the canvas (optional).' }),
      assetList(ed, 'ed-assets-base'),
      field('Base region', region, { hint: 'IIIF region: full, square, x,y,w,h or pct:x,y,w,h.' }),
      checkField('Made for email', reg.bind(['email'], h('input', { type: 'checkbox' }), { write: (v) => (v ? true : undefined) }),
        { hint: 'A refused signature answers with the all-defaults image instead of an error.' }),
    ];
  }

  function layerControls(layer, i) {
    const at = (...k) => ['layers', i, ...k];
    const name = reg.bind(at('name'), input({ placeholder: D.TYPE_LABEL[layer.type], autocomplete: 'off', maxlength: 100 }), { write: optionalText });
    boxInputs = {};
    const side = (k, label) => {
      boxInputs[k] = reg.bind(at('box', k), input({ inputmode: 'decimal', autocomplete: 'off', class: 'ed-num' }), { read: showLength, write: length });
      return field(label, boxInputs[k]);
    };
    const out = [
      h('h3', {}, `${D.TYPE_LABEL[layer.type] || 'Unknown'} layer`),
      field('Layer name', name, { hint: 'Shown in the layers list.' }),
      h('fieldset', { class: 'ed-group' }, h('legend', {}, 'Box'),
        h('div', { class: 'row ed-box-row' }, side('x', 'X'), side('y', 'Y'), side('width', 'Width'), side('height', 'Height')),
        h('small', { class: 'hint' }, 'Canvas pixels, or “N%” of the canvas side.')),
    ];
    if (layer.type === 'text') out.push(...textControls(layer, at));
    else if (layer.type === 'image') out.push(...imageControls(layer, at));
    else if (layer.type === 'shape') out.push(...shapeControls(layer, at));
    return out;
  }

  function textControls(layer, at) {
    const text = reg.bind(at('text'), h('textarea', { rows: 3, spellcheck: 'true' }));
    const fonts = [...new Set([...D.FONTS, layer.font].filter(Boolean))];
    const weightNames = { 400: '400 regular', 700: '700 bold' };
    const def = D.DEFAULTS.text;
    const num = (k, attrs, write = number) => reg.bind(at(k), h('input', { type: 'number', class: 'ed-num', ...attrs }), { write, read: (v) => v ?? '' });
    return [
      field('Text', text, { hint: 'Merge tags like {{ first_name }} print a recipient’s value.' }),
      ed.readOnly ? null : tagMenu(ed, text, at('text')),
      field('Font', reg.bind(at('font'), select(fonts))),
      h('div', { class: 'row' },
        field('Weight', reg.bind(at('weight'), select(D.WEIGHTS.map((w) => [String(w), weightNames[w] || String(w)])), {
          read: (v) => String(v ?? def.weight), write: (v) => Number(v), event: 'change',
        }), { hint: 'Noto ships 400 and 700; others use the nearest.' }),
        field('Size', num('size', { min: 1, step: 1 }, number), { hint: 'px' })),
      h('div', { class: 'row' },
        field('Min size', num('min_size', { min: 1, step: 1 }), { hint: 'Shrinks to fit' }),
        field('Line height', num('line_height', { min: 0.5, step: 0.05, placeholder: String(def.line_height) }), { hint: '× size' }),
        field('Max lines', num('max_lines', { min: 1, step: 1, placeholder: String(def.max_lines) }))),
      colorField(ed, reg, at('color'), 'Colour'),
      h('div', { class: 'row' },
        field('Align', reg.bind(at('align'), select(['left', 'center', 'right']), { read: (v) => v ?? def.align, event: 'change' })),
        field('Vertical align', reg.bind(at('valign'), select([['top', 'top'], ['middle', 'middle'], ['bottom', 'bottom']]), { read: (v) => v ?? def.valign, event: 'change' })),
        field('Case', reg.bind(at('case'), select([['none', 'as typed'], ['upper', 'UPPER'], ['lower', 'lower'], ['title', 'Title']]), { read: (v) => v ?? def.case, event: 'change' }))),
    ];
  }

  function imageControls(layer, at) {
    const source = reg.bind(at('source'), input({ list: 'ed-assets', autocomplete: 'off' }));
    const fallback = reg.bind(at('default'), input({ list: 'ed-assets', autocomplete: 'off' }));
    const urls = Object.entries(ed.doc.fields || {}).filter(([, s]) => s.kind === 'url').map(([n]) => n);
    const useField = (n) => {
      ed.edit((doc) => D.setIn(doc, at('source'), D.mergeTag(n)));
      source.value = D.mergeTag(n);
    };
    return [
      field('Source', source, { hint: 'A picture on this server, or a merge tag of a url field.' }),
      ed.readOnly ? null : urls.length
        ? h('div', { class: 'ed-chips' }, h('span', { class: 'muted' }, 'Personal picture from field:'),
          ...urls.map((n) => h('button', { type: 'button', onclick: () => useField(n) }, n)))
        : h('p', { class: 'hint muted' }, 'To show a different picture per recipient, add a field of kind “url”.'),
      field('Default picture', fallback, { hint: 'Drawn when the source is missing or cannot be read.' }),
      assetList(ed, 'ed-assets'),
      h('div', { class: 'row' },
        field('Fit', reg.bind(at('fit'), select([['cover', 'cover (fill, crop)'], ['contain', 'contain (whole picture)']]), { read: (v) => v ?? 'cover', event: 'change' })),
        checkField('Circle', reg.bind(at('circle'), h('input', { type: 'checkbox' }), { write: (v) => (v ? true : undefined) }))),
    ];
  }

  function shapeControls(layer, at) {
    const out = [
      field('Kind', reg.bind(at('shape'), select([['rect', 'rectangle'], ['rounded', 'rounded rectangle'], ['circle', 'circle (ellipse)']]), { event: 'change' })),
    ];
    if (layer.shape === 'rounded') {
      out.push(field('Radius', reg.bind(at('radius'), h('input', { type: 'number', min: 0, step: 1, class: 'ed-num' }), { write: number }), { hint: 'Corner radius, px' }));
    }
    out.push(
      colorField(ed, reg, at('fill'), 'Fill'),
      field('Opacity', reg.bind(at('opacity'), h('input', { type: 'number', min: 0, max: 1, step: 0.05, class: 'ed-num', placeholder: '1' }), { write: number }),
        { hint: '0 (clear) to 1 (solid)' }));
    return out;
  }

  return { el, update, showRect };
}

// The merge tag menu of a text: the fields as buttons that insert {{ field }} (with an
// optional default) where the caret is; a new field can be made and inserted at once.
function tagMenu(ed, textarea, keys) {
  const fallback = input({ autocomplete: 'off', placeholder: 'e.g. there' });
  const newName = input({ autocomplete: 'off', placeholder: 'e.g. first_name' });
  const details = h('details', { class: 'ed-menu' });
  const insert = (name, change = (doc) => doc) => {
    const tag = D.mergeTag(name, fallback.value);
    const { value, caret } = D.insertAt(textarea.value, textarea.selectionStart, textarea.selectionEnd, tag);
    ed.edit((doc) => D.setIn(change(doc), keys, value));
    details.open = false;
    fallback.value = '';
    // A new field rebuilds the panel: the text control may be a new element now.
    const text = ed.controls.get(D.jsonPath(keys))?.el || textarea;
    text.value = value;
    text.focus();
    text.setSelectionRange(caret, caret);
  };
  const names = Object.keys(ed.doc.fields || {});
  const addNew = (e) => {
    e.preventDefault();
    const n = newName.value.trim();
    const problem = !D.validFieldName(n) ? 'Letters, digits, _, - and . only'
      : names.includes(n) ? 'That field exists: pick it above' : '';
    setError(newName, problem);
    if (problem) return;
    insert(n, (doc) => D.addField(doc, n, { ...D.newField(), open: true }));
  };
  details.append(
    h('summary', {}, 'Insert merge tag'),
    h('div', { class: 'ed-menu-body' },
      field('Default if empty (optional)', fallback),
      names.length
        ? h('ul', { class: 'ed-tag-list', 'aria-label': 'Fields' },
          ...names.map((n) => h('li', {}, h('button', { type: 'button', onclick: () => insert(n) }, `Insert ${n}`))))
        : h('p', { class: 'muted' }, 'No fields yet.'),
      h('div', { class: 'ed-inline' },
        field('New field', newName, { hint: 'Added as an open text field.' }),
        h('button', { type: 'button', onclick: addNew }, 'Add and insert'))));
  newName.addEventListener('keydown', (e) => { if (e.key === 'Enter') addNew(e); });
  return details;
}

// ---------------------------------------------------------------------------------------
// Fields: what each recipient's URL may fill in

export function fieldsPanel(ed) {
  const reg = registry(ed);
  const list = h('div', { class: 'ed-field-list' });
  const open = new Set();
  const newName = input({ autocomplete: 'off', placeholder: 'e.g. first_name' });
  const addForm = ed.readOnly ? null : h('form', { class: 'ed-inline', novalidate: true },
    field('New field name', newName),
    h('button', { type: 'submit' }, 'Add field'));
  addForm?.addEventListener('submit', (e) => {
    e.preventDefault();
    const n = newName.value.trim();
    const problem = !D.validFieldName(n) ? 'Letters, digits, _, - and . only'
      : n in (ed.doc.fields || {}) ? 'There is a field of that name' : '';
    setError(newName, problem);
    if (problem) return;
    open.add(n);
    newName.value = '';
    ed.edit((doc) => D.addField(doc, n));
    list.querySelector(`details[data-name="${CSS.escape(n)}"] select`)?.focus();
  });
  const el = h('section', { class: 'ed-panel ed-fields', 'aria-labelledby': 'ed-fields-h' },
    h('h2', { id: 'ed-fields-h' }, 'Fields'),
    h('p', { class: 'muted' }, 'The values each recipient’s image URL fills in.'),
    list, addForm);
  let builtFor = null;
  const summaries = new Map();

  function summary(name) {
    const s = ed.doc.fields?.[name] || {};
    const uses = D.fieldUses(ed.doc, name).length;
    return `${s.kind || 'text'} · ${s.open ? 'open' : 'signed'} · max ${s.max_length ?? D.DEFAULTS.field.max_length}${uses ? ` · in ${uses} layer${uses > 1 ? 's' : ''}` : ' · unused'}`;
  }

  function fieldBox(name) {
    const at = (k) => ['fields', name, k];
    const rename = input({ value: name, autocomplete: 'off', dataset: { focusKey: `rename-${name}` } });
    rename.addEventListener('change', () => {
      const to = rename.value.trim();
      const problem = !D.validFieldName(to) ? 'Letters, digits, _, - and . only'
        : to !== name && to in ed.doc.fields ? 'There is a field of that name' : '';
      setError(rename, problem);
      if (problem || to === name) return;
      open.delete(name);
      open.add(to);
      rename.dataset.focusKey = `rename-${to}`;
      ed.edit((doc) => D.renameField(doc, name, to));
    });
    const del = ed.readOnly ? null : h('button', {
      type: 'button',
      class: 'danger',
      onclick: async () => {
        const uses = D.fieldUses(ed.doc, name);
        if (uses.length) {
          const ok = await dialog(`Delete field ${name}?`,
            h('p', {}, `${uses.length} layer${uses.length > 1 ? 's use' : ' uses'} it; the template will not save until those merge tags are removed too.`),
            [['Cancel', false], ['Delete', true, 'danger']]);
          if (!ok) return;
        }
        open.delete(name);
        ed.edit((doc) => D.deleteField(doc, name));
      },
    }, 'Delete field');
    const sum = h('small', { class: 'muted' }, summary(name));
    summaries.set(name, sum);
    const d = h('details', { class: 'ed-field', dataset: { name }, 'aria-label': `Field ${name}`, open: open.has(name) },
      h('summary', {}, h('code', {}, name), ' ', sum),
      h('fieldset', { class: 'ed-plain', disabled: ed.readOnly },
        field('Name', rename, { hint: 'Renaming updates its merge tags too.' }),
        h('div', { class: 'row' },
          field('Kind', reg.bind(at('kind'), select(D.FIELD_KINDS.map((k) => [k, KIND_LABEL[k]])), { read: (v) => v ?? 'text', event: 'change' })),
          field('Max length', reg.bind(at('max_length'), h('input', { type: 'number', min: 1, step: 1, class: 'ed-num', placeholder: '64' }), { write: number }))),
        field('Default', reg.bind(at('default'), input({ autocomplete: 'off' })), { hint: 'Shown when a value is missing or refused.' }),
        checkField('Open', reg.bind(at('open'), h('input', { type: 'checkbox' }), { write: (v) => v }),
          { hint: 'May arrive unsigned (filled in by an email platform); otherwise it needs a signed URL.' }),
        field('Pattern', reg.bind(at('pattern'), input({ autocomplete: 'off', spellcheck: 'false', placeholder: 'e.g. [A-Za-z -]+' }), { write: optionalText }),
          { hint: 'A regular expression the whole value must match (optional).' }),
        del));
    d.addEventListener('toggle', () => { if (d.open) open.add(name); else open.delete(name); });
    return d;
  }

  function update({ force = false } = {}) {
    const names = Object.keys(ed.doc.fields || {});
    const key = JSON.stringify([names, ed.readOnly]);
    if (!force && key === builtFor) {
      reg.sync();
      for (const [n, el2] of summaries) el2.textContent = summary(n);
      return;
    }
    builtFor = key;
    keepFocus(el, () => {
      reg.clear();
      summaries.clear();
      fill(list, names.length ? names.map(fieldBox) : h('p', { class: 'muted' }, 'No fields yet: every recipient sees the same image.'));
    });
  }

  // Opens a field's box (a server error is about it).
  function reveal(name) {
    if (!name) return;
    open.add(name);
    const d = list.querySelector(`details[data-name="${CSS.escape(name)}"]`);
    if (d) d.open = true;
  }

  return { el, update, reveal };
}

// ---------------------------------------------------------------------------------------
// Raw JSON: the whole document as text, applied on "Apply"

export function rawPanel(ed) {
  const text = h('textarea', { rows: 18, spellcheck: 'false', readonly: ed.readOnly, dataset: { nativeUndo: '1' } });
  const parseProblem = h('p', { class: 'error', role: 'alert' });
  const serverProblem = h('p', { class: 'error' });
  let edited = false;
  text.addEventListener('input', () => { edited = true; });
  const apply = () => {
    let doc;
    try {
      doc = JSON.parse(text.value);
    } catch (e) {
      parseProblem.textContent = `Not valid JSON: ${e.message}`;
      return;
    }
    // The editor needs this much to draw; the server checks the rest.
    const shaped = doc && typeof doc === 'object' && !Array.isArray(doc)
      && doc.canvas && typeof doc.canvas === 'object'
      && (doc.layers === undefined || Array.isArray(doc.layers))
      && (doc.fields === undefined || (doc.fields && typeof doc.fields === 'object' && !Array.isArray(doc.fields)));
    if (!shaped) {
      parseProblem.textContent = 'A template is a JSON object with a "canvas" object, a "layers" array and a "fields" object.';
      return;
    }
    parseProblem.textContent = '';
    edited = false;
    ed.edit(() => doc, { select: null });
  };
  const el = h('section', { class: 'ed-panel ed-raw', 'aria-labelledby': 'ed-raw-h', hidden: true },
    h('h2', { id: 'ed-raw-h' }, 'Raw JSON'),
    field('Template JSON', text, { hint: ed.readOnly ? 'Read only.' : 'Edit, then Apply: it is saved like any other change, and the server’s objections show below.' }),
    ed.readOnly ? null : h('div', { class: 'toolbar' },
      h('button', { type: 'button', class: 'primary', onclick: apply }, 'Apply'),
      h('button', { type: 'button', onclick: () => { edited = false; parseProblem.textContent = ''; update({ force: true }); } }, 'Discard changes')),
    parseProblem, serverProblem);

  function update() {
    if (!edited) text.value = JSON.stringify(ed.doc, null, 2);
  }
  function showError(error) {
    serverProblem.textContent = error ? `The server refused it: ${error.message}` : '';
  }
  return { el, update, showError, focus: () => text.focus() };
}
