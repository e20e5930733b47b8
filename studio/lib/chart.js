// Small SVG charts for the Usage screen, drawn with createElementNS (no library, nothing inline
// that the Content-Security-Policy would block: colours are SVG attributes, not style).
// Each chart is a <figure>: the picture (role="img" with a one-line summary), a legend, and
// the same numbers as a <table> under "Show the numbers" for screen readers and copying.
//
//   barChart({ title, categories, series: [{ name, values }], stacked, format })
//   hbarChart({ title, rows: [{ label, value }], format, total })   horizontal, long labels
//
// `categories` label the x axis (days, …); each series has one value per category.
// The SVG is drawn at its container's width in pixels (redrawn when that changes), so text
// keeps its size on a phone and on a wide screen instead of scaling with a viewBox.

import { h } from './dom.js';

const SVG = 'http://www.w3.org/2000/svg';

// Distinguishable on white and for the common colour-vision deficiencies (Okabe–Ito, darkened
// where needed for 3:1 contrast against the background).
export const PALETTE = ['#0072b2', '#d55e00', '#009e73', '#cc79a7', '#7a6a00', '#56b4e9', '#e69f00', '#000000'];

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v !== undefined && v !== null && v !== false) el.setAttribute(k, String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// Value formatters for axes, labels and tables.
export const plain = (v) => Number(v).toLocaleString('en');
export function bytes(n) {
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = -1;
  do { v /= 1024; u += 1; } while (v >= 1024 && u < units.length - 1);
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}

// Axis steps of 1, 2 or 5 × 10ⁿ, about `count` of them up to at least `max`.
export function niceTicks(max, count = 4) {
  if (!(max > 0)) return [0, 1];
  const rough = max / count;
  const mag = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((st) => st >= rough);
  const ticks = [];
  for (let v = 0; v < max + step / 2 && ticks.length < 12; v += step) ticks.push(v);
  if (ticks[ticks.length - 1] < max) ticks.push(ticks[ticks.length - 1] + step);
  return ticks.map((v) => Number(v.toPrecision(12)));
}

function swatch(color) {
  return s('svg', { width: 12, height: 12, viewBox: '0 0 12 12', 'aria-hidden': 'true', class: 'swatch' },
    s('rect', { width: 12, height: 12, rx: 2, fill: color }));
}

function legend(series) {
  if (!series.length) return null;
  return h('ul', { class: 'chart-legend' },
    series.map((se, i) => h('li', {}, swatch(PALETTE[i % PALETTE.length]), se.name)));
}

// The numbers behind a chart with categories and series.
function seriesTable(title, categoryLabel, categories, series, format, stacked) {
  const totals = stacked && series.length > 1;
  return h('details', { class: 'chart-data' },
    h('summary', {}, 'Show the numbers'),
    h('div', { class: 'table-scroll' },
      h('table', {},
        h('caption', { class: 'visually-hidden' }, title),
        h('thead', {}, h('tr', {},
          h('th', { scope: 'col' }, categoryLabel),
          series.map((se) => h('th', { scope: 'col', class: 'num' }, se.name)),
          totals ? h('th', { scope: 'col', class: 'num' }, 'Total') : null)),
        h('tbody', {}, categories.map((c, i) => h('tr', {},
          h('th', { scope: 'row' }, c),
          series.map((se) => h('td', { class: 'num' }, format(se.values[i] || 0))),
          totals ? h('td', { class: 'num' }, format(series.reduce((a, se) => a + (se.values[i] || 0), 0))) : null))))));
}

// Which category labels fit under the axis: every nth, so they never overlap.
function labelEvery(n, plotWidth, labelWidth = 46) {
  return Math.max(1, Math.ceil((n * labelWidth) / plotWidth));
}

const H = 260;
const PAD = { top: 12, right: 12, bottom: 34, left: 56 };

// A figure whose SVG is `draw(width)`, redrawn whenever the figure's width changes.
function responsive(figure, svgSlot, draw) {
  let width = 0;
  const paint = (w) => {
    const next = Math.max(280, Math.round(w));
    if (next === width) return;
    width = next;
    svgSlot.replaceChildren(draw(width));
  };
  paint(720);
  if (typeof ResizeObserver === 'function') {
    // Painted in the next frame: redrawing inside the callback changes the figure's height,
    // which the observer would report again in the same frame (a "loop" error).
    let frameId = 0;
    new ResizeObserver((entries) => {
      const w = entries[0].contentRect.width;
      cancelAnimationFrame(frameId);
      if (w) frameId = requestAnimationFrame(() => paint(w));
    }).observe(figure);
  }
  return figure;
}

function svgOf(kind, width, height, label) {
  return s('svg', {
    width, height, viewBox: `0 0 ${width} ${height}`, class: `chart ${kind}`, role: 'img', 'aria-label': label,
  });
}

function frame(kind, { title, summary, categories, series, format, stacked, categoryLabel }, draw) {
  const slot = h('div', { class: 'chart-slot' });
  const figure = h('figure', { class: 'chart-figure' },
    h('figcaption', {}, title),
    slot,
    legend(series),
    seriesTable(title, categoryLabel || 'Day', categories, series, format, stacked));
  return responsive(figure, slot, (W) => {
    const svg = svgOf(kind, W, H, `${title}: ${summary}`);
    draw(svg, W);
    return svg;
  });
}

function axes(svg, ticks, y, plotW, format) {
  for (const t of ticks) {
    const ty = y(t);
    svg.append(s('line', { x1: PAD.left, x2: PAD.left + plotW, y1: ty, y2: ty, class: t === 0 ? 'axis' : 'grid' }));
    svg.append(s('text', { x: PAD.left - 6, y: ty + 4, 'text-anchor': 'end', class: 'tick' }, format(t)));
  }
}

function categoryLabels(svg, categories, xCenter, plotW) {
  const every = labelEvery(categories.length, plotW);
  categories.forEach((c, i) => {
    // The last label is always shown (the most recent day), the others every nth from it.
    if ((categories.length - 1 - i) % every !== 0) return;
    svg.append(s('text', { x: xCenter(i), y: H - PAD.bottom + 18, 'text-anchor': 'middle', class: 'tick' }, shortLabel(c)));
  });
}

// "2026-11-26" → "11-26": the year is in the table.
function shortLabel(c) {
  return /^\d{4}-\d\d-\d\d$/.test(c) ? c.slice(5) : c;
}

function summarise(categories, series, format) {
  const total = series.reduce((a, se) => a + se.values.reduce((b, v) => b + (v || 0), 0), 0);
  const range = categories.length ? `${categories[0]} to ${categories[categories.length - 1]}` : 'no data';
  return `${format(total)} in all, ${range}`;
}

// Vertical bars per category: grouped side by side, or stacked.
export function barChart({ title, categories, series, stacked = false, format = plain, categoryLabel }) {
  const summary = summarise(categories, series, format);
  return frame('bars', { title, summary, categories, series, format, stacked, categoryLabel }, (svg, W) => {
    const plotW = W - PAD.left - PAD.right;
    const plotH = H - PAD.top - PAD.bottom;
    const sums = categories.map((_, i) => stacked
      ? series.reduce((a, se) => a + (se.values[i] || 0), 0)
      : Math.max(0, ...series.map((se) => se.values[i] || 0)));
    const ticks = niceTicks(Math.max(0, ...sums));
    const top = ticks[ticks.length - 1] || 1;
    const y = (v) => PAD.top + plotH - (v / top) * plotH;
    axes(svg, ticks, y, plotW, format);
    const band = plotW / Math.max(1, categories.length);
    const gap = Math.min(8, band * 0.2);
    const bw = Math.min(band - gap, 48);
    categories.forEach((c, i) => {
      const x0 = PAD.left + i * band + (band - bw) / 2;
      let base = 0;
      series.forEach((se, k) => {
        const v = se.values[i] || 0;
        if (!v) return;
        const color = PALETTE[k % PALETTE.length];
        const label = `${c}, ${se.name}: ${format(v)}`;
        if (stacked) {
          svg.append(s('rect', { x: x0, y: y(base + v), width: Math.max(1, bw), height: Math.max(1, y(base) - y(base + v)), fill: color },
            s('title', {}, label)));
          base += v;
        } else {
          const w = bw / series.length;
          svg.append(s('rect', { x: x0 + k * w, y: y(v), width: Math.max(1, w - 1), height: Math.max(1, y(0) - y(v)), fill: color },
            s('title', {}, label)));
        }
      });
    });
    categoryLabels(svg, categories, (i) => PAD.left + (i + 0.5) * band, plotW);
  });
}

// Horizontal bars, one per row, labelled with the value and its share of `total`.
export function hbarChart({ title, rows, format = plain, total, labelHeading = 'What' }) {
  const sum = total ?? rows.reduce((a, r) => a + r.value, 0);
  const share = (v) => (sum > 0 ? `${Math.round((v / sum) * 1000) / 10}%` : '');
  const rowH = 28;
  const height = Math.max(1, rows.length) * rowH + 8;
  const max = Math.max(1, ...rows.map((r) => r.value));
  const summary = rows.map((r) => `${r.label} ${format(r.value)}${sum ? ` (${share(r.value)})` : ''}`).join('; ');
  const longest = Math.max(4, ...rows.map((r) => r.label.length));
  const slot = h('div', { class: 'chart-slot' });
  const figure = h('figure', { class: 'chart-figure' },
    h('figcaption', {}, title),
    slot,
    h('details', { class: 'chart-data' },
      h('summary', {}, 'Show the numbers'),
      h('table', {},
        h('caption', { class: 'visually-hidden' }, title),
        h('thead', {}, h('tr', {},
          h('th', { scope: 'col' }, labelHeading),
          h('th', { scope: 'col', class: 'num' }, 'Count'),
          h('th', { scope: 'col', class: 'num' }, 'Share'))),
        h('tbody', {}, rows.map((r) => h('tr', {},
          h('th', { scope: 'row' }, r.label),
          h('td', { class: 'num' }, format(r.value)),
          h('td', { class: 'num' }, share(r.value))))))));
  return responsive(figure, slot, (W) => {
    // Labels get what they need (about 7 px a character), up to 40% of the width.
    const labelW = Math.min(Math.round(W * 0.4), longest * 7 + 12);
    const chars = Math.floor((labelW - 12) / 7);
    const valueW = 96;
    const plotW = Math.max(40, W - labelW - valueW);
    const svg = svgOf('hbars', W, height, `${title}: ${summary || 'none'}`);
    rows.forEach((r, i) => {
      const y0 = 4 + i * rowH;
      const w = Math.max(r.value ? 2 : 0, (r.value / max) * plotW);
      svg.append(s('text', { x: labelW - 8, y: y0 + rowH / 2 + 4, 'text-anchor': 'end', class: 'label' }, clip(r.label, chars),
        r.label.length > chars ? s('title', {}, r.label) : null));
      svg.append(s('rect', { x: labelW, y: y0 + 5, width: w, height: rowH - 10, rx: 3, fill: PALETTE[(r.color ?? i) % PALETTE.length] },
        s('title', {}, `${r.label}: ${format(r.value)}`)));
      svg.append(s('text', { x: labelW + w + 6, y: y0 + rowH / 2 + 4, class: 'value' },
        `${format(r.value)}${sum ? ` · ${share(r.value)}` : ''}`));
    });
    return svg;
  });
}

function clip(text, n) {
  return text.length > n ? `${text.slice(0, n - 1)}…` : text;
}
