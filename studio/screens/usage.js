// Usage: how the chosen project's published templates are used, from GET /admin/usage (one
// row per template, version and UTC day: loads, renders, bytes, overflow, fallbacks by
// field=reason, refusals by reason, loads by email client). Filters are the report's own
// query (from, to, template), so "Download CSV" is exactly what the charts show.

import { api, query } from '../lib/api.js';
import { h, fill, field } from '../lib/dom.js';
import { barChart, hbarChart, bytes, plain as count } from '../lib/chart.js';

const DAY = 86400000;
const CLIENTS = { gmail: 'Gmail', apple_mail: 'Apple Mail', outlook: 'Outlook', yahoo: 'Yahoo Mail', other: 'Other or unknown' };
const FALLBACK_REASONS = {
  missing: 'missing', empty: 'empty', 'too-long': 'too long', invalid: 'not of its kind or pattern',
  denied: 'on the denylist', uncovered: 'characters no font draws', unfilled: 'merge tag left unfilled',
};

const REFUSALS = {
  unsigned: 'unsigned (a field that is not open)', malformed: 'malformed signature or token', unknown_key: 'unknown signing key',
  tampered: 'tampered signature or token', expired: 'expired',
};

const isoDay = (d) => d.toISOString().slice(0, 10);

// Every day from `from` to `to` (YYYY-MM-DD, inclusive), at most a year of them.
function days(from, to) {
  const out = [];
  let t = Date.parse(`${from}T00:00:00Z`);
  const end = Date.parse(`${to}T00:00:00Z`);
  while (t <= end && out.length < 366) { out.push(isoDay(new Date(t))); t += DAY; }
  return out;
}

function addTo(map, key, v) { map.set(key, (map.get(key) || 0) + v); }

export async function render(root, ctx) {
  if (!ctx.can('read_usage')) {
    root.append(h('h1', {}, 'Usage'), h('p', {}, 'Your role in this project does not include reading usage.'));
    return undefined;
  }
  const today = new Date();
  const from = h('input', { type: 'date', name: 'from', value: isoDay(new Date(today.getTime() - 29 * DAY)), max: isoDay(today) });
  const to = h('input', { type: 'date', name: 'to', value: isoDay(today), max: isoDay(today) });
  const template = h('select', { name: 'template' }, h('option', { value: '' }, 'All templates'));
  const apply = h('button', { type: 'submit', class: 'primary' }, 'Show usage');
  const csv = h('a', { class: 'button', download: '' }, 'Download CSV');
  const out = h('div', { class: 'usage-out', 'aria-live': 'polite' });
  const form = h('form', { class: 'toolbar filters', 'aria-label': 'Usage filters' },
    field('From', from), field('To', to), field('Template', template),
    h('div', { class: 'filter-actions' }, apply, csv));

  root.append(
    h('h1', {}, 'Usage'),
    h('p', { class: 'muted' }, 'Loads, renders and what fell back, per published template and version and UTC day. Counted by the server a few seconds after each request; never addresses or field values.'),
    form, out);

  // Published templates of the project, for the filter (a failure only leaves "All").
  api.get(`/admin/templates${query({ project: ctx.project })}`).then((r) => {
    for (const t of r.templates.filter((x) => x.latest_version)) {
      template.append(h('option', { value: t.name }, t.name));
    }
  }, () => {});

  const filters = () => ({ project: ctx.project, template: template.value, from: from.value, to: to.value });

  let seq = 0;
  async function load() {
    const f = filters();
    if (f.from && f.to && f.from > f.to) {
      fill(out, h('p', { class: 'error', role: 'alert' }, '"From" is after "To".'));
      return;
    }
    csv.href = `/admin/usage${query({ ...f, format: 'csv' })}`;
    csv.setAttribute('download', `usage-${ctx.project}-${f.from || 'start'}-${f.to || 'today'}.csv`);
    const mine = ++seq;
    fill(out, h('p', { class: 'loading' }, 'Loading usage…'));
    let rows;
    try {
      rows = (await api.get(`/admin/usage${query(f)}`)).usage;
    } catch (e) {
      if (mine === seq) fill(out, h('p', { class: 'error', role: 'alert' }, e.message));
      return;
    }
    if (mine !== seq) return;
    draw(rows, f);
  }

  function draw(rows, f) {
    if (!rows.length) {
      fill(out, h('div', { class: 'card empty' },
        h('h2', {}, 'No usage yet'),
        h('p', {}, f.template
          ? `Nobody has loaded ${f.template} between ${f.from} and ${f.to}.`
          : `No published template of this project was loaded between ${f.from} and ${f.to}.`),
        h('p', { class: 'muted' }, 'Usage counts loads of published versions (tpl~name~N), not draft previews. Publish a template and put its URL in an email or a page; the numbers appear here within a few seconds of the first load.')));
      return;
    }
    const dayList = days(f.from || rows.map((r) => r.day).sort()[0], f.to || isoDay(new Date()));
    const dayIndex = new Map(dayList.map((d, i) => [d, i]));
    const bySeries = new Map();
    const totals = { loads: 0, renders: 0, bytes: 0, overflow: 0 };
    const fallbacks = new Map();
    const refusals = new Map();
    const clients = new Map();
    const perVersion = new Map();
    for (const r of rows) {
      const key = `${r.template} v${r.version}`;
      if (!bySeries.has(key)) bySeries.set(key, new Array(dayList.length).fill(0));
      const i = dayIndex.get(r.day);
      if (i !== undefined) bySeries.get(key)[i] += r.loads;
      for (const k of Object.keys(totals)) totals[k] += r[k];
      const v = perVersion.get(key) || { template: r.template, version: r.version, loads: 0, renders: 0, bytes: 0, overflow: 0, fallbacks: 0, refusals: 0 };
      for (const k of ['loads', 'renders', 'bytes', 'overflow']) v[k] += r[k];
      for (const [k, n] of Object.entries(r.fallbacks)) { addTo(fallbacks, k, n); v.fallbacks += n; }
      for (const [k, n] of Object.entries(r.refusals)) { addTo(refusals, k, n); v.refusals += n; }
      for (const [k, n] of Object.entries(r.clients)) addTo(clients, k, n);
      perVersion.set(key, v);
    }
    const series = [...bySeries.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([name, values]) => ({ name, values }));
    const hitRate = totals.loads ? Math.max(0, 1 - totals.renders / totals.loads) : 0;

    const fallbackRows = [...fallbacks.entries()].sort((a, b) => b[1] - a[1]).map(([k, value]) => {
      const [fieldName, reason] = k.split('=');
      return { label: `${fieldName}: ${FALLBACK_REASONS[reason] || reason || 'fallback'}`, value };
    });
    const refusalRows = [...refusals.entries()].sort((a, b) => b[1] - a[1]).map(([k, value]) => ({ label: REFUSALS[k] || k, value }));
    const clientRows = Object.keys(CLIENTS).map((k, i) => ({ label: CLIENTS[k], value: clients.get(k) || 0, color: i }))
      .concat([...clients.keys()].filter((k) => !CLIENTS[k]).map((k) => ({ label: k, value: clients.get(k) })));

    fill(out,
      h('dl', { class: 'stats' },
        stat('Loads', count(totals.loads)),
        stat('Cold renders', count(totals.renders)),
        stat('Served from cache', `${Math.round(hitRate * 100)}%`),
        stat('Bytes sent', bytes(totals.bytes)),
        stat('Answered with the fallback image (over a limit)', count(totals.overflow))),
      h('section', { class: 'card chart-card', 'aria-labelledby': 'usage-loads' },
        h('h2', { id: 'usage-loads' }, 'Loads per day'),
        barChart({ title: 'Loads per day, by template and version', categories: dayList, series, stacked: true })),
      h('div', { class: 'chart-pair' },
        h('section', { class: 'card chart-card', 'aria-labelledby': 'usage-fallbacks' },
          h('h2', { id: 'usage-fallbacks' }, 'Fallbacks by field and reason'),
          fallbackRows.length
            ? hbarChart({ title: 'Fields that fell back to their default', rows: fallbackRows, total: totals.loads, labelHeading: 'Field: reason' })
            : h('p', { class: 'muted' }, 'No field fell back: every value was used as sent.'),
          fallbackRows.length ? h('p', { class: 'muted small' }, 'Shares are of all loads.') : null),
        h('section', { class: 'card chart-card', 'aria-labelledby': 'usage-refusals' },
          h('h2', { id: 'usage-refusals' }, 'Refusals by reason'),
          refusalRows.length
            ? hbarChart({ title: 'Refused requests by reason', rows: refusalRows, labelHeading: 'Reason' })
            : h('p', { class: 'muted' }, 'No request was refused (no tampered, expired or unsigned values).'))),
      h('section', { class: 'card chart-card', 'aria-labelledby': 'usage-clients' },
        h('h2', { id: 'usage-clients' }, 'Email client share'),
        hbarChart({ title: 'Loads by email client', rows: clientRows, labelHeading: 'Client' }),
        h('p', { class: 'muted small' }, 'Told from the User-Agent: Gmail and Yahoo load through their image proxies, Apple Mail includes its privacy proxy.')),
      h('section', { 'aria-labelledby': 'usage-versions' },
        h('h2', { id: 'usage-versions' }, 'Per template and version'),
        h('div', { class: 'table-scroll' },
          h('table', {},
            h('thead', {}, h('tr', {},
              ['Template', 'Version', 'Loads', 'Cold renders', 'Bytes sent', 'Fallbacks', 'Refusals', 'Over a limit'].map((t, i) =>
                h('th', { scope: 'col', class: i > 1 ? 'num' : null }, t)))),
            h('tbody', {}, [...perVersion.values()].sort((a, b) => b.loads - a.loads).map((v) => h('tr', {},
              h('th', { scope: 'row' }, v.template),
              h('td', {}, `v${v.version}`),
              h('td', { class: 'num' }, count(v.loads)),
              h('td', { class: 'num' }, count(v.renders)),
              h('td', { class: 'num' }, bytes(v.bytes)),
              h('td', { class: 'num' }, count(v.fallbacks)),
              h('td', { class: 'num' }, count(v.refusals)),
              h('td', { class: 'num' }, count(v.overflow)))))))));
  }

  form.addEventListener('submit', (e) => { e.preventDefault(); load(); });
  for (const c of [from, to, template]) c.addEventListener('change', () => load());
  await load();
  return () => { seq += 1; };
}

function stat(label, value) {
  return h('div', { class: 'stat' }, h('dt', {}, label), h('dd', {}, value));
}
