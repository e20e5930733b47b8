// The template editor: #/templates/{qualified}/edit. The canvas shows the draft as Tessera
// renders it (never the browser's own text layout) with each layer's box drawn over it to drag
// and resize; panels edit layers, their properties and the fields; three previews render the
// sample, empty and longest recipients. Every edit autosaves the draft after a pause, and the
// previews follow the save (they are renders of the saved draft).
//
// Sections: loading · the editor's state (`ed`) and editing · saving · the canvas (boxes,
// drag, keyboard) · previews · the toolbar and page. The panels live in editor-panels.js;
// the document functions (pure, tested) in lib/document.js.

import { api, enc } from '../lib/api.js';
import { h, fill, field, setError, later, ago } from '../lib/dom.js';
import * as D from '../lib/document.js';
import { layersPanel, propertiesPanel, fieldsPanel, rawPanel, describePath, reasonOf } from './editor-panels.js';

const AUTOSAVE_MS = 600;
const PREVIEW_AFTER_SAVE_MS = 120;
const SAMPLE_TYPING_MS = 400;
// Snapping reaches this many screen pixels, whatever the zoom.
const SNAP_SCREEN_PX = 6;
// A press that moves less than this is a click, not a drag.
const DRAG_START_PX = 3;
const HANDLES = ['nw', 'n', 'ne', 'e', 'se', 's', 'sw', 'w'];

export async function render(root, ctx, params) {
  const qualified = params[0];
  const project = qualified.includes('.') ? qualified.slice(0, qualified.indexOf('.')) : 'default';
  const tplUrl = `/admin/templates/${enc(qualified)}`;

  // ---------------------------------------------------------------------------------------
  // Loading: the draft, or a blank canvas for a name that does not exist yet. The list is
  // asked first so a new name costs no failed request (the browser logs every 404).

  const listed = await api.get(`/admin/templates?project=${enc(project)}&archived=true`);
  const exists = (listed.templates || []).some((t) => t.name === qualified);
  let meta = exists ? await api.get(`${tplUrl}/draft`) : null;
  const loaded = meta?.document && typeof meta.document === 'object' ? meta.document : D.blankDocument();

  const canEdit = ctx.can('edit', project);
  const canPreview = ctx.can('preview', project);
  const assets = await loadAssets(ctx);

  // ---------------------------------------------------------------------------------------
  // The editor's state, shared with the panels

  const history = D.createHistory();
  const ed = {
    ctx,
    qualified,
    doc: loaded,
    selected: null,
    readOnly: !canEdit || meta?.state === 'submitted',
    error: null, // the last save's refusal: {path, message}
    assets,
    // JSON path → {el, sync} of every control on screen, so values follow undo and server
    // errors find their control.
    controls: new Map(),
    edit,
    select,
    refresh,
    goToError,
  };
  let savedText = exists ? JSON.stringify(loaded) : null; // what the server holds
  let status = exists ? 'saved' : 'new';

  // Applies `change(doc)` (a document, or {doc, index} to select the layer it made) as one
  // undoable step; edits with the same `key` in quick succession (typing) are one step.
  function edit(change, { key = null, select: pick } = {}) {
    if (ed.readOnly) return;
    const before = JSON.stringify(ed.doc);
    const result = change(ed.doc);
    const next = result && result.doc ? result.doc : result;
    if (!next || JSON.stringify(next) === before) return;
    D.record(history, before, { key, now: Date.now() });
    ed.doc = next;
    if (result && result.doc && Number.isInteger(result.index)) ed.selected = result.index;
    if (pick !== undefined) ed.selected = pick;
    afterChange();
  }

  function restore(text) {
    if (text === null) return;
    ed.doc = JSON.parse(text);
    afterChange({ force: true });
  }

  function afterChange({ force = false } = {}) {
    const count = ed.doc.layers?.length || 0;
    if (ed.selected !== null && ed.selected >= count) ed.selected = count ? count - 1 : null;
    refresh({ force });
    setStatus('pending');
    autosave();
  }

  function select(index, { focusBox = false } = {}) {
    ed.selected = index;
    refresh();
    if (focusBox && index !== null) overlay.querySelector(`[data-index="${index}"]`)?.focus();
  }

  const undoStep = () => restore(D.undo(history, JSON.stringify(ed.doc)));
  const redoStep = () => restore(D.redo(history, JSON.stringify(ed.doc)));

  // ---------------------------------------------------------------------------------------
  // Saving: PUT the whole document a moment after the last edit; refusals name a JSON path

  let saving = null; // the save in flight
  let again = false;
  const autosave = later(() => save(), AUTOSAVE_MS);
  const dirty = () => JSON.stringify(ed.doc) !== savedText;

  async function save() {
    autosave.cancel();
    if (ed.readOnly) return;
    if (saving) { again = true; return saving; }
    const text = JSON.stringify(ed.doc);
    if (text === savedText) {
      // Back to what the server holds (an undo, a value put back): nothing to refuse.
      if (ed.error) { ed.error = null; showError(); }
      setStatus('saved');
      return;
    }
    setStatus('saving');
    saving = (async () => {
      try {
        const res = await api.put(tplUrl, JSON.parse(text));
        savedText = text;
        meta = { ...(meta || {}), ...res };
        ed.error = null;
        setStatus(dirty() ? 'pending' : 'saved');
        drawBadge();
        previewsSoon();
      } catch (e) {
        if (e.status === 409 && e.code === 'draft_locked') {
          ed.readOnly = true;
          meta = { ...(meta || {}), state: 'submitted' };
          ed.error = { path: null, message: e.message };
          drawNote();
          drawBadge();
          drawHelp();
          refresh({ force: true });
        } else {
          ed.error = { path: e.path, message: e.message };
        }
        setStatus('error');
      } finally {
        saving = null;
      }
      showError();
    })();
    await saving;
    if (again) { again = false; await save(); }
  }

  // Saves now (a link out of the editor waits for it); true when nothing is left unsaved.
  async function flush() {
    if (ed.readOnly || !dirty()) return true;
    await save();
    if (saving) await saving;
    return !dirty();
  }

  const statusEl = h('p', { class: 'ed-status', role: 'status' });
  function setStatus(s) {
    status = s;
    const text = {
      new: 'New template: it is saved as soon as you change something',
      pending: 'Unsaved changes…',
      saving: 'Saving…',
      saved: meta?.updated_at ? `Saved ${ago(meta.updated_at)}` : 'All changes saved',
      error: 'Not saved: see the problem below',
      readonly: 'Read only',
    }[ed.readOnly && s !== 'error' ? 'readonly' : s];
    statusEl.textContent = text;
    statusEl.className = `ed-status ${ed.readOnly && s !== 'error' ? 'readonly' : s}`;
    stage.classList.toggle('stale', s === 'pending' || s === 'saving' || s === 'error');
    drawUndo();
  }

  // The refusal: a banner that names the control (with a way to it), and the control itself.
  const problem = h('div', { class: 'ed-problem', role: 'alert', hidden: true });
  function showError() {
    refresh();
    if (!ed.error) { problem.hidden = true; fill(problem); return; }
    const { path, message } = ed.error;
    const reason = reasonOf(ed.error).replace(/^invalid template:\s*/, '');
    const where = path ? describePath(ed.doc, path) : '';
    const undeclared = /undeclared field '([^']+)'/.exec(message);
    problem.hidden = false;
    fill(problem,
      h('strong', {}, 'The server did not save this change. '),
      where ? h('span', {}, `${where}: `) : null,
      h('span', {}, reason),
      h('span', { class: 'ed-problem-actions' },
        path && path !== '$' ? h('button', { type: 'button', onclick: goToError }, 'Show me') : null,
        undeclared && !ed.readOnly && D.validFieldName(undeclared[1]) ? h('button', {
          type: 'button',
          onclick: () => edit((doc) => D.addField(doc, undeclared[1], { ...D.newField(), open: true })),
        }, `Add field “${undeclared[1]}”`) : null));
  }

  // Marks the control the refusal is about (the layers list and boxes mark its layer).
  function refreshErrors() {
    for (const { el } of ed.controls.values()) setError(el, '');
    raw.showError(ed.error);
    if (!ed.error?.path) return;
    const target = D.errorTarget(ed.error.path, ed.doc);
    if (target.scope === 'field') fields.reveal(target.name);
    const path = D.closestControl(ed.error.path, ed.controls.keys());
    if (path) setError(ed.controls.get(path).el, reasonOf(ed.error));
  }

  // Selects what the error is about and focuses its control.
  function goToError() {
    if (!ed.error?.path) return;
    const target = D.errorTarget(ed.error.path, ed.doc);
    if (target.scope === 'layer') select(target.index);
    else if (target.scope === 'canvas' || target.scope === 'document') select(null);
    fields.reveal?.(target.scope === 'field' ? target.name : null);
    refreshErrors();
    const path = D.closestControl(ed.error.path, ed.controls.keys());
    const control = path && ed.controls.get(path)?.el;
    if (control) { control.focus(); control.scrollIntoView({ block: 'center', behavior: 'smooth' }); }
  }

  // ---------------------------------------------------------------------------------------
  // The canvas: the sample render, and the boxes over it

  const canvasImg = h('img', { class: 'ed-canvas-img', alt: 'Canvas as rendered for the sample recipient', hidden: true });
  const overlay = h('div', { class: 'ed-overlay' });
  const stageNote = h('p', { class: 'ed-stage-note' });
  const stage = h('div', { class: 'ed-stage' }, canvasImg, overlay, stageNote);
  const help = h('p', { class: 'ed-help muted', id: 'ed-box-help' });
  const drawHelp = () => fill(help, ed.readOnly
    ? 'Read only: select a box or a layer to see its properties.'
    : ['Drag a box to move it and its handles to resize (Shift keeps proportions, Alt turns snapping off); double-click to edit its text. ',
      'With a box focused: arrows move 1 px, Shift+arrows 10 px, Alt/Option+arrows resize; Delete removes it; Escape selects the canvas.']);
  const stageWrap = h('div', { class: 'ed-stage-wrap' }, stage);
  let scale = 1;
  let drag = null;

  function layout() {
    const side = (v) => (Number(v) > 0 ? Number(v) : 1);
    const cw = side(ed.doc.canvas?.width);
    const ch = side(ed.doc.canvas?.height);
    const room = stageWrap.clientWidth || 600;
    const tall = Math.max(260, window.innerHeight * 0.62);
    scale = Math.min(room / cw, tall / ch);
    if (!Number.isFinite(scale) || scale <= 0) scale = 1;
    stage.style.width = `${Math.round(cw * scale)}px`;
    stage.style.height = `${Math.round(ch * scale)}px`;
    const bg = D.splitColor(ed.doc.canvas?.background);
    // The canvas colour until the render arrives (or when there is none to see).
    stage.style.background = bg && bg.alpha === 255 ? bg.rgb : '';
    drawBoxes();
  }

  // One element per visible layer, in drawing order (so a click finds the top-most box).
  // Elements are reused, so a focused box keeps focus while it moves.
  function drawBoxes() {
    const layers = ed.doc.layers || [];
    const want = [];
    layers.forEach((layer, i) => { if (!layer.hidden) want.push(i); });
    const boxes = [...overlay.querySelectorAll('.ed-box')];
    const hadFocus = overlay.contains(document.activeElement);
    while (boxes.length > want.length) boxes.pop().remove();
    while (boxes.length < want.length) {
      const box = h('div', {
        class: 'ed-box', role: 'button', tabindex: 0, 'aria-describedby': 'ed-box-help',
      }, ...HANDLES.map((hd) => h('div', { class: `ed-handle ${hd}`, dataset: { handle: hd }, 'aria-hidden': 'true' })));
      overlay.append(box);
      boxes.push(box);
    }
    want.forEach((index, k) => {
      const box = boxes[k];
      const layer = layers[index];
      box.dataset.index = index;
      box.setAttribute('aria-label', `Layer: ${D.layerLabel(layer)}`);
      box.setAttribute('aria-pressed', String(ed.selected === index));
      box.classList.toggle('selected', ed.selected === index);
      box.classList.toggle('has-error', errorLayer() === index);
      box.dataset.type = layer.type;
      placeBox(box, drag && drag.index === index && drag.rect ? drag.rect : D.layerRect(ed.doc, layer));
    });
    if (hadFocus && !overlay.contains(document.activeElement) && ed.selected !== null) {
      overlay.querySelector(`[data-index="${ed.selected}"]`)?.focus();
    }
    overlay.classList.toggle('locked', ed.readOnly);
  }

  const errorLayer = () => {
    const t = ed.error?.path ? D.errorTarget(ed.error.path, ed.doc) : null;
    return t?.scope === 'layer' ? t.index : null;
  };

  function placeBox(box, r) {
    const ok = [r.x, r.y, r.width, r.height].every(Number.isFinite);
    box.hidden = !ok;
    if (!ok) return;
    box.style.left = `${r.x * scale}px`;
    box.style.top = `${r.y * scale}px`;
    box.style.width = `${Math.max(2, r.width * scale)}px`;
    box.style.height = `${Math.max(2, r.height * scale)}px`;
  }

  function drawGuides(guides) {
    overlay.querySelectorAll('.ed-guide').forEach((g) => g.remove());
    for (const g of guides) {
      const line = h('div', { class: `ed-guide ${g.axis}`, 'aria-hidden': 'true' });
      if (g.axis === 'x') line.style.left = `${g.at * scale}px`;
      else line.style.top = `${g.at * scale}px`;
      overlay.append(line);
    }
  }

  overlay.addEventListener('pointerdown', (e) => {
    if (e.button !== 0) return;
    const box = e.target.closest('.ed-box');
    if (!box) { select(null); return; }
    const index = Number(box.dataset.index);
    if (ed.selected !== index) select(index);
    box.focus({ preventScroll: true });
    if (ed.readOnly) return;
    e.preventDefault();
    const handle = e.target.dataset.handle || null;
    drag = {
      index, handle, x: e.clientX, y: e.clientY, moved: false, rect: null,
      start: D.layerRect(ed.doc, ed.doc.layers[index]), pointer: e.pointerId,
    };
    overlay.setPointerCapture(e.pointerId);
  });

  overlay.addEventListener('pointermove', (e) => {
    if (!drag || e.pointerId !== drag.pointer) return;
    const sx = e.clientX - drag.x;
    const sy = e.clientY - drag.y;
    if (!drag.moved && Math.hypot(sx, sy) < DRAG_START_PX) return;
    drag.moved = true;
    const dx = sx / scale;
    const dy = sy / scale;
    let rect = drag.handle
      ? D.resizeRect(drag.start, drag.handle, dx, dy, { keepRatio: e.shiftKey })
      : D.moveRect(drag.start, drag.start.x + dx, drag.start.y + dy);
    let guides = [];
    if (!e.altKey) ({ rect, guides } = D.snapRect(rect, ed.doc.canvas, SNAP_SCREEN_PX / scale, drag.handle));
    drag.rect = rect;
    const box = overlay.querySelector(`[data-index="${drag.index}"]`);
    if (box) placeBox(box, rect);
    drawGuides(guides);
    props.showRect?.(rect);
  });

  function endDrag(e, commit) {
    if (!drag || e.pointerId !== drag.pointer) return;
    const { index, rect, moved } = drag;
    drag = null;
    drawGuides([]);
    if (commit && moved && rect) edit((doc) => D.setLayerRect(doc, index, rect));
    else drawBoxes();
  }
  overlay.addEventListener('pointerup', (e) => endDrag(e, true));
  overlay.addEventListener('pointercancel', (e) => endDrag(e, false));

  overlay.addEventListener('keydown', (e) => {
    const box = e.target.closest('.ed-box');
    if (!box) return;
    const index = Number(box.dataset.index);
    if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); select(index, { focusBox: true }); return; }
    if (e.key === 'Escape') { e.preventDefault(); select(null); return; }
    if (ed.readOnly) return;
    if (e.key === 'Delete' || e.key === 'Backspace') {
      e.preventDefault();
      edit((doc) => D.deleteLayer(doc, index), { select: null });
      return;
    }
    const rect = D.nudge(D.layerRect(ed.doc, ed.doc.layers[index]), e.key, { shift: e.shiftKey, alt: e.altKey });
    if (!rect) return;
    e.preventDefault();
    ed.selected = index;
    edit((doc) => D.setLayerRect(doc, index, rect), { key: `nudge:${index}` });
  });
  // Double-click a box to write in it: the text (or the picture's source) takes the focus.
  // (The overlay captures the pointer, so the click lands on it: the box is the one pressed.)
  overlay.addEventListener('dblclick', () => {
    const index = ed.selected;
    if (index === null || ed.readOnly) return;
    const key = { text: 'text', image: 'source' }[ed.doc.layers[index]?.type];
    const control = key && ed.controls.get(D.jsonPath(['layers', index, key]))?.el;
    if (control) { control.focus(); control.select?.(); }
  });
  overlay.addEventListener('focusin', (e) => {
    const box = e.target.closest('.ed-box');
    if (box && !drag && ed.selected !== Number(box.dataset.index)) select(Number(box.dataset.index));
  });

  // ---------------------------------------------------------------------------------------
  // Previews: three renders of the saved draft, fetched so the fallbacks header can be read
  // and a refusal shown as text instead of a broken image

  const previewBase = ctx.here;
  let counter = 0;
  const sampleKey = `tessera.sample.${qualified}`;
  let typed = {};
  try { typed = JSON.parse(sessionStorage.getItem(sampleKey) || '{}') || {}; } catch { typed = {}; }

  const slots = {
    sample: previewSlot('Sample recipient', 'The values below'),
    empty: previewSlot('Empty recipient', 'No values: every fallback'),
    longest: previewSlot('Longest recipient', 'Every field at its max length'),
  };
  const sampleForm = h('div', { class: 'ed-sample-values' });

  function previewSlot(title, about) {
    const img = h('img', { alt: `${title} preview`, hidden: true });
    const message = h('p', { class: 'ed-shot-message' });
    const shot = h('div', { class: 'ed-shot' }, img, message);
    const fallbacks = h('ul', { class: 'ed-fallbacks' });
    const el = h('figure', { class: 'ed-preview' },
      h('figcaption', {}, h('h3', {}, title), h('p', { class: 'muted' }, about)),
      shot, fallbacks);
    return { el, img, message, shot, fallbacks, gen: 0, url: null };
  }

  const previewsSoon = later(() => drawPreviews(), PREVIEW_AFTER_SAVE_MS);
  const sampleSoon = later(() => { counter++; loadSlot(slots.sample, sampleRecipient(), true); }, SAMPLE_TYPING_MS);
  const sampleRecipient = () => D.sampleValues(savedDoc(), typed);
  // Previews render what the server holds, so their values follow its fields.
  const savedDoc = () => (savedText ? JSON.parse(savedText) : ed.doc);

  function drawPreviews() {
    if (!savedText || !canPreview) return;
    counter++;
    loadSlot(slots.sample, sampleRecipient(), true);
    loadSlot(slots.empty, {});
    loadSlot(slots.longest, D.longestValues(savedDoc()));
  }

  async function loadSlot(slot, values, isCanvas = false) {
    const gen = ++slot.gen;
    const canvas = savedDoc().canvas;
    const big = isCanvas ? 1600 : 800;
    const url = D.previewUrl(previewBase, qualified, values, { width: big, height: big, counter, canvas });
    slot.shot.classList.add('loading');
    let shown = null;
    let problemText = '';
    let header = null;
    try {
      const res = await fetch(url, { credentials: 'same-origin' });
      if (gen !== slot.gen) return;
      if (res.ok) {
        shown = URL.createObjectURL(await res.blob());
        header = res.headers.get('X-Tessera-Fallbacks');
      } else {
        problemText = `Tessera could not render this preview: ${(await res.text()).trim().split('\n')[0] || res.status}`;
      }
    } catch {
      problemText = 'The server could not be reached for this preview.';
    }
    if (gen !== slot.gen) { if (shown) URL.revokeObjectURL(shown); return; }
    slot.shot.classList.remove('loading');
    if (slot.url) URL.revokeObjectURL(slot.url);
    slot.url = shown;
    slot.img.hidden = !shown;
    if (shown) slot.img.src = shown; else slot.img.removeAttribute('src');
    slot.message.textContent = problemText;
    drawFallbacks(slot, header, shown !== null, values);
    if (isCanvas) {
      canvasImg.hidden = !shown;
      if (shown) canvasImg.src = shown; else canvasImg.removeAttribute('src');
      stageNote.textContent = shown ? '' : problemText;
    }
  }

  // The header names the values sent that fell back; fields not sent at all fall back too.
  function drawFallbacks(slot, header, rendered, values) {
    if (!rendered) { fill(slot.fallbacks); return; }
    const names = Object.keys(savedDoc().fields || {});
    const list = D.parseFallbacks(header);
    for (const n of names) {
      if (!(n in values) && !list.some((f) => f.field === n)) list.push({ field: n, reason: 'missing' });
    }
    list.sort((a, b) => names.indexOf(a.field) - names.indexOf(b.field));
    fill(slot.fallbacks,
      !names.length ? h('li', { class: 'muted' }, 'No fields: every recipient sees this image.')
        : !list.length ? h('li', { class: 'ok' }, 'Every field used the value given.')
          : list.map((f) => h('li', {}, h('code', {}, f.field), ` ${D.explainFallback(f.reason)}.`)));
  }

  // One input per field (labelled with its name); what is typed is kept for this template.
  let sampleNames = null;
  function drawSampleForm() {
    const names = Object.entries(ed.doc.fields || {});
    const key = JSON.stringify(names.map(([n, s]) => [n, s.kind || 'text']));
    if (key === sampleNames) return;
    sampleNames = key;
    if (!names.length) { fill(sampleForm); return; }
    fill(sampleForm, h('h3', {}, 'Sample recipient’s values'), h('div', { class: 'row' }, ...names.map(([name, spec]) => {
      const input = h('input', {
        type: 'text',
        value: name in typed ? typed[name] : D.sampleValue(name, spec),
        placeholder: spec.kind === 'url' ? 'an identifier, e.g. astronaut' : '',
        dataset: { nativeUndo: '1' },
      });
      input.addEventListener('input', () => {
        typed = { ...typed, [name]: input.value };
        try { sessionStorage.setItem(sampleKey, JSON.stringify(typed)); } catch { /* private mode */ }
        sampleSoon();
      });
      return field(name, input);
    })));
  }

  // ---------------------------------------------------------------------------------------
  // Panels, toolbar and page

  const layers = layersPanel(ed);
  const props = propertiesPanel(ed);
  const fields = fieldsPanel(ed);
  const raw = rawPanel(ed);

  function refresh({ force = false } = {}) {
    layout();
    layers.update();
    props.update({ force });
    fields.update({ force });
    raw.update({ force });
    drawSampleForm();
    drawUndo();
    refreshErrors();
  }

  const undoBtn = h('button', { type: 'button', onclick: undoStep, 'aria-keyshortcuts': 'Control+Z Meta+Z' }, 'Undo');
  const redoBtn = h('button', { type: 'button', onclick: redoStep, 'aria-keyshortcuts': 'Control+Shift+Z Meta+Shift+Z Control+Y' }, 'Redo');
  const rawBtn = h('button', { type: 'button', 'aria-expanded': 'false', 'aria-controls': 'ed-raw', onclick: () => {
    const open = raw.el.hidden;
    raw.el.hidden = !open;
    rawBtn.setAttribute('aria-expanded', String(open));
    if (open) { raw.update({ force: true }); raw.focus(); }
  } }, 'Raw JSON');
  raw.el.id = 'ed-raw';
  function drawUndo() {
    undoBtn.disabled = !history.past.length;
    redoBtn.disabled = !history.future.length;
  }

  const badge = h('span', { class: 'badge' });
  function drawBadge() {
    const state = meta?.state || 'new';
    badge.className = `badge ${state}`;
    badge.textContent = state === 'submitted' ? 'in review' : meta?.archived ? `${state}, archived` : state;
  }

  const note = h('div', { class: 'ed-note', hidden: true });
  function drawNote() {
    let text = null;
    if (meta?.state === 'submitted') {
      text = [`Submitted for review${meta.submitted_at ? ` ${ago(meta.submitted_at)}` : ''}: `,
        'the draft is locked until a publisher approves or rejects it. ',
        h('a', { href: `#/templates/${enc(qualified)}/versions` }, 'Versions & review')];
    } else if (!canEdit) {
      text = ['Your role may look at this template but not change it.'];
    }
    note.hidden = !text;
    if (text) fill(note, ...text);
  }

  // Links out of the editor save first, so leaving right after an edit loses nothing.
  const leave = (href, label, cls = 'button') => h('a', {
    class: cls,
    href,
    onclick: async (e) => {
      if (ed.readOnly || !dirty()) return;
      e.preventDefault();
      if (await flush()) ctx.go(href);
    },
  }, label);

  const editing = !ed.readOnly;
  const bar = h('div', { class: 'ed-bar' },
    leave('#/templates', '← Templates', 'button ed-back'),
    h('h1', {}, qualified),
    badge,
    statusEl,
    h('span', { class: 'grow' }),
    editing ? h('span', { class: 'ed-history' }, undoBtn, redoBtn) : null,
    rawBtn,
    leave(`#/templates/${enc(qualified)}/versions`, 'Versions & review'),
    leave(`#/templates/${enc(qualified)}/use`, 'Use it'));

  const previews = h('section', { class: 'ed-previews', 'aria-labelledby': 'ed-previews-h' },
    h('h2', { id: 'ed-previews-h' }, 'Previews'),
    canPreview
      ? h('p', { class: 'muted' }, 'Rendered by Tessera from the saved draft, a moment after each save.')
      : h('p', { class: 'muted' }, 'Your role cannot render draft previews.'),
    canPreview ? [
      h('div', { class: 'ed-preview-grid' }, slots.sample.el, slots.empty.el, slots.longest.el),
      sampleForm,
      h('p', { class: 'muted ed-longest-note' },
        'The longest recipient fills every text field to its max length with 7-letter words of “W” (the widest letter) and spaces, ',
        'so wrapping, shrinking to the min size and the final “…” show at their worst; numbers are 9s, dates one fixed date, ',
        'and picture fields are left to their default.'),
    ] : null);

  root.append(h('div', { class: `ed${ed.readOnly ? ' read-only' : ''}` },
    bar,
    note,
    problem,
    h('div', { class: 'ed-work' },
      h('div', { class: 'ed-left' }, layers.el, fields.el),
      h('div', { class: 'ed-centre' },
        h('section', { 'aria-labelledby': 'ed-canvas-h' },
          h('h2', { id: 'ed-canvas-h', class: 'sr-only' }, 'Canvas'),
          stageWrap, help),
        previews),
      h('div', { class: 'ed-right' }, props.el)),
    raw.el));

  drawBadge();
  drawNote();
  drawHelp();
  refresh({ force: true });
  setStatus(status);
  if (!savedText) stageNote.textContent = canPreview ? 'The render appears after the first save.' : '';
  else if (!canPreview) stageNote.textContent = '';
  drawPreviews();

  const resize = new ResizeObserver(() => layout());
  resize.observe(stageWrap);

  // Undo and redo from anywhere but the raw JSON text and the sample values (their own
  // undo is the browser's).
  function onKey(e) {
    if (!(e.ctrlKey || e.metaKey) || e.altKey || ed.readOnly) return;
    if (e.target.closest?.('#ed-raw, [data-native-undo]')) return;
    const k = e.key.toLowerCase();
    if (k === 'z' && !e.shiftKey) { e.preventDefault(); undoStep(); }
    else if ((k === 'z' && e.shiftKey) || (k === 'y' && !e.metaKey)) { e.preventDefault(); redoStep(); }
  }
  document.addEventListener('keydown', onKey);

  // Leaving with changes not yet on the server: when the last save went through, the latest
  // changes are sent at once (keepalive, so they survive a page unload too) and nobody is
  // stopped; when the server refused the last save, they would be lost: warn.
  ctx.leaving = () => {
    if (ed.readOnly || !dirty()) return null;
    // Browsers cap keepalive bodies at 64 KiB: a bigger document is saved normally, and
    // whoever leaves is warned, since a page unload would cut that save short.
    if (!ed.error && JSON.stringify(ed.doc).length < 60000) { sendNow(); return null; }
    save();
    return ed.error
      ? 'The server refused the latest changes, so they are not saved. Leave anyway?'
      : 'The latest changes are still being saved. Leave anyway?';
  };

  // lib/api.js has no keepalive; this is the same PUT with the same CSRF header.
  function sendNow() {
    autosave.cancel();
    const body = JSON.stringify(ed.doc);
    fetch(tplUrl, {
      method: 'PUT',
      credentials: 'same-origin',
      keepalive: true,
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': ctx.session?.csrf_token || '' },
      body,
    }).catch(() => { /* gone: nothing left to tell */ });
  }

  return () => {
    autosave.cancel();
    previewsSoon.cancel();
    sampleSoon.cancel();
    resize.disconnect();
    document.removeEventListener('keydown', onKey);
    for (const s of Object.values(slots)) if (s.url) URL.revokeObjectURL(s.url);
  };
}

// Identifiers of the catalogue's pictures, for the picture pickers; a new picture layer
// starts with one the server certainly has.
async function loadAssets(ctx) {
  if (!ctx.can('view')) return [];
  try {
    const res = await api.get('/admin/assets?limit=200');
    return (res.assets || []).map((a) => a.identifier);
  } catch {
    return [];
  }
}
