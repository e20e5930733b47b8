// Assets: the image catalogue (GET /admin/assets, searchable and paged) as thumbnails from
// Tessera's IIIF service; picture uploads into the chosen project's folder (PUT
// /admin/projects/{p}/pictures/{file}); and a deep-zoom viewer (OpenSeadragon, vendored under
// vendor/openseadragon) over the same IIIF service, with the URLs people paste elsewhere.

import { api, request, query, enc } from '../lib/api.js';
import { h, fill, field, copy, toast } from '../lib/dom.js';
import { bytes } from '../lib/chart.js';

const PAGE = 24;
// What the server stores (src/http/pictures.rs, valid_file): these extensions only.
const EXTENSIONS = ['jpg', 'jpeg', 'png', 'tif', 'tiff', 'webp', 'gif'];
const TYPES = ['image/jpeg', 'image/png', 'image/tiff', 'image/webp', 'image/gif'];
// templates.max_upload_bytes, as the session tells it (its default otherwise); the server has
// the last word anyway (413 with its limit).
let MAX_UPLOAD = 26214400;
const OSD = '/studio/vendor/openseadragon/';

// A file name the server accepts: letters, digits, '-', '_', '.', at most 128, an image
// extension, not starting with '.'. Spaces and other characters become '-'.
export function safeName(name) {
  const dot = name.lastIndexOf('.');
  let ext = (dot > 0 ? name.slice(dot + 1) : '').toLowerCase();
  let base = dot > 0 ? name.slice(0, dot) : name;
  if (ext === 'jpeg') ext = 'jpg';
  if (ext === 'tiff') ext = 'tif';
  base = base.normalize('NFKD').replace(/[\u0300-\u036f]/g, '')
    .replace(/[^A-Za-z0-9_.-]+/g, '-').replace(/-{2,}/g, '-').replace(/^[-.]+|[-.]+$/g, '');
  if (!base) base = 'picture';
  return `${base.slice(0, 127 - ext.length)}.${ext}`;
}

function extensionOf(name) {
  const dot = name.lastIndexOf('.');
  return dot > 0 ? name.slice(dot + 1).toLowerCase() : '';
}

// Why a file cannot be uploaded, or null.
function refusal(file) {
  if (!EXTENSIONS.includes(extensionOf(file.name)) || (file.type && !TYPES.includes(file.type))) {
    return 'not a JPEG, PNG, TIFF, WebP or GIF picture';
  }
  if (file.size > MAX_UPLOAD) return `${bytes(file.size)}: larger than the ${bytes(MAX_UPLOAD)} the server accepts`;
  if (file.size === 0) return 'the file is empty';
  return null;
}

const thumb = (ctx, id) => `${ctx.here}/${enc(id)}/full/!240,240/0/default.jpg`;
const base = (ctx, id) => `${ctx.iiif}/${enc(id)}`;

// The width steps of a srcset, none wider than the picture (IIIF 3 never upscales without ^).
function srcsetSnippet(ctx, a) {
  const b = base(ctx, a.identifier);
  const widths = [320, 640, 960, 1280, 1920, 2560].filter((w) => w < a.width);
  widths.push(a.width);
  const src = widths.find((w) => w >= 800) || a.width;
  const url = (w) => (w === a.width ? `${b}/full/max/0/default.jpg` : `${b}/full/${w},/0/default.jpg`);
  const height = Math.round((a.height * src) / a.width);
  return `<img src="${url(src)}"\n  srcset="${widths.map((w) => `${url(w)} ${w}w`).join(',\n    ')}"\n`
    + `  sizes="(max-width: ${src}px) 100vw, ${src}px"\n  width="${src}" height="${height}" alt="">`;
}

// OpenSeadragon is a classic script that defines a global; it is loaded once, on first use.
let osdLoading = null;
function loadOpenSeadragon() {
  if (window.OpenSeadragon) return Promise.resolve(window.OpenSeadragon);
  if (!osdLoading) {
    osdLoading = new Promise((resolve, reject) => {
      // OSD adds an inline <style> (hiding the focus ring on touch screens) unless
      // `style[data-openseadragon-mobile-css]` exists. The CSP refuses inline styles, even an
      // empty one, so a <style> in a made-up namespace stands in: the selector matches it, the
      // browser does not treat it as a stylesheet. We keep the focus ring.
      if (!document.querySelector('style[data-openseadragon-mobile-css]')) {
        const marker = document.createElementNS('urn:x-tessera-studio', 'style');
        marker.setAttribute('data-openseadragon-mobile-css', 'true');
        document.head.append(marker);
      }
      const script = h('script', { src: `${OSD}openseadragon.min.js` });
      script.addEventListener('load', () => resolve(window.OpenSeadragon));
      script.addEventListener('error', () => { osdLoading = null; reject(new Error('The viewer could not be loaded.')); });
      document.head.append(script);
    });
  }
  return osdLoading;
}

// OpenSeadragon's navigation buttons are <div>s with pictures, out of the tab order: make
// them buttons a keyboard and a screen reader can use (Enter or Space does what a click does).
function makeKeyboardFriendly(viewer, id) {
  const v = viewer.viewport;
  const zoom = (factor) => { v.zoomBy(factor); v.applyConstraints(); };
  const actions = [
    [viewer.zoomInButton, () => zoom(viewer.zoomPerClick)],
    [viewer.zoomOutButton, () => zoom(1 / viewer.zoomPerClick)],
    [viewer.homeButton, () => v.goHome()],
    [viewer.rotateLeftButton, () => v.setRotation(v.getRotation() - 90)],
    [viewer.rotateRightButton, () => v.setRotation(v.getRotation() + 90)],
  ];
  for (const [button, act] of actions) {
    const el = button?.element;
    if (!el) continue;
    el.setAttribute('role', 'button');
    el.setAttribute('aria-label', button.tooltip || el.title);
    el.tabIndex = 0;
    for (const img of el.querySelectorAll('img')) img.alt = '';
    el.addEventListener('keydown', (e) => {
      if (e.key !== 'Enter' && e.key !== ' ') return;
      e.preventDefault();
      e.stopPropagation();
      act();
    });
  }
  // The picture itself takes the keys (+ − 0, arrows, w a s d, r): say so.
  viewer.canvas.setAttribute('role', 'application');
  viewer.canvas.setAttribute('aria-label', `${id}, zoomable: + and − zoom, arrow keys pan, 0 shows it whole`);
}

export async function render(root, ctx) {
  MAX_UPLOAD = ctx.session.max_upload_bytes || MAX_UPLOAD;
  const mayUpload = ctx.can('upload');
  const search = h('input', { type: 'search', name: 'q', placeholder: 'File name or folder', autocomplete: 'off' });
  const status = h('p', { class: 'muted', role: 'status' });
  const grid = h('ul', { class: 'asset-grid', 'aria-label': 'Pictures' });
  const prev = h('button', { type: 'button' }, 'Previous page');
  const next = h('button', { type: 'button' }, 'Next page');
  const pageLabel = h('span', {});
  const pager = h('nav', { class: 'pager', 'aria-label': 'Pages' }, prev, pageLabel, next);
  const problem = h('p', { class: 'error', role: 'alert' });
  const recent = h('ul', { class: 'asset-grid', 'aria-label': 'Just uploaded' });
  const recentBox = h('section', { class: 'recent', hidden: true, 'aria-labelledby': 'assets-recent' },
    h('h2', { id: 'assets-recent' }, 'Just uploaded'), recent);
  let offset = 0;
  let seq = 0;
  let viewer = null;

  // Scanning is server-wide: it needs upload in the default project (src/http/assets.rs).
  const scan = ctx.can('upload', 'default') ? h('button', { type: 'button', onclick: () => runScan() }, 'Scan image folder') : null;
  const searchForm = h('form', { class: 'toolbar', role: 'search' },
    field('Search pictures', search),
    h('button', { type: 'submit' }, 'Search'),
    h('span', { class: 'grow' }),
    scan);
  searchForm.addEventListener('submit', (e) => { e.preventDefault(); offset = 0; load(); });
  search.addEventListener('search', () => { if (!search.value) { offset = 0; load(); } });

  root.append(
    h('h1', {}, 'Assets'),
    h('p', { class: 'muted' }, 'Every picture Tessera serves: the shared image folder, and the pictures of the projects you belong to. Open one to zoom into it and copy its URLs.'),
    mayUpload ? uploadBox() : null,
    recentBox,
    searchForm,
    problem,
    status,
    grid,
    pager);

  prev.addEventListener('click', () => { offset = Math.max(0, offset - PAGE); load(); });
  next.addEventListener('click', () => { offset += PAGE; load(); });

  async function load() {
    const mine = ++seq;
    problem.textContent = '';
    status.textContent = 'Loading…';
    let r;
    try {
      r = await api.get(`/admin/assets${query({ q: search.value.trim(), offset, limit: PAGE })}`);
    } catch (e) {
      if (mine !== seq) return;
      problem.textContent = e.message;
      status.textContent = '';
      return;
    }
    if (mine !== seq) return;
    if (offset > 0 && offset >= r.total) { offset = Math.max(0, r.total - PAGE); load(); return; }
    fill(grid, ...r.assets.map(tile));
    status.textContent = r.total
      ? `${offset + 1}–${offset + r.assets.length} of ${r.total}`
      : (search.value.trim() ? `No picture matches "${search.value.trim()}".`
        : `The catalogue is empty.${scan ? ' "Scan image folder" catalogues the pictures in it.' : ''}`);
    prev.disabled = offset === 0;
    next.disabled = offset + r.assets.length >= r.total;
    pager.hidden = r.total <= PAGE;
    pageLabel.textContent = `Page ${Math.floor(offset / PAGE) + 1} of ${Math.max(1, Math.ceil(r.total / PAGE))}`;
  }

  function tile(a) {
    const name = a.identifier;
    return h('li', { class: 'asset' },
      h('button', { type: 'button', class: 'asset-open', onclick: () => openViewer(a) },
        h('img', { src: thumb(ctx, name), alt: '', loading: 'lazy', width: 240, height: 240 }),
        h('span', { class: 'asset-name' }, name)),
      h('span', { class: 'asset-meta muted' },
        [a.width && a.height ? `${a.width}×${a.height}` : null, a.format, a.bytes != null ? bytes(a.bytes) : null].filter(Boolean).join(' · ')));
  }

  async function runScan() {
    scan.disabled = true;
    scan.textContent = 'Scanning…';
    try {
      const r = await api.post('/admin/assets/scan');
      const said = r && typeof r === 'object'
        ? ['added', 'updated', 'unchanged', 'unreadable'].filter((k) => typeof r[k] === 'number').map((k) => `${r[k]} ${k}`).join(', ')
        : '';
      toast(said ? `Catalogue up to date: ${said}` : 'Catalogue up to date');
      offset = 0;
      await load();
    } catch (e) {
      problem.textContent = e.message;
    } finally {
      scan.disabled = false;
      scan.textContent = 'Scan image folder';
    }
  }

  function uploadBox() {
    const input = h('input', { type: 'file', name: 'pictures', multiple: true, accept: EXTENSIONS.map((e) => `.${e}`).join(',') });
    const list = h('ul', { class: 'upload-list', 'aria-live': 'polite' });
    const zone = h('div', { class: 'drop-zone' },
      field('Upload pictures', input, { hint: `JPEG, PNG, TIFF, WebP or GIF, up to ${bytes(MAX_UPLOAD)} each. Stored in projects/${ctx.project}/; a picture of the same name is replaced.` }),
      h('p', { class: 'muted drop-hint', 'aria-hidden': 'true' }, 'or drop pictures here'),
      list);
    input.addEventListener('change', () => { upload([...input.files], list); input.value = ''; });
    zone.addEventListener('dragover', (e) => { e.preventDefault(); zone.classList.add('dragging'); });
    zone.addEventListener('dragleave', (e) => { if (!zone.contains(e.relatedTarget)) zone.classList.remove('dragging'); });
    zone.addEventListener('drop', (e) => {
      e.preventDefault();
      zone.classList.remove('dragging');
      upload([...(e.dataTransfer?.files || [])], list);
    });
    return h('section', { class: 'card upload', 'aria-labelledby': 'assets-upload' },
      h('h2', { id: 'assets-upload' }, `Upload to ${ctx.project}`), zone);
  }

  async function upload(files, list) {
    for (const file of files) {
      const line = h('li', {}, `${file.name}: `);
      const state = h('span', {}, 'uploading…');
      line.append(state);
      list.prepend(line);
      const why = refusal(file);
      if (why) {
        state.textContent = why;
        line.classList.add('error');
        continue;
      }
      const name = safeName(file.name);
      try {
        const res = await request('PUT', `/admin/projects/${enc(ctx.project)}/pictures/${enc(name)}`, {
          body: file, headers: { 'Content-Type': file.type || 'application/octet-stream' },
        });
        const a = {
          identifier: res.identifier, width: res.width, height: res.height,
          format: extensionOf(res.file || name), bytes: res.bytes,
        };
        state.textContent = name === file.name ? 'uploaded' : `uploaded as ${name}`;
        line.classList.add('ok');
        // Shown at once (the catalogue's order may put it on another page), newest first.
        for (const old of [...recent.children]) if (old.dataset.id === a.identifier) old.remove();
        const t = tile(a);
        t.dataset.id = a.identifier;
        recent.prepend(t);
        recentBox.hidden = false;
      } catch (e) {
        state.textContent = e.status === 413 ? `too large: ${e.message}` : e.message;
        line.classList.add('error');
      }
    }
  }

  // The viewer: a modal dialog with OpenSeadragon on the left, the URLs on the right.
  async function openViewer(a) {
    const id = a.identifier;
    const baseUrl = base(ctx, id);
    const info = `${baseUrl}/info.json`;
    const stage = h('div', { class: 'osd-stage', tabindex: '-1' });
    const copyRow = (label, value, button, multiline = false) => {
      const control = multiline
        ? h('textarea', { readonly: true, rows: 7, spellcheck: 'false' }, value)
        : h('input', { type: 'text', readonly: true, value, spellcheck: 'false' });
      control.addEventListener('focus', () => control.select());
      return h('div', { class: 'copy-row' },
        field(label, control),
        h('button', { type: 'button', onclick: () => copy(value, `${label} copied`) }, button));
    };
    const close = h('button', { type: 'button', class: 'close' }, 'Close viewer');
    const d = h('dialog', { class: 'viewer', 'aria-labelledby': 'viewer-title' },
      h('div', { class: 'viewer-head' },
        h('h2', { id: 'viewer-title' }, id),
        close),
      h('div', { class: 'viewer-body' },
        h('div', { class: 'viewer-canvas' },
          stage,
          h('p', { class: 'muted small' }, 'Drag to pan, scroll or use the buttons to zoom; with the picture focused, + and − zoom, arrow keys pan, 0 goes back.')),
        h('aside', { class: 'viewer-side', 'aria-label': 'Picture details' },
          h('p', { class: 'muted' }, [a.width && a.height ? `${a.width} × ${a.height} px` : null, a.format, a.bytes != null ? bytes(a.bytes) : null].filter(Boolean).join(' · ')),
          copyRow('IIIF base URL', baseUrl, 'Copy IIIF base URL'),
          copyRow('info.json URL', info, 'Copy info.json URL'),
          a.width ? copyRow('Responsive <img> with srcset', srcsetSnippet(ctx, a), 'Copy srcset', true) : null,
          h('p', { class: 'small' }, h('a', { href: `${baseUrl}/full/max/0/default.jpg`, target: '_blank', rel: 'noopener' }, 'Open the full picture in a new tab')))));
    close.addEventListener('click', () => d.close());
    d.addEventListener('close', () => {
      if (viewer) { viewer.destroy(); viewer = null; }
      d.remove();
    });
    document.body.append(d);
    d.showModal();
    close.focus();
    try {
      const OpenSeadragon = await loadOpenSeadragon();
      if (!d.open) return;
      viewer = OpenSeadragon({
        element: stage,
        prefixUrl: `${OSD}images/`,
        // Shown here, so read from this origin; the copied URLs are the public ones.
        tileSources: `${ctx.here}/${enc(id)}/info.json`,
        showNavigator: true,
        navigatorPosition: 'BOTTOM_RIGHT',
        // Full page would move the viewer out of the modal dialog, where it cannot be used.
        showFullPageControl: false,
        showRotationControl: true,
        crossOriginPolicy: false,
        ajaxWithCredentials: false,
        maxZoomPixelRatio: 2,
        visibilityRatio: 0.5,
      });
      makeKeyboardFriendly(viewer, id);
      viewer.addHandler('open-failed', (ev) => {
        fill(stage, h('p', { class: 'error', role: 'alert' }, `The picture could not be opened: ${ev.message || 'no info.json'}`));
      });
    } catch (e) {
      fill(stage, h('p', { class: 'error', role: 'alert' }, e.message));
    }
  }

  await load();
  return () => {
    seq += 1;
    if (viewer) { viewer.destroy(); viewer = null; }
    document.querySelector('dialog.viewer')?.remove();
  };
}
