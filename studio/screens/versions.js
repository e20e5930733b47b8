// Versions and review of one template: the review actions the caller's role and the draft's
// state allow (submit, approve, reject, publish, archive), the history of review steps and
// published versions, any version opened (its render and document), a version side by side
// with the draft, and — for those who may read it — the template's audit trail.

import { api, enc } from '../lib/api.js';
import { h, fill, field, setError, ago } from '../lib/dom.js';
import { shortName, stateBadges } from './templates.js';

// What the server's refusals mean for the person looking at this screen.
const REFUSALS = {
  draft_locked: 'The draft is submitted for review and locked until a publisher approves or rejects it.',
  not_submitted: 'The draft is not submitted for review, so there is nothing to approve or reject.',
  review_required: 'This project requires a review: submit the draft, then another publisher approves it.',
  four_eyes: 'Four eyes: the draft must be approved by someone other than the person who submitted it.',
};

const STEP_TEXT = {
  submit: 'Submitted for review',
  approve: 'Approved and published',
  reject: 'Rejected',
  publish: 'Published without review',
};

function when(seconds) {
  if (!seconds) return '';
  return new Date(seconds * 1000).toISOString().replace('T', ' ').slice(0, 16) + ' UTC';
}

function time(seconds) {
  return h('time', { datetime: new Date(seconds * 1000).toISOString(), title: when(seconds) }, ago(seconds));
}

export async function render(root, ctx, [name]) {
  const project = name.includes('.') ? name.split('.')[0] : 'default';
  const label = shortName(name);
  const canEdit = ctx.can('edit', project);
  const canPublish = ctx.can('publish', project);
  const canPreview = ctx.can('preview', project);
  const fourEyes = !!ctx.projects.find((p) => p.id === project)?.four_eyes;
  const base = `/admin/templates/${enc(name)}`;
  let refresh = 0;
  let draft = null;
  let versions = [];
  let reviews = [];

  const headBadges = h('span', { class: 'versions-badges' });
  const actions = h('section', { class: 'card versions-actions', 'aria-labelledby': 'versions-review-h' });
  const history = h('section', { class: 'versions-history', 'aria-labelledby': 'versions-history-h' });
  const list = h('section', { class: 'versions-list', 'aria-labelledby': 'versions-list-h' });
  const opened = h('section', { class: 'versions-opened', 'aria-live': 'polite' });
  const compare = h('section', { class: 'versions-compare', 'aria-labelledby': 'versions-compare-h' });
  const audit = h('section', { class: 'versions-audit', 'aria-labelledby': 'versions-audit-h' });
  const editHref = `#/templates/${enc(name)}/edit`;
  const useLink = h('a', { class: 'button', href: `#/templates/${enc(name)}/use` }, 'Use it');

  root.append(
    h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: '#/templates' }, 'Templates'), ' / ', label),
    h('div', { class: 'versions-head' },
      h('h1', {}, `${label}: versions & review`),
      headBadges,
      h('span', { class: 'grow' }),
      h('a', { class: 'button', href: editHref }, canEdit ? 'Edit draft' : 'Open draft'),
      useLink),
    actions,
    h('div', { class: 'versions-columns' }, h('div', {}, list, opened), history),
    compare);
  if (ctx.can('read_audit', project)) root.append(audit);

  async function load() {
    const [d, v, r] = await Promise.all([
      api.get(`${base}/draft`),
      api.get(`${base}/versions`),
      api.get(`${base}/reviews`),
    ]);
    draft = d;
    versions = v.versions;
    reviews = r.reviews;
    const latest = versions.length ? versions[versions.length - 1].version : null;
    fill(headBadges, stateBadges({ ...draft, latest_version: latest }));
    useLink.hidden = !latest;
    drawActions();
    drawHistory();
    drawList();
    drawCompare();
    if (ctx.can('read_audit', project)) drawAudit();
  }

  // ---- Review actions ----
  function drawActions() {
    const submitted = draft.state === 'submitted';
    const comment = h('textarea', { rows: 2, maxlength: 2000, class: 'versions-comment' });
    const problem = h('p', { class: 'error', role: 'alert' });
    const buttons = [];
    const run = async (step, button) => {
      problem.textContent = '';
      setError(comment, '');
      const text = comment.value.trim();
      if (step === 'reject' && !text) {
        setError(comment, 'Say why it is rejected: the designer sees this comment.');
        comment.focus();
        return;
      }
      buttons.forEach((b) => { b.disabled = true; });
      try {
        const body = ['archive', 'unarchive'].includes(step) ? undefined : { comment: text };
        const res = await api.post(`${base}/${step}`, body);
        ctx.toast({
          submit: 'Submitted for review',
          approve: `Approved: published as version ${res.version}`,
          publish: `Published as version ${res.version}`,
          reject: 'Rejected: the draft can be edited again',
          archive: 'Archived: hidden from the list; its versions keep rendering',
          unarchive: 'Back in the list',
        }[step]);
        refresh += 1;
        await load();
      } catch (e) {
        problem.textContent = REFUSALS[e.code] || e.message;
        buttons.forEach((b) => { b.disabled = false; });
        button.focus();
        // The refusal is a row of the audit trail too.
        if (ctx.can('read_audit', project)) drawAudit();
      }
    };
    const button = (step, text, cls = '') => {
      const b = h('button', { type: 'button', class: cls, onclick: () => run(step, b) }, text);
      buttons.push(b);
      return b;
    };

    const state = submitted
      ? h('p', {}, h('strong', {}, 'In review. '),
        `Submitted ${draft.submitted_at ? ago(draft.submitted_at) : ''}; the draft is locked until a publisher approves or rejects it.`)
      : h('p', {}, h('strong', {}, 'Draft. '),
        `Last saved ${ago(draft.updated_at)}${draft.updated_by ? ` by ${draft.updated_by}` : ''}.`);
    const mayAct = (canEdit && !submitted) || canPublish;
    const row = h('div', { class: 'toolbar versions-buttons' },
      canEdit && !submitted && !draft.archived ? button('submit', 'Submit for review', 'primary') : null,
      canPublish && submitted ? button('approve', 'Approve and publish', 'primary') : null,
      canPublish && submitted ? button('reject', 'Reject', 'danger') : null,
      canPublish && !submitted && !fourEyes && !draft.archived ? button('publish', 'Publish now') : null,
      h('span', { class: 'grow' }),
      canPublish ? (draft.archived ? button('unarchive', 'Unarchive') : button('archive', 'Archive')) : null);
    const notes = [];
    if (draft.archived) notes.push('This template is archived: hidden from the list; its published versions keep rendering.');
    if (fourEyes && submitted && canPublish && draft.submitted_by === ctx.session?.principal) {
      notes.push('You submitted this draft: with four eyes on, another publisher must approve it.');
    } else if (fourEyes) {
      notes.push('This project uses four eyes: every version needs a review, and the approver must not be the submitter.');
    }
    if (!mayAct) notes.push(canEdit ? 'A publisher of this project approves or rejects it.' : 'Your role can look at versions but not change them.');
    fill(actions,
      h('h2', { id: 'versions-review-h' }, 'Review'),
      state,
      buttons.length ? field(submitted && canPublish ? 'Comment (required to reject)' : 'Comment (optional)', comment) : null,
      buttons.length ? row : null,
      problem,
      notes.map((n) => h('p', { class: 'muted' }, n)));
  }

  // ---- History: every review step, newest first ----
  function drawHistory() {
    const rows = [...reviews].reverse().map((r) => h('tr', {},
      h('td', {}, time(r.at)),
      h('td', {}, r.principal),
      h('td', {}, STEP_TEXT[r.action] || r.action, r.version ? ` (v${r.version})` : ''),
      h('td', { class: 'versions-commenttext' }, r.comment || h('span', { class: 'muted' }, '—'))));
    fill(history,
      h('h2', { id: 'versions-history-h' }, 'History'),
      rows.length
        ? h('table', {}, h('caption', { class: 'muted' }, 'Review steps, newest first'),
          h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'When'), h('th', { scope: 'col' }, 'Who'), h('th', { scope: 'col' }, 'What'), h('th', { scope: 'col' }, 'Comment'))),
          h('tbody', {}, rows))
        : h('p', { class: 'muted' }, 'No review steps yet: submit the draft when it is ready.'));
  }

  // ---- Published versions; open one ----
  function drawList() {
    if (!versions.length) {
      fill(list, h('h2', { id: 'versions-list-h' }, 'Versions'),
        h('p', { class: 'muted' }, 'Nothing published yet. Published versions never change, so emails sent with them render the same for years.'));
      return;
    }
    const rows = [...versions].reverse().map((v) => h('tr', {},
      h('th', { scope: 'row' }, `v${v.version}`),
      h('td', {}, time(v.published_at)),
      h('td', {}, v.published_by),
      h('td', {}, h('button', { type: 'button', class: 'link', 'aria-label': `Open version ${v.version}`, onclick: () => openVersion(v.version) }, 'Open'))));
    fill(list, h('h2', { id: 'versions-list-h' }, 'Versions'),
      h('table', {},
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Version'), h('th', { scope: 'col' }, 'Published'), h('th', { scope: 'col' }, 'By'), h('th', { scope: 'col' }, h('span', { class: 'pages-sr-only' }, 'Actions')))),
        h('tbody', {}, rows)));
  }

  async function openVersion(n) {
    fill(opened, h('p', { class: 'loading' }, `Loading version ${n}…`));
    try {
      const v = await api.get(`${base}/versions/${n}`);
      const canvas = v.document?.canvas || {};
      fill(opened,
        h('div', { class: 'card versions-version' },
          h('div', { class: 'toolbar' },
            h('h2', { tabindex: '-1', id: 'versions-opened-h' }, `Version ${n}`),
            h('span', { class: 'grow' }),
            h('button', { type: 'button', 'aria-label': `Close version ${n}`, onclick: () => fill(opened) }, 'Close')),
          h('p', { class: 'muted' }, `Published ${when(v.published_at)} by ${v.published_by} · ${canvas.width}×${canvas.height} · content ${v.content_hash.slice(0, 12)}`),
          h('img', { class: 'versions-render', src: `${ctx.here}/tpl~${enc(name)}~${n}/full/!800,800/0/default.png`, alt: `Version ${n} of ${label} with every field at its default` }),
          h('details', {}, h('summary', {}, `Document of version ${n} (JSON)`),
            h('pre', { class: 'versions-json' }, JSON.stringify(v.document, null, 2)))));
      opened.querySelector('h2').focus();
    } catch (e) {
      fill(opened, h('p', { class: 'error', role: 'alert' }, e.message));
    }
  }

  // ---- A version against the draft, side by side ----
  function drawCompare() {
    if (!versions.length) { fill(compare); return; }
    const pick = h('select', {}, [...versions].reverse().map((v) => h('option', { value: v.version }, `Version ${v.version}`)));
    const pair = h('div', { class: 'versions-pair' });
    const show = () => {
      const n = pick.value;
      fill(pair,
        h('figure', {},
          h('img', { src: `${ctx.here}/tpl~${enc(name)}~${n}/full/!600,600/0/default.png`, alt: `Version ${n} of ${label}` }),
          h('figcaption', {}, `Version ${n} (published)`)),
        h('figure', {},
          canPreview
            ? h('img', { src: `${ctx.here}/tpl~${enc(name)}~draft/full/!600,600/0/default.png?_=${refresh}`, alt: `The current draft of ${label}` })
            : h('div', { class: 'versions-nodraft' }, 'Your role cannot preview drafts.'),
          h('figcaption', {}, draft.state === 'submitted' ? 'Draft (in review)' : 'Draft')));
    };
    pick.addEventListener('change', show);
    fill(compare,
      h('h2', { id: 'versions-compare-h' }, 'Compare with the draft'),
      h('p', { class: 'muted' }, 'Both rendered by Tessera with every field at its default.'),
      h('div', { class: 'versions-pick' }, field('Compare version', pick)),
      pair);
    show();
  }

  // ---- Audit trail (read_audit) ----
  async function drawAudit() {
    fill(audit, h('h2', { id: 'versions-audit-h' }, 'Audit trail'), h('p', { class: 'loading' }, 'Loading…'));
    try {
      const res = await api.get(`${base}/audit`);
      const rows = [...res.audit].reverse().map((a) => h('tr', {},
        h('td', {}, time(a.at)),
        h('td', {}, a.principal_name || a.principal, a.role ? h('span', { class: 'muted' }, ` (${a.role})`) : null),
        h('td', {}, a.action),
        h('td', { class: a.outcome === 'ok' ? '' : 'versions-refused' }, a.outcome),
        h('td', { class: 'versions-detail' }, detailText(a.detail))));
      fill(audit, h('h2', { id: 'versions-audit-h' }, 'Audit trail'),
        rows.length
          ? h('div', { class: 'versions-scroll' }, h('table', {},
            h('thead', {}, h('tr', {}, ['When', 'Who', 'Action', 'Outcome', 'Detail'].map((t) => h('th', { scope: 'col' }, t)))),
            h('tbody', {}, rows)))
          : h('p', { class: 'muted' }, 'No audited actions yet.'));
    } catch (e) {
      fill(audit, h('h2', { id: 'versions-audit-h' }, 'Audit trail'), h('p', { class: 'error', role: 'alert' }, e.message));
    }
  }

  await load();
}

// An audit row's detail in a line: "version 2 · comment: looks good".
function detailText(detail) {
  if (!detail || typeof detail !== 'object') return '';
  return Object.entries(detail)
    .filter(([, v]) => v !== null && v !== undefined && v !== '')
    .map(([k, v]) => `${k.replace(/_/g, ' ')}: ${typeof v === 'string' && /^[0-9a-f]{40,}$/.test(v) ? v.slice(0, 12) : (typeof v === 'object' ? JSON.stringify(v) : v)}`)
    .join(' · ');
}
