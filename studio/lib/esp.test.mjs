// node --test studio/lib/ — the email platforms' merge tags, the <img> tags built from them,
// and the recipient-list checks of the "Use it" screen.

import test from 'node:test';
import assert from 'node:assert/strict';
import {
  PLATFORMS, defaultAttribute, mergeTag, platformTag, heightFor, pixelWidth, imageUrl, imgTag,
  webSnippet, srcsetWidths, altFromName, parseCsv, fallbackReason, checkRecipients, isUnfilledTag,
  lineOfCsvError,
} from './esp.js';

const canvas = { width: 1200, height: 630 };
const base = 'http://127.0.0.1:8192/iiif/3';

test('every platform the issue names is there, once', () => {
  assert.deepEqual(PLATFORMS.map((p) => p.name).sort(), [
    'ActiveCampaign', 'Braze', 'Campaign Monitor', 'HubSpot', 'Iterable', 'Klaviyo', 'Mailchimp',
    'Salesforce Marketing Cloud',
  ]);
});

test('merge tags carry each platform’s URL-encoding filter', () => {
  assert.equal(mergeTag('mailchimp', 'FNAME'), '*|URL:FNAME|*');
  assert.equal(mergeTag('hubspot', 'firstname'), '{{ contact.firstname|urlencode }}');
  assert.equal(mergeTag('hubspot', 'company.name'), '{{ company.name|urlencode }}');
  assert.equal(mergeTag('klaviyo', 'first_name'), "{{ first_name|default:''|urlencode }}");
  assert.equal(mergeTag('klaviyo', 'Favorite Color'), "{{ person|lookup:'Favorite Color'|default:''|urlencode }}");
  assert.equal(mergeTag('braze', 'first_name'), '{{${first_name} | url_param_escape}}');
  assert.equal(mergeTag('braze', 'company'), '{{custom_attribute.${company} | url_param_escape}}');
  assert.equal(mergeTag('sfmc', 'first_name'), "%%=URLEncode(AttributeValue('first_name'), 1, 1)=%%");
  assert.equal(mergeTag('iterable', 'firstName'), '{{#urlEncode}}{{firstName}}{{/urlEncode}}');
  assert.equal(mergeTag('iterable', 'my field'), '{{#urlEncode}}{{[my field]}}{{/urlEncode}}');
  assert.equal(mergeTag('activecampaign', 'FIRSTNAME'), '%FIRSTNAME%');
  assert.equal(mergeTag('campaignmonitor', 'firstname'), '[firstname,fallback=]');
});

test('no merge tag can end the src attribute early', () => {
  for (const p of PLATFORMS) {
    for (const a of ['first_name', "O'Brien field", 'Favorite Color']) {
      assert.ok(!mergeTag(p.id, a).includes('"'), `${p.id}: ${mergeTag(p.id, a)}`);
    }
  }
});

test('default attributes follow each platform’s conventions', () => {
  assert.equal(defaultAttribute('mailchimp', 'first_name'), 'FNAME');
  assert.equal(defaultAttribute('mailchimp', 'loyalty_points_total'), 'LOYALTYPOI');
  assert.ok(defaultAttribute('mailchimp', 'a_very_long_field_name').length <= 10);
  assert.equal(defaultAttribute('hubspot', 'first_name'), 'firstname');
  assert.equal(defaultAttribute('klaviyo', 'company'), 'organization');
  assert.equal(defaultAttribute('klaviyo', 'tier'), 'tier');
  assert.equal(defaultAttribute('iterable', 'first_name'), 'firstName');
  assert.equal(defaultAttribute('activecampaign', 'member-id'), 'MEMBER_ID');
  assert.equal(defaultAttribute('campaignmonitor', 'member_id'), 'memberid');
});

test('sizes: height from the aspect ratio, pixels never beyond the canvas', () => {
  assert.equal(heightFor(600, canvas), 315);
  assert.equal(pixelWidth(600, 2, canvas), 1200);
  assert.equal(pixelWidth(800, 2, canvas), 1200);
  assert.deepEqual(srcsetWidths(600, canvas), [600, 1200]);
  assert.deepEqual(srcsetWidths(300, canvas), [300, 600, 900]);
});

test('the Mailchimp tag: merge tags raw, field names encoded, size and alt filled', () => {
  const tag = platformTag('mailchimp', {
    base, name: 'webinar', version: 1, canvas, width: 600, format: 'jpg',
    fields: ['first_name', 'company'], alt: 'Your seat is "saved" & <ready>',
  });
  assert.equal(tag,
    '<img src="http://127.0.0.1:8192/iiif/3/tpl~webinar~1/full/1200,/0/default.jpg'
    + '?first_name=*|URL:FNAME|*&company=*|URL:COMPANY|*" width="600" height="315"'
    + ' alt="Your seat is &quot;saved&quot; &amp; &lt;ready&gt;" border="0">');
  // The journey of the browser suite: replace the merge tag, load the URL.
  const src = /src="([^"]+)"/.exec(tag)[1].replace('*|URL:FNAME|*', 'Ana').replace('*|URL:COMPANY|*', '');
  const url = new URL(src);
  assert.equal(url.searchParams.get('first_name'), 'Ana');
  assert.equal(url.searchParams.get('company'), '');
});

test('a mapping overrides the default attribute', () => {
  const tag = platformTag('hubspot', {
    base, name: 'emea.badge', version: 3, canvas, width: 300, density: 1, format: 'png',
    fields: ['first_name'], mapping: { first_name: 'preferred_name' }, alt: 'Badge',
  });
  assert.match(tag, /tpl~emea\.badge~3\/full\/300,\/0\/default\.png\?first_name=\{\{ contact\.preferred_name\|urlencode \}\}"/);
  assert.match(tag, /height="158"/);
});

test('the web snippet encodes plain values and lists every width', () => {
  const s = webSnippet({ base, name: 'webinar', version: 2, canvas, width: 600, format: 'webp', values: { first_name: 'Ana María', company: '' }, alt: 'Hi' });
  assert.match(s, /^<img src="[^"]+\/full\/600,\/0\/default\.webp\?first_name=Ana%20Mar%C3%ADa" srcset="/);
  assert.match(s, /full\/600,\/0\/default\.webp\?first_name=Ana%20Mar%C3%ADa 600w, /);
  assert.match(s, /full\/1200,\/0\/default\.webp\?first_name=Ana%20Mar%C3%ADa 1200w"/);
  assert.ok(!s.includes('company='));
  assert.match(s, /sizes="\(max-width: 600px\) 100vw, 600px" width="600" height="315" alt="Hi" border="0">$/);
});

test('image URLs and tags', () => {
  assert.equal(imageUrl({ base: `${base}/`, name: 'x', version: 1, width: 10, format: 'png' }), `${base}/tpl~x~1/full/10,/0/default.png`);
  assert.equal(imgTag({ src: 'a"b', width: 1, height: 2, alt: '' }), '<img src="a%22b" width="1" height="2" alt="" border="0">');
  assert.equal(altFromName('emea.webinar-reminder'), 'Webinar reminder');
});

test('CSV: quotes, commas, line breaks, CRLF, BOM', () => {
  const rows = parseCsv('\ufeffemail,name\r\n"a@x","Ana, ""the"" first"\r\nb@x,"two\nlines"\r\n\r\n');
  assert.deepEqual(rows.map((r) => r.cells), [['email', 'name'], ['a@x', 'Ana, "the" first'], ['b@x', 'two\nlines']]);
  assert.deepEqual(rows.map((r) => r.line), [1, 2, 3]);
  assert.deepEqual(parseCsv('a,b\n1,').map((r) => r.cells), [['a', 'b'], ['1', '']]);
});

test('fallback reasons mirror the server’s checks', () => {
  assert.equal(fallbackReason({ max_length: 3 }, 'Anna'), 'too-long');
  assert.equal(fallbackReason({ max_length: 3 }, ' Ana '), null);
  assert.equal(fallbackReason({}, ''), null);
  assert.equal(fallbackReason({ kind: 'number' }, '12.5'), null);
  assert.equal(fallbackReason({ kind: 'number' }, 'inf'), 'invalid');
  assert.equal(fallbackReason({ kind: 'number' }, '1,5'), 'invalid');
  assert.equal(fallbackReason({ kind: 'date' }, '2026-02-29'), 'invalid');
  assert.equal(fallbackReason({ kind: 'date' }, '2028-02-29'), null);
  assert.equal(fallbackReason({ kind: 'url' }, 'javascript:alert(1)'), 'invalid');
  assert.equal(fallbackReason({ kind: 'url' }, 'avatar-default'), null);
  assert.equal(fallbackReason({ pattern: '[A-Z]{2}' }, 'NLX'), 'invalid');
  assert.equal(fallbackReason({ pattern: '[A-Z]{2}' }, 'NL'), null);
  assert.equal(fallbackReason({}, '*|FNAME|*'), 'unfilled');
  assert.ok(isUnfilledTag('%%First_Name%%') && !isUnfilledTag('100%'));
  // The same cases as fields.rs unfilled_platform_tags_are_recognised.
  for (const tag of ['%FIRSTNAME%', '[firstname,fallback=]', '[company,fallback=your team]', '[email]',
    '{$name}', '[FNAME]', '#{first_name}', '[[data:firstname:""]]', '%2A%7CFNAME%7C%2A',
    '%257B%257B%2520first_name%2520%257D%257D']) {
    assert.ok(isUnfilledTag(tag), tag);
  }
  for (const value of ['%50%', '%Ana%', '[]', '[a, b]', '[Beta]', '[EN]', 'C++', 'Barnes & Noble', '50%25', '#{}', '{$}']) {
    assert.ok(!isUnfilledTag(value), value);
  }
});

test('recipient lists: per-row problems, and what the server would refuse', () => {
  const fields = { first_name: { open: true, max_length: 5, default: 'there' }, when: { kind: 'date', default: 'soon' } };
  const r = checkRecipients('email,first_name,when\na@x,Ana,2026-01-02\nb@x,Bartholomew,2026-13-01\nc@x,Cy\n', fields);
  assert.equal(r.rows, 3);
  assert.deepEqual(r.fieldColumns, ['first_name', 'when']);
  assert.deepEqual(r.problems.map((p) => [p.row, p.field, p.reason || 'cells']), [
    [2, 'first_name', 'too-long'], [2, 'when', 'invalid'], [3, '', 'cells'],
  ]);
  assert.match(r.problems[0].problem, /shows “there” instead/);
  assert.ok(r.fatal);
  assert.match(checkRecipients('email,url\na,b\n', fields).fatal, /url/);
  assert.match(checkRecipients('email\na\n', fields).fatal, /first_name, when/);
  assert.equal(checkRecipients('first_name\nAna\n', fields).fatal, null);
  assert.equal(lineOfCsvError('CSV: found record with 1 fields, but the previous record has 3 fields (line: 4, byte: 40)'), 4);
});
