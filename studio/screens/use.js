// "Use it": everything needed to send a published version. Ready <img> tags for eight email
// platforms (each open field filled by the platform's own merge tag and URL-encoding filter,
// lib/esp.js), a responsive web snippet, a signed or sealed URL for one recipient, and a CSV
// of recipients turned into sealed URLs — with the rows whose values will fall back shown
// before anything is sent.

import { api, enc, request } from '../lib/api.js';
import { h, fill, field, setError, copy, later } from '../lib/dom.js';
import {
  PLATFORMS, defaultAttribute, platformTag, webSnippet, pixelWidth, heightFor, imageUrl,
  altFromName, checkRecipients, parseCsv, lineOfCsvError, fallbackReason, explainFallback,
} from '../lib/esp.js';
import { shortName } from './templates.js';

const FORMATS = ['jpg', 'png', 'webp'];

// A read-only text box with its "Copy …" button: the box is labelled `label` ("Mailchimp tag",
// "Web snippet"), the button "Copy " + `what` (the label, lower-cased after a platform name).
function copyBox(label, rows = 3, what = label) {
  const text = h('textarea', { readonly: true, rows, spellcheck: 'false', class: 'use-code' });
  const button = h('button', { type: 'button', 'aria-label': `Copy ${what}`, onclick: () => copy(text.value, `${label} copied`) }, 'Copy');
  const wrap = h('div', { class: 'use-copybox' }, field(label, text), button);
  return { wrap, text };
}

export async function render(root, ctx, [name]) {
  const project = name.includes('.') ? name.split('.')[0] : 'default';
  const label = shortName(name);
  const base = `/admin/templates/${enc(name)}`;
  const canMakeUrls = ctx.can('make_urls', project);
  let downloadUrl = null;

  root.append(h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: '#/templates' }, 'Templates'), ' / ', label));

  const { versions } = await api.get(`${base}/versions`);
  if (!versions.length) {
    root.append(
      h('h1', {}, `Use ${label}`),
      h('div', { class: 'card' },
        h('p', {}, 'This template has no published version yet. Email tags always point at a published version, so images already sent never change.'),
        h('p', {}, h('a', { href: `#/templates/${enc(name)}/versions` }, 'Go to versions & review'), ' to submit or publish the draft.')));
    return null;
  }

  // ---- Settings shared by every output ----
  const versionPick = h('select', {}, [...versions].reverse().map((v) => h('option', { value: v.version }, `Version ${v.version}`)));
  const widthInput = h('input', { type: 'number', min: 16, max: 4000, step: 1, inputmode: 'numeric' });
  const formatPick = h('select', {}, FORMATS.map((f) => h('option', { value: f }, f.toUpperCase())));
  const dense = h('input', { type: 'checkbox', checked: true, id: 'use-dense' });
  const altInput = h('input', { type: 'text', value: altFromName(name) });
  const sizeNote = h('p', { class: 'muted use-sizenote', 'aria-live': 'polite' });

  const settings = h('section', { class: 'card use-settings', 'aria-labelledby': 'use-settings-h' },
    h('h2', { id: 'use-settings-h' }, 'Image'),
    h('div', { class: 'row' },
      field('Version', versionPick),
      field('Width in the email (px)', widthInput, { hint: 'Most email layouts are 600 px wide.' }),
      field('Format', formatPick),
      field('Alt text', altInput, { hint: 'Read aloud by screen readers and shown when images are off.' })),
    h('label', { class: 'use-check', for: dense.id }, dense, ' Sharp on high-density screens (asks for twice the pixels)'),
    sizeNote);

  const samples = h('section', { class: 'use-samples', 'aria-labelledby': 'use-samples-h' });
  const tags = h('section', { class: 'use-tags', 'aria-labelledby': 'use-tags-h' });
  const web = h('section', { class: 'use-web', 'aria-labelledby': 'use-web-h' });
  const signer = h('section', { class: 'use-sign', 'aria-labelledby': 'use-sign-h' });
  const sealer = h('section', { class: 'use-seal', 'aria-labelledby': 'use-seal-h' });

  root.append(
    h('h1', {}, `Use ${label}`),
    h('p', { class: 'muted' }, 'Paste a tag into your email platform’s HTML. Each recipient’s values are filled in by the platform when it sends; a missing value shows the field’s default, never a broken image.'),
    settings, samples, tags, web);
  if (canMakeUrls) root.append(signer, sealer);

  // ---- Per version: its fields and canvas ----
  let doc = null;
  let openFields = [];
  const mapping = {}; // platform id → { field → attribute }
  const sampleValues = {};
  const tagBoxes = []; // [{ platform, text }]
  let webBox = null;
  const sampleImg = h('img', { class: 'use-preview', alt: '' });
  const emptyImg = h('img', { class: 'use-preview', alt: '' });

  const current = () => {
    const canvas = doc.canvas;
    const width = Math.max(16, Math.min(Number(widthInput.value) || 600, 4000));
    return {
      base: ctx.iiif, name, version: Number(versionPick.value), canvas, width,
      density: dense.checked ? 2 : 1, format: formatPick.value, fields: openFields, alt: altInput.value.trim(),
    };
  };

  function drawSamples() {
    const inputs = openFields.map((f) => {
      const input = h('input', { type: 'text', value: sampleValues[f] ?? '', placeholder: doc.fields[f].default || '' });
      // Says before the image does when a value will not be printed (too long, pattern…).
      const explain = () => {
        const reason = fallbackReason(doc.fields[f], input.value);
        setError(input, reason ? `This value ${explainFallback(reason, doc.fields[f])}: the image shows “${doc.fields[f].default || ''}” instead.` : '');
      };
      input.addEventListener('input', () => { sampleValues[f] = input.value; explain(); update(); });
      explain();
      return field(f, input);
    });
    fill(samples,
      h('h2', { id: 'use-samples-h' }, 'Preview'),
      openFields.length
        ? h('p', { class: 'muted' }, 'Type a sample recipient’s values to see their image. The second image is what everyone without values gets.')
        : h('p', { class: 'muted' }, 'This version has no open fields, so every recipient gets the same image unless you make signed or sealed URLs below.'),
      openFields.length ? h('div', { class: 'row use-sample-inputs' }, inputs) : null,
      h('div', { class: 'use-previews' },
        h('figure', {}, sampleImg, h('figcaption', {}, openFields.length ? 'Sample recipient' : 'Every recipient')),
        openFields.length ? h('figure', {}, emptyImg, h('figcaption', {}, 'No values: every field’s default')) : null));
  }

  function drawTags() {
    tagBoxes.length = 0;
    const cards = PLATFORMS.map((p) => {
      mapping[p.id] = mapping[p.id] || {};
      const inputs = openFields.map((f) => {
        const fallback = defaultAttribute(p.id, f);
        // Emptied, the default attribute is used; the placeholder says which.
        const input = h('input', { type: 'text', value: mapping[p.id][f] ?? fallback, placeholder: fallback, spellcheck: 'false' });
        input.addEventListener('input', () => { mapping[p.id][f] = input.value.trim(); update(); });
        return field(`${p.name} ${p.attributeLabel} for ${f}`, input);
      });
      const box = copyBox(`${p.name} tag`, 5);
      tagBoxes.push({ platform: p, text: box.text });
      return h('article', { class: 'card use-platform', 'aria-labelledby': `use-p-${p.id}` },
        h('h3', { id: `use-p-${p.id}` }, p.name),
        h('p', { class: 'muted use-note' }, p.note),
        inputs.length ? h('div', { class: 'use-mapping' }, inputs) : null,
        box.wrap);
    });
    fill(tags,
      h('h2', { id: 'use-tags-h' }, 'Email tags'),
      openFields.length
        ? h('p', { class: 'muted' }, `Open fields: ${openFields.join(', ')}. Under each platform, name the attribute (merge field, property) that holds each one in your account.`)
        : null,
      h('div', { class: 'use-platforms' }, cards));
  }

  function drawWeb() {
    webBox = copyBox('Web snippet', 5, 'web snippet');
    fill(web,
      h('h2', { id: 'use-web-h' }, 'On a web page'),
      h('p', { class: 'muted' }, 'A responsive image with a srcset: the browser picks the size it needs. It uses the sample values above.'),
      webBox.wrap);
  }

  function update(now = false) {
    if (!doc) return;
    const c = current();
    const px = pixelWidth(c.width, c.density, c.canvas);
    sizeNote.textContent = `Shown at ${c.width}×${heightFor(c.width, c.canvas)} px; the image is ${px}×${heightFor(px, c.canvas)} px (canvas ${c.canvas.width}×${c.canvas.height}).`;
    for (const { platform, text } of tagBoxes) {
      text.value = platformTag(platform.id, { ...c, mapping: mapping[platform.id] });
    }
    const values = Object.fromEntries(openFields.map((f) => [f, sampleValues[f] || '']));
    webBox.text.value = webSnippet({ ...c, values });
    if (now) showPreviews(c, values);
    else refreshPreviews(c, values);
  }

  function showPreviews(c, values) {
    const previewWidth = Math.min(c.canvas.width, 800);
    const query = Object.entries(values).filter(([, v]) => v).map(([k, v]) => [k, encodeURIComponent(v)]);
    sampleImg.src = imageUrl({ ...c, base: ctx.here, width: previewWidth, query });
    sampleImg.alt = `${c.alt || label}, for the sample recipient`;
    emptyImg.src = imageUrl({ ...c, base: ctx.here, width: previewWidth });
    emptyImg.alt = `${c.alt || label}, with every field at its default`;
  }
  // Each new value is a render (and counts against the project's quota): ask once typing pauses.
  const refreshPreviews = later(showPreviews, 350);

  async function loadVersion() {
    const v = await api.get(`${base}/versions/${versionPick.value}`);
    doc = v.document;
    openFields = Object.entries(doc.fields || {}).filter(([, s]) => s.open).map(([f]) => f);
    if (!widthInput.value) widthInput.value = Math.min(600, doc.canvas.width);
    drawSamples();
    drawTags();
    drawWeb();
    if (canMakeUrls) { drawSigner(); drawSealer(); }
    // The canvas's size keeps the previews' space while they load.
    for (const img of [sampleImg, emptyImg]) { img.width = doc.canvas.width; img.height = doc.canvas.height; }
    update(true);
  }

  // ---- One recipient: a signed or sealed URL (make_urls) ----
  function drawSigner() {
    const inputs = Object.entries(doc.fields || {}).map(([f, spec]) => {
      const input = h('input', { type: 'text', name: f, placeholder: spec.default || '', maxlength: spec.max_length || 64 });
      return [f, input, field(`${f}${spec.open ? '' : ' (needs a signature)'}`, input)];
    });
    const expires = h('input', { type: 'datetime-local' });
    const sealed = h('input', { type: 'checkbox', id: 'use-sealed' });
    const problem = h('p', { class: 'error', role: 'alert' });
    const result = h('div', { class: 'use-sign-result' });
    const make = h('button', { type: 'submit', class: 'primary' }, 'Make URL');
    const form = h('form', { class: 'card', novalidate: true },
      h('div', { class: 'row use-sign-fields' }, inputs.map(([, , w]) => w)),
      h('div', { class: 'row' },
        field('Expires (optional, your local time)', expires, { hint: 'After this moment the URL is refused (email templates show their defaults).' })),
      h('label', { class: 'use-check', for: sealed.id }, sealed, ' Sealed: encrypt the values into the URL, so no name appears in it'),
      h('div', { class: 'toolbar' }, make),
      problem, result);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      problem.textContent = '';
      setError(expires, '');
      const fields = {};
      for (const [f, input] of inputs) if (input.value.trim()) fields[f] = input.value.trim();
      let exp;
      if (expires.value) {
        exp = Math.floor(new Date(expires.value).getTime() / 1000);
        if (!(exp > Date.now() / 1000)) { setError(expires, 'Choose a moment in the future.'); expires.focus(); return; }
      }
      const c = current();
      make.disabled = true;
      try {
        const res = await api.post(`${base}/versions/${c.version}/sign`, {
          fields, exp, sealed: sealed.checked,
          request: `full/${pixelWidth(c.width, c.density, c.canvas)},/0/default.${c.format}`,
        });
        const kind = sealed.checked ? 'sealed URL' : 'signed URL';
        const box = copyBox(kind[0].toUpperCase() + kind.slice(1), 3, kind);
        box.text.value = res.url;
        fill(result, box.wrap,
          h('img', { class: 'use-preview', src: res.url, alt: `${c.alt || label}, for these values` }));
      } catch (err) {
        problem.textContent = err.message;
      } finally {
        make.disabled = false;
      }
    });
    fill(signer,
      h('h2', { id: 'use-sign-h' }, 'A URL for one recipient'),
      h('p', { class: 'muted' }, 'Fields that are not open (like a host’s name) only work in a URL Tessera signs, so nobody can print their own words on your images. Leave a field empty for its default.'),
      form);
  }

  // ---- A mailing list: CSV in, sealed-URL CSV out (make_urls) ----
  function drawSealer() {
    const file = h('input', { type: 'file', accept: '.csv,text/csv' });
    const expires = h('input', { type: 'datetime-local' });
    const report = h('div', { class: 'use-seal-report', 'aria-live': 'polite' });
    const problem = h('p', { class: 'error', role: 'alert' });
    const result = h('div', { class: 'use-seal-result' });
    const make = h('button', { type: 'submit', class: 'primary', disabled: true }, 'Make sealed URLs');
    let text = null;
    let fileName = 'recipients.csv';

    const problemsTable = (rows) => h('table', { class: 'use-problems' },
      h('caption', {}, 'Rows to look at'),
      h('thead', {}, h('tr', {}, ['Row', 'Line', 'Field', 'Problem'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, rows.map((p) => h('tr', { class: p.fatal ? 'use-fatal' : '' },
        h('td', {}, p.row ?? ''), h('td', {}, p.line ?? ''), h('td', {}, p.field || '—'), h('td', {}, p.problem)))));

    file.addEventListener('change', async () => {
      problem.textContent = '';
      fill(result);
      revoke();
      setError(file, '');
      const f = file.files[0];
      text = null;
      make.disabled = true;
      if (!f) { fill(report); return; }
      if (f.size > 20 * 1024 * 1024) { setError(file, 'That file is over 20 MB: split the list.'); fill(report); return; }
      fileName = f.name;
      text = await f.text();
      const check = checkRecipients(text, doc.fields || {});
      const passThrough = check.headers.filter((h2) => !(check.fieldColumns || []).includes(h2));
      fill(report,
        h('p', {}, `${check.rows} recipient${check.rows === 1 ? '' : 's'}. `,
          check.fieldColumns ? `Sealed: ${check.fieldColumns.join(', ')}. ` : '',
          passThrough.length ? `Passed through as they are: ${passThrough.join(', ')}.` : ''),
        check.fatal ? h('p', { class: 'error' }, check.fatal) : null,
        check.problems.length ? problemsTable(check.problems.slice(0, 200)) : (check.fatal ? null : h('p', { class: 'use-ok' }, 'Every value passes its field’s checks.')),
        check.problems.length > 200 ? h('p', { class: 'muted' }, `…and ${check.problems.length - 200} more.`) : null);
      make.disabled = !!check.fatal;
    });

    const form = h('form', { class: 'card', novalidate: true },
      h('div', { class: 'row' },
        field('Recipient list (CSV)', file, { hint: 'A header row naming the columns: columns named after fields are sealed, others (email, id) pass through so the result joins back to your list.' }),
        field('Expires (optional, your local time)', expires)),
      report,
      h('div', { class: 'toolbar' }, make),
      problem, result);

    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      if (!text) return;
      problem.textContent = '';
      setError(expires, '');
      const c = current();
      const q = new URLSearchParams({ request: `full/${pixelWidth(c.width, c.density, c.canvas)},/0/default.${c.format}` });
      if (expires.value) {
        const exp = Math.floor(new Date(expires.value).getTime() / 1000);
        if (!(exp > Date.now() / 1000)) { setError(expires, 'Choose a moment in the future.'); expires.focus(); return; }
        q.set('exp', String(exp));
      }
      make.disabled = true;
      try {
        const csv = await request('POST', `${base}/versions/${c.version}/seal?${q}`, { body: text, headers: { 'Content-Type': 'text/csv' } });
        revoke();
        downloadUrl = URL.createObjectURL(new Blob([csv], { type: 'text/csv' }));
        const rows = parseCsv(csv);
        const out = fileName.replace(/\.csv$/i, '') + `-sealed-v${c.version}.csv`;
        fill(result,
          h('p', { class: 'use-ok' }, `${rows.length - 1} sealed URL${rows.length === 2 ? '' : 's'} made.`),
          h('a', { class: 'button primary', href: downloadUrl, download: out }, `Download ${out}`),
          rows.length > 1 ? h('div', { class: 'use-scroll' }, h('table', { class: 'use-result-table' },
            h('caption', { class: 'muted' }, `First ${Math.min(5, rows.length - 1)} rows`),
            h('thead', {}, h('tr', {}, rows[0].cells.map((t) => h('th', { scope: 'col' }, t)))),
            h('tbody', {}, rows.slice(1, 6).map((r) => h('tr', {}, r.cells.map((t) => h('td', {}, t))))))) : null);
      } catch (err) {
        const line = lineOfCsvError(err.message);
        problem.textContent = line ? `${err.message} — see line ${line} of the file.` : err.message;
      } finally {
        make.disabled = false;
      }
    });

    fill(sealer,
      h('h2', { id: 'use-seal-h' }, 'Sealed URLs for a mailing list'),
      h('p', { class: 'muted' }, 'Upload your list; download it again with a url column. Sealed URLs carry the values encrypted, so no personal data shows in URLs, logs or analytics, and any field can be set.'),
      form);
  }

  function revoke() {
    if (downloadUrl) URL.revokeObjectURL(downloadUrl);
    downloadUrl = null;
  }

  // Not `update` itself: the event would be taken for `now` and skip the pause.
  for (const input of [widthInput, altInput]) input.addEventListener('input', () => update());
  for (const input of [formatPick, dense]) input.addEventListener('change', update);
  versionPick.addEventListener('change', () => loadVersion().catch((e) => ctx.toast(e.message, 'error')));
  await loadVersion();
  return () => { refreshPreviews.cancel(); revoke(); };
}
