// Email platforms (ESPs): how each one writes a merge tag for a recipient's attribute, URL-
// encoded for use inside an image URL, and the ready <img> tag built from it. Pure: no DOM, so
// node:test covers it (esp.test.mjs).
//
// Where each syntax comes from (and what to watch for):
// - Mailchimp: `*|URL:MERGE|*` URL-encodes a merge field's value (Mailchimp's merge tag
//   reference; also README "In an email"). Audience merge tags are up to 10 upper-case
//   characters (FNAME, LNAME, COMPANY).
// - HubSpot: HubL `{{ contact.<internal property name>|urlencode }}` (HubL filter reference:
//   `urlencode`; README). Internal names are lower case: `firstname`, `lastname`, `company`.
// - Klaviyo: Klaviyo's editor supports "most built-in Django filters"
//   (developers.klaviyo.com, Django filter glossary), and Django's built-in `urlencode` is one.
//   Built-in profile properties are variables of their own (`first_name`, `organization`);
//   custom properties are read with `person|lookup:'Name'`. `default:''` makes a missing
//   property empty instead of Klaviyo's own placeholder. Caveat: Django's `urlencode` leaves
//   `/` as is, which is harmless in a query value.
// - Braze: Liquid `url_param_escape` escapes everything unsafe in a URL parameter, `&`
//   included (braze.com, Liquid "Advanced filters"). Standard attributes are `${first_name}`,
//   custom ones `custom_attribute.${name}`.
// - Salesforce Marketing Cloud: AMPscript `URLEncode(value, 1, 1)` — both flags on, or it
//   only encodes spaces and only inside strings that look like URLs (developer.salesforce.com,
//   AMPscript UrlEncode()). `AttributeValue('…')` reads a subscriber attribute or data
//   extension column and gives an empty string when there is none, instead of failing the
//   send. Single quotes, so the tag fits in a double-quoted src="…".
// - Iterable: the Handlebars block helper `{{#urlEncode}}…{{/urlEncode}}`
//   (support.iterable.com, "Personalizing Templates with Handlebars", URL encoding). Profile
//   fields are camelCase (`firstName`); names with spaces go in brackets `{{[my field]}}`.
// - ActiveCampaign: personalization tags are `%FIRSTNAME%`, `%LASTNAME%`, `%EMAIL%` and
//   `%CUSTOM_FIELD%`. We found no documented URL-encoding modifier, so values go in as they
//   are: a name holding `&`, `#` or `+` may be cut or changed. Prefer sealed URLs (CSV below)
//   for such lists.
// - Campaign Monitor: `[firstname,fallback=]`, `[lastname,fallback=]`, `[email]` and
//   `[customfield,fallback=]` (custom field names without spaces). An empty fallback lets
//   Tessera draw the field's own default. No URL-encoding filter is documented in what we
//   found; the same caveat as ActiveCampaign applies.

// A name a template language can use bare (no spaces or punctuation).
const BARE = /^[A-Za-z_][A-Za-z0-9_]*$/;

const squash = (s) => String(s).toUpperCase().replace(/[^A-Z0-9_]+/g, '_').replace(/^_+|_+$/g, '');

export const PLATFORMS = [
  {
    id: 'mailchimp',
    name: 'Mailchimp',
    attributeLabel: 'merge tag',
    note: '*|URL:…|* URL-encodes the value. Merge tags are up to 10 upper-case characters.',
    defaults: { first_name: 'FNAME', last_name: 'LNAME', email: 'EMAIL', company: 'COMPANY', phone: 'PHONE' },
    guess: (f) => squash(f).replace(/_/g, '').slice(0, 10) || 'MERGE',
    tag: (a) => `*|URL:${a}|*`,
  },
  {
    id: 'hubspot',
    name: 'HubSpot',
    attributeLabel: 'contact property',
    note: 'HubL’s urlencode filter encodes the value. Use the property’s internal name (lower case).',
    defaults: { first_name: 'firstname', last_name: 'lastname', email: 'email', company: 'company', phone: 'phone' },
    guess: (f) => String(f).toLowerCase().replace(/[^a-z0-9_]+/g, '_'),
    // A name with a dot already names its object (`company.name`).
    tag: (a) => `{{ ${a.includes('.') ? a : `contact.${a}`}|urlencode }}`,
  },
  {
    id: 'klaviyo',
    name: 'Klaviyo',
    attributeLabel: 'profile property',
    note: 'Django’s urlencode filter encodes the value; default:\'\' leaves a missing one empty.',
    defaults: { first_name: 'first_name', last_name: 'last_name', email: 'email', company: 'organization', phone: 'phone_number' },
    builtIn: ['first_name', 'last_name', 'email', 'phone_number', 'organization', 'title', 'city', 'region', 'country', 'zip'],
    guess: (f) => String(f),
    tag(a) {
      const value = this.builtIn.includes(a) || (a.startsWith('person.') && BARE.test(a.slice(7)))
        ? a
        : `person|lookup:'${a.replace(/'/g, '')}'`;
      return `{{ ${value}|default:''|urlencode }}`;
    },
  },
  {
    id: 'braze',
    name: 'Braze',
    attributeLabel: 'attribute',
    note: 'Liquid’s url_param_escape encodes the value, & included.',
    defaults: { first_name: 'first_name', last_name: 'last_name', email: 'email_address', phone: 'phone_number' },
    builtIn: ['first_name', 'last_name', 'email_address', 'phone_number', 'city', 'country', 'language', 'gender', 'date_of_birth', 'time_zone', 'user_id'],
    guess: (f) => String(f),
    tag(a) {
      const value = this.builtIn.includes(a) ? `\${${a}}` : `custom_attribute.\${${a}}`;
      return `{{${value} | url_param_escape}}`;
    },
  },
  {
    id: 'sfmc',
    name: 'Salesforce Marketing Cloud',
    attributeLabel: 'attribute',
    note: 'AMPscript URLEncode(…, 1, 1) encodes every character that needs it. A subscriber attribute or data extension column.',
    defaults: { first_name: 'FirstName', last_name: 'LastName', email: 'EmailAddress' },
    guess: (f) => String(f),
    tag: (a) => `%%=URLEncode(AttributeValue('${a.replace(/'/g, '')}'), 1, 1)=%%`,
  },
  {
    id: 'activecampaign',
    name: 'ActiveCampaign',
    attributeLabel: 'personalization tag',
    note: 'No URL-encoding modifier is documented: values with & # or + may break. Sealed URLs avoid this.',
    defaults: { first_name: 'FIRSTNAME', last_name: 'LASTNAME', email: 'EMAIL', phone: 'PHONE' },
    guess: (f) => squash(f) || 'FIELD',
    tag: (a) => `%${a}%`,
  },
  {
    id: 'campaignmonitor',
    name: 'Campaign Monitor',
    attributeLabel: 'personalization tag',
    note: 'No URL-encoding filter is documented: values with & # or + may break. Sealed URLs avoid this.',
    defaults: { first_name: 'firstname', last_name: 'lastname', email: 'email' },
    guess: (f) => String(f).replace(/[^A-Za-z0-9]+/g, '') || 'field',
    // The empty fallback sends an empty value, so Tessera draws the field's default.
    tag: (a) => (a === 'email' ? '[email]' : `[${a},fallback=]`),
  },
  {
    id: 'iterable',
    name: 'Iterable',
    attributeLabel: 'profile field',
    note: 'The {{#urlEncode}} block helper encodes the value.',
    defaults: { first_name: 'firstName', last_name: 'lastName', email: 'email', phone: 'phoneNumber' },
    guess: (f) => String(f),
    tag: (a) => `{{#urlEncode}}{{${/^[A-Za-z_][\w.]*$/.test(a) ? a : `[${a}]`}}}{{/urlEncode}}`,
  },
];

export function platform(id) {
  const p = PLATFORMS.find((x) => x.id === id);
  if (!p) throw new Error(`unknown email platform ${id}`);
  return p;
}

// The attribute a platform most likely holds a template field in (the user may change it).
export function defaultAttribute(platformId, field) {
  const p = platform(platformId);
  return p.defaults[field] || p.guess(field);
}

// The platform's merge tag for an attribute, URL-encoded by the platform when it sends.
export function mergeTag(platformId, attribute) {
  const p = platform(platformId);
  return p.tag(String(attribute).trim());
}

// Display height for a display width, keeping the canvas's aspect ratio.
export function heightFor(width, canvas) {
  return Math.max(1, Math.round((width * canvas.height) / canvas.width));
}

// Pixels to ask for: `density` × the display width, never more than the canvas (IIIF sizes
// may not upscale without `^`).
export function pixelWidth(displayWidth, density, canvas) {
  return Math.max(1, Math.min(Math.round(displayWidth * density), canvas.width));
}

// `${base}/tpl~{name}~{version}/full/{w},/0/default.{fmt}` and a query whose values are
// already written as they must appear (merge tags are not encoded again; plain values are).
export function imageUrl({ base, name, version, width, format, query = [] }) {
  const path = `${base.replace(/\/+$/, '')}/tpl~${name}~${version}/full/${width},/0/default.${format}`;
  const q = query.map(([k, v]) => `${encodeURIComponent(k)}=${v}`).join('&');
  return q ? `${path}?${q}` : path;
}

// Text for an HTML attribute value in double quotes.
export function attr(s) {
  return String(s).replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

// The <img> tag. The src is written as is: merge tags must reach the platform untouched, and
// a raw `&` between query parameters is what every email client reads.
export function imgTag({ src, width, height, alt, srcset, sizes }) {
  const parts = [`<img src="${src.replace(/"/g, '%22')}"`];
  if (srcset) parts.push(`srcset="${srcset.replace(/"/g, '%22')}"`);
  if (sizes) parts.push(`sizes="${attr(sizes)}"`);
  parts.push(`width="${width}"`, `height="${height}"`, `alt="${attr(alt)}"`, 'border="0">');
  return parts.join(' ');
}

// The ready tag for one platform: every open field filled by the platform's merge tag for the
// attribute mapped to it (`mapping[field]`, else the default attribute).
export function platformTag(platformId, { base, name, version, canvas, width, density = 2, format, fields, mapping = {}, alt }) {
  const query = fields.map((f) => [f, mergeTag(platformId, mapping[f] || defaultAttribute(platformId, f))]);
  const src = imageUrl({ base, name, version, width: pixelWidth(width, density, canvas), format, query });
  return imgTag({ src, width, height: heightFor(width, canvas), alt });
}

// The widths of a srcset for the web: 1×, 2×, 3× of the display width, none wider than the
// canvas, no duplicates.
export function srcsetWidths(displayWidth, canvas) {
  const out = [];
  for (const d of [1, 2, 3]) {
    const w = pixelWidth(displayWidth, d, canvas);
    if (!out.includes(w)) out.push(w);
  }
  return out;
}

// A responsive web snippet: plain values (URL-encoded here), a srcset in `w` units.
export function webSnippet({ base, name, version, canvas, width, format, values = {}, alt }) {
  const query = Object.entries(values)
    .filter(([, v]) => v !== undefined && v !== null && String(v) !== '')
    .map(([k, v]) => [k, encodeURIComponent(v)]);
  const url = (w) => imageUrl({ base, name, version, width: w, format, query });
  const widths = srcsetWidths(width, canvas);
  return imgTag({
    src: url(widths[0]),
    srcset: widths.map((w) => `${url(w)} ${w}w`).join(', '),
    sizes: `(max-width: ${width}px) 100vw, ${width}px`,
    width,
    height: heightFor(width, canvas),
    alt,
  });
}

// "webinar-reminder" → "Webinar reminder": a starting point for the alt text.
export function altFromName(name) {
  const base = String(name).split('.').pop().replace(/[-_]+/g, ' ').trim();
  return base ? base[0].toUpperCase() + base.slice(1) : 'Personalized image';
}

// ---- Recipient lists (the CSV sealed on the "Use it" screen) ----
// The server seals every row as it is and refuses the whole file for a broken CSV; a value
// that fails its field's checks is sealed anyway and shows the field's default when the image
// is rendered. These checks mirror src/template/fields.rs (Field::resolve), so the screen can
// say per row what each recipient will see before anything is sent.

// RFC 4180 CSV: quoted cells may hold commas, quotes ("") and line breaks; CRLF or LF.
// Returns rows of cells, each row with the line it starts on (1-based).
export function parseCsv(text) {
  const rows = [];
  let row = [];
  let cell = '';
  let quoted = false;
  let line = 1;
  let rowLine = 1;
  let i = 0;
  const s = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const endRow = () => {
    row.push(cell);
    rows.push({ line: rowLine, cells: row });
    row = [];
    cell = '';
  };
  while (i < s.length) {
    const c = s[i];
    if (quoted) {
      if (c === '"' && s[i + 1] === '"') { cell += '"'; i += 2; continue; }
      if (c === '"') { quoted = false; i += 1; continue; }
      if (c === '\n') line += 1;
      cell += c;
      i += 1;
      continue;
    }
    if (c === '"' && cell === '') { quoted = true; i += 1; continue; }
    if (c === ',') { row.push(cell); cell = ''; i += 1; continue; }
    if (c === '\r' && s[i + 1] === '\n') { i += 1; continue; }
    if (c === '\n') {
      endRow();
      line += 1;
      rowLine = line;
      i += 1;
      continue;
    }
    cell += c;
    i += 1;
  }
  if (cell !== '' || row.length) endRow();
  // A final empty line is not a recipient.
  return rows.filter((r) => !(r.cells.length === 1 && r.cells[0] === ''));
}

// Whether a value is an email platform's merge tag left unreplaced (fields.rs is_unfilled_tag),
// also once or twice percent-encoded (a tag encoded more than the URL needed).
export function isUnfilledTag(value) {
  let v = String(value).trim();
  for (let i = 0; i < 3; i++) {
    if (looksLikeTag(v)) return true;
    let decoded;
    try { decoded = decodeURIComponent(v).trim(); } catch { return false; }
    if (decoded === v) return false;
    v = decoded;
  }
  return looksLikeTag(v);
}

function looksLikeTag(v) {
  const wrapped = (open, close) => v.length > open.length + close.length && v.startsWith(open) && v.endsWith(close);
  const inner = (open, close) => v.slice(open.length, v.length - close.length);
  const name = (s) => /^[A-Za-z0-9_.-]+$/.test(s);
  // ActiveCampaign: upper-case names only ("%50%" or "100%" are real values).
  const activeCampaign = wrapped('%', '%') && /^[A-Z0-9_]*[A-Z][A-Z0-9_]*$/.test(inner('%', '%'));
  // Campaign Monitor `[name,fallback=…]` or a built-in name; other bracketed names when
  // upper-case and three or more long (`[FNAME]`; `[EN]` may be a value).
  const bracketed = wrapped('[', ']') && (() => {
    const tag = inner('[', ']');
    const at = tag.indexOf(',fallback=');
    if (at >= 0) return name(tag.slice(0, at));
    return ['email', 'firstname', 'lastname', 'fullname'].includes(tag) || /^[A-Z][A-Z0-9_]{2,}$/.test(tag);
  })();
  return wrapped('*|', '|*') || wrapped('{{', '}}') || wrapped('{%', '%}') || wrapped('%%', '%%')
    || wrapped('[[', ']]') || (wrapped('{$', '}') && name(inner('{$', '}')))
    || (wrapped('#{', '}') && name(inner('#{', '}')))
    || activeCampaign || bracketed;
}

function isDate(v) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(v);
  if (!m) return false;
  const [y, mo, d] = m.slice(1).map(Number);
  const date = new Date(Date.UTC(y, mo - 1, d));
  return date.getUTCFullYear() === y && date.getUTCMonth() === mo - 1 && date.getUTCDate() === d;
}

function kindAccepts(kind, v) {
  switch (kind || 'text') {
    // What Rust's f64 parser takes, finite only (no inf/NaN).
    case 'number': return /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(v) && Number.isFinite(Number(v));
    case 'date': return isDate(v);
    case 'url': return (v.startsWith('https://') || v.startsWith('http://') || !v.includes(':')) && !/\s/.test(v);
    default: return !/[\u0000-\u001f\u007f-\u009f]/.test(v);
  }
}

// A field's pattern as a JS RegExp anchored like the server's, or null when JS cannot read it
// (the server's regex dialect differs in corners); then the pattern is not checked here.
function compilePattern(pattern) {
  if (!pattern) return null;
  for (const flags of ['u', '']) {
    try { return new RegExp(`^(?:${pattern})$`, flags); } catch { /* try the next dialect */ }
  }
  return null;
}

// Why `value` would not be printed for field `spec` (as the server names it), or null when it
// would. Missing and empty values are not problems: they show the default by design.
export function fallbackReason(spec, value) {
  const v = String(value ?? '').trim();
  if (v === '') return null;
  if ([...v].length > (spec.max_length ?? 64)) return 'too-long';
  if (!kindAccepts(spec.kind, v)) return 'invalid';
  const re = compilePattern(spec.pattern);
  if (re && !re.test(v)) return 'invalid';
  if (isUnfilledTag(v)) return 'unfilled';
  return null;
}

const REASON_TEXT = {
  'too-long': (spec) => `is longer than ${spec.max_length ?? 64} characters`,
  invalid: (spec) => (spec.pattern ? `does not match the pattern ${spec.pattern}` : `is not a valid ${spec.kind || 'text'}`),
  unfilled: () => 'is an email platform merge tag that was never filled in',
};

// Why a value of a field will not be printed, as the end of a sentence ("is longer than 60
// characters"), for a reason of fallbackReason().
export function explainFallback(reason, spec) {
  return REASON_TEXT[reason](spec);
}

// Checks a recipient list against a template version's fields: whether the server will take
// it at all (`fatal`), and per row which values will show the field's default instead.
export function checkRecipients(text, fields) {
  const rows = parseCsv(text);
  if (!rows.length) return { fatal: 'The file is empty.', headers: [], rows: 0, problems: [] };
  const headers = rows[0].cells;
  const fieldColumns = headers.map((h, i) => [h, i]).filter(([h]) => Object.hasOwn(fields, h));
  if (headers.includes('url')) {
    return { fatal: 'The file already has a “url” column; rename or remove it.', headers, rows: rows.length - 1, problems: [] };
  }
  if (!fieldColumns.length) {
    return {
      fatal: `No column is a field of this template. Name the columns after its fields: ${Object.keys(fields).join(', ')}.`,
      headers, rows: rows.length - 1, problems: [],
    };
  }
  const problems = [];
  rows.slice(1).forEach((r, n) => {
    const row = n + 1;
    if (r.cells.length !== headers.length) {
      problems.push({ row, line: r.line, field: '', problem: `has ${r.cells.length} cells, the header has ${headers.length}`, fatal: true });
      return;
    }
    for (const [name, i] of fieldColumns) {
      const reason = fallbackReason(fields[name], r.cells[i]);
      if (reason) {
        problems.push({
          row, line: r.line, field: name, reason, fatal: false,
          problem: `${name} ${explainFallback(reason, fields[name])}: shows “${fields[name].default ?? ''}” instead`,
        });
      }
    }
  });
  const fatal = problems.some((p) => p.fatal) ? 'Some rows do not have as many cells as the header: the server refuses the file until they do.' : null;
  return { fatal, headers, rows: rows.length - 1, fieldColumns: fieldColumns.map(([h]) => h), problems };
}

// The CSV line number a server CSV error names ("… (line: 3, …"), when it names one.
export function lineOfCsvError(message) {
  const m = /line:?\s*(\d+)/i.exec(message || '');
  return m ? Number(m[1]) : null;
}
