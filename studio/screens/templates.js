// Templates of the chosen project as tiles: a thumbnail rendered by Tessera, the name, the
// review state and the last change, with links to edit, review and use each one. Searching
// and "Show archived" filter the list; "New template" opens the editor on a blank draft.

import { api, enc } from '../lib/api.js';
import { h, fill, field, setError, ago } from '../lib/dom.js';

// The server's rule for a template name (src/template/request.rs, valid_name).
const NAME_RULE = /^[A-Za-z0-9_-]{1,64}$/;

// The name without its project prefix (`emea.webinar` → `webinar`).
export function shortName(qualified) {
  const dot = qualified.indexOf('.');
  return dot < 0 ? qualified : qualified.slice(dot + 1);
}

// The review state as a badge: archived, in review (submitted), published vN, or draft. A
// template in review that has a published version says both.
export function stateBadges(t) {
  const out = [];
  if (t.archived) out.push(h('span', { class: 'badge archived' }, 'Archived'));
  if (t.state === 'submitted') out.push(h('span', { class: 'badge submitted' }, 'In review'));
  if (t.latest_version) out.push(h('span', { class: 'badge published' }, `Published v${t.latest_version}`));
  if (!out.length) out.push(h('span', { class: 'badge draft' }, 'Draft'));
  return out;
}

// A small render: the newest published version (open fields at their defaults), else the
// draft for those who may preview drafts; null when neither can be shown.
function thumbnailUrl(ctx, t) {
  const size = 'full/!480,480/0/default.png';
  if (t.latest_version) return `${ctx.here}/tpl~${enc(t.name)}~${t.latest_version}/${size}`;
  if (ctx.can('preview', t.project)) return `${ctx.here}/tpl~${enc(t.name)}~draft/${size}`;
  return null;
}

export async function render(root, ctx) {
  const project = ctx.project;
  const canEdit = ctx.can('edit');
  let showArchived = false;
  let templates = [];

  const search = h('input', { type: 'search', placeholder: 'Name contains…', autocomplete: 'off' });
  const archivedBox = h('input', { type: 'checkbox', id: 'templates-show-archived' });
  const grid = h('div', { class: 'grid templates-grid' });
  const status = h('p', { class: 'muted templates-count', role: 'status' });

  const toolbar = h('div', { class: 'toolbar templates-toolbar' },
    h('div', { class: 'templates-search' }, field('Search templates', search)),
    h('label', { class: 'templates-check', for: archivedBox.id }, archivedBox, ' Show archived'),
    h('span', { class: 'grow' }),
    canEdit ? h('button', { type: 'button', class: 'primary', onclick: () => newTemplate(ctx, templates) }, 'New template') : null);

  const projectName = ctx.projects.find((p) => p.id === project)?.name || project;
  root.append(
    h('h1', {}, 'Templates'),
    h('p', { class: 'muted' }, `Project ${projectName}. `,
      canEdit ? 'Open a template to edit it, review its versions, or get its ready-made email tags.'
        : 'You can look at templates and their versions; designers of this project edit them.'),
    toolbar, status, grid);

  function tile(t) {
    const name = shortName(t.name);
    const thumb = thumbnailUrl(ctx, t);
    const edit = canEdit;
    return h('article', { class: 'tile templates-tile', 'aria-labelledby': `tpl-${t.name}` },
      thumb
        ? h('img', { src: thumb, alt: `Preview of ${name}`, loading: 'lazy' })
        : h('div', { class: 'templates-nothumb' }, 'Draft: no preview for your role'),
      h('div', { class: 'body' },
        h('h2', { class: 'templates-name', id: `tpl-${t.name}` }, name),
        h('div', { class: 'templates-badges' }, stateBadges(t)),
        h('p', { class: 'muted templates-changed' },
          t.updated_at ? `Changed ${ago(t.updated_at)}${t.updated_by ? ` by ${t.updated_by}` : ''}` : '\u00a0'),
        h('div', { class: 'templates-links' },
          h('a', { class: 'button', href: `#/templates/${enc(t.name)}/edit`, 'aria-label': `${edit ? 'Edit' : 'Open'} ${name}` }, edit ? 'Edit' : 'Open'),
          h('a', { class: 'button', href: `#/templates/${enc(t.name)}/versions`, 'aria-label': `Versions & review: ${name}` }, 'Versions & review'),
          t.latest_version
            ? h('a', { class: 'button', href: `#/templates/${enc(t.name)}/use`, 'aria-label': `Use it: ${name}` }, 'Use it')
            : null)));
  }

  function emptyState() {
    if (templates.length && search.value.trim()) {
      return h('div', { class: 'card templates-empty' },
        h('p', {}, `No template name contains “${search.value.trim()}”.`),
        h('button', { type: 'button', onclick: () => { search.value = ''; draw(); search.focus(); } }, 'Clear the search'));
    }
    if (templates.length) {
      return h('div', { class: 'card templates-empty' }, h('p', {}, 'Every template of this project is archived. Tick “Show archived” to see them.'));
    }
    return h('div', { class: 'card templates-empty' },
      h('h2', {}, 'No templates here yet'),
      canEdit
        ? h('ol', {},
          h('li', {}, 'Press “New template” and give it a name (letters, digits, - or _).'),
          h('li', {}, 'In the editor, add text and pictures; put {{ first_name }}-style fields where each recipient’s words go. The previews show what recipients will get.'),
          h('li', {}, 'Submit it for review. Once a publisher approves it, “Use it” gives you ready-made image tags for your email platform.'))
        : h('p', {}, 'Designers of this project create templates. Once one is published, it appears here with its ready-made email tags.'));
  }

  function draw() {
    const q = search.value.trim().toLowerCase();
    const shown = templates
      .filter((t) => showArchived || !t.archived)
      .filter((t) => !q || shortName(t.name).toLowerCase().includes(q));
    status.textContent = templates.length
      ? `${shown.length} of ${templates.length} template${templates.length === 1 ? '' : 's'}`
      : '';
    if (!shown.length) fill(grid, emptyState());
    else fill(grid, ...shown.map(tile));
  }

  async function load() {
    // archived=true lists every template, archived ones included; the toggle filters here.
    const res = await api.get(`/admin/templates?project=${enc(project)}&archived=true`);
    templates = res.templates.filter((t) => t.project === project);
    draw();
  }

  search.addEventListener('input', draw);
  archivedBox.addEventListener('change', () => { showArchived = archivedBox.checked; draw(); });
  await load();
}

// Asks for a name, checks it like the server does, and opens the editor on a blank draft.
function newTemplate(ctx, templates) {
  const input = h('input', { type: 'text', name: 'name', autocomplete: 'off', maxlength: 64, required: true, spellcheck: 'false' });
  const taken = new Set(templates.map((t) => shortName(t.name)));
  const form = h('form', { method: 'dialog' },
    field('Template name', input, { hint: '1 to 64 letters, digits, - or _ — it becomes part of every image URL, e.g. spring-sale.' }),
    h('div', { class: 'actions' },
      h('button', { type: 'button', value: 'cancel', onclick: () => d.close() }, 'Cancel'),
      h('button', { type: 'submit', class: 'primary' }, 'Create')));
  const d = h('dialog', { 'aria-labelledby': 'new-template-title' }, h('h2', { id: 'new-template-title' }, 'New template'), form);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const name = input.value.trim();
    let problem = '';
    if (!name) problem = 'Enter a name.';
    else if (!NAME_RULE.test(name)) problem = 'Use 1 to 64 letters (a–z, A–Z), digits, - or _; no spaces or dots.';
    else if (taken.has(name)) problem = 'A template with this name already exists in this project.';
    setError(input, problem);
    if (problem) { input.focus(); return; }
    d.close();
    ctx.go(`#/templates/${enc(ctx.qualified(name))}/edit`);
  });
  input.addEventListener('input', () => setError(input, ''));
  d.addEventListener('close', () => d.remove());
  document.body.append(d);
  d.showModal();
  input.focus();
}
