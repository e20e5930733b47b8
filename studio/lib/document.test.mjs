// Self-check of the editor's document functions: node --test studio/lib/
import test from 'node:test';
import assert from 'node:assert/strict';
import * as d from './document.js';

const webinar = () => ({
  canvas: { width: 1200, height: 630, background: '#0b1f3a' },
  fields: { first_name: { open: true, max_length: 10, default: 'there' }, 'host.photo': { kind: 'url', default: 'avatar-default' } },
  layers: [
    { type: 'shape', shape: 'rect', fill: '#000', box: { x: 0, y: 0, width: '100%', height: '50%' } },
    { type: 'text', text: 'Hi {{ first_name }}, {{first_name | default: "a \\"b\\""}}!', font: 'Noto Sans', size: 40, box: { x: 60, y: 70, width: 720, height: 170 } },
    { type: 'image', source: '{{ host.photo }}', default: 'avatar-default', box: { x: 870, y: 100, width: 240, height: 240 } },
  ],
});

test('a blank document is a white 1200×630 canvas', () => {
  assert.deepEqual(d.blankDocument(), { canvas: { width: 1200, height: 630, background: '#ffffff' }, fields: {}, layers: [] });
});

test('paths: build, read, write without touching the original', () => {
  const doc = webinar();
  assert.equal(d.jsonPath(['layers', 2, 'box', 'width']), '$.layers[2].box.width');
  assert.equal(d.getIn(doc, ['layers', 1, 'size']), 40);
  const out = d.setIn(doc, ['layers', 1, 'size'], 50);
  assert.equal(out.layers[1].size, 50);
  assert.equal(doc.layers[1].size, 40);
  assert.equal('min_size' in d.setIn(doc, ['layers', 1, 'min_size'], undefined).layers[1], false);
});

test('server error paths point at controls', () => {
  const doc = webinar();
  const said = "invalid template: $.layers[0].text: merge tag names undeclared field 'x'";
  assert.equal(d.pathIn(said), '$.layers[0].text');
  assert.equal(d.reasonAfterPath(said, '$.layers[0].text'), "merge tag names undeclared field 'x'");
  assert.equal(d.pathIn('$: missing field `canvas`'), '$');
  assert.equal(d.pathIn('$.canvas.width: must be 1 to 8192 pixels'), '$.canvas.width');
  assert.equal(d.pathIn('draft is locked'), null);
  assert.equal(d.reasonAfterPath('draft is locked', null), 'draft is locked');
  assert.deepEqual(d.errorTarget('$.layers[2].box.width', doc), { scope: 'layer', index: 2, key: 'box.width' });
  assert.deepEqual(d.errorTarget('$.layers[0]', doc), { scope: 'layer', index: 0, key: null });
  assert.deepEqual(d.errorTarget('$.fields.host.photo.default', doc), { scope: 'field', name: 'host.photo', key: 'default' });
  assert.deepEqual(d.errorTarget('$.fields.first_name', doc), { scope: 'field', name: 'first_name', key: null });
  assert.deepEqual(d.errorTarget('$.canvas.base.identifier', doc), { scope: 'canvas', key: 'base.identifier' });
  assert.deepEqual(d.errorTarget('$', doc), { scope: 'document' });
  const shown = ['$.canvas.background', '$.layers[1].size', '$.layers[1].min_size', '$.layers[1].box.x'];
  assert.equal(d.closestControl('$.layers[1].size', shown), '$.layers[1].size');
  assert.equal(d.closestControl('$.layers[1].box.x.deep', shown), '$.layers[1].box.x');
  assert.equal(d.closestControl('$.canvas', shown), '$.canvas.background');
  assert.equal(d.closestControl('$.layers[1]', shown), '$.layers[1].size');
  assert.equal(d.closestControl('$.layers[11].size', shown), null);
});

test('boxes: percent kept until that side changes', () => {
  const doc = webinar();
  assert.deepEqual(d.layerRect(doc, doc.layers[0]), { x: 0, y: 0, width: 1200, height: 315 });
  const down = d.setLayerRect(doc, 0, { x: 0, y: 10, width: 1200, height: 315 });
  assert.deepEqual(down.layers[0].box, { x: 0, y: 10, width: '100%', height: '50%' });
  const narrower = d.setLayerRect(doc, 0, { x: 0, y: 0, width: 600.4, height: 315 });
  assert.deepEqual(narrower.layers[0].box, { x: 0, y: 0, width: 600, height: '50%' });
  assert.equal(d.toPx(' 12.5 %', 1200), 150);
  assert.ok(Number.isNaN(d.toPx('wide', 1200)));
});

test('drag, resize, snap and nudge', () => {
  assert.deepEqual(d.moveRect({ x: 5, y: 5, width: 10, height: 10 }, -3, 4), { x: 0, y: 4, width: 10, height: 10 });
  const r = { x: 100, y: 100, width: 200, height: 100 };
  assert.deepEqual(d.resizeRect(r, 'se', 50, 20), { x: 100, y: 100, width: 250, height: 120 });
  assert.deepEqual(d.resizeRect(r, 'w', 300, 0), { x: 299, y: 100, width: 1, height: 100 });
  assert.deepEqual(d.resizeRect(r, 'nw', -200, -10), { x: 0, y: 90, width: 300, height: 110 });
  assert.deepEqual(d.resizeRect(r, 'se', 200, 0, { keepRatio: true }), { x: 100, y: 100, width: 400, height: 200 });

  const canvas = { width: 1200, height: 630 };
  // The centre (597 + 3) snaps to the vertical centre line; y stays.
  const moved = d.snapRect({ x: 497, y: 200, width: 200, height: 100 }, canvas, 5);
  assert.deepEqual(moved.rect, { x: 500, y: 200, width: 200, height: 100 });
  assert.deepEqual(moved.guides, [{ axis: 'x', at: 600 }]);
  const corner = d.snapRect({ x: 3, y: 528, width: 200, height: 100 }, canvas, 5);
  assert.deepEqual(corner.rect, { x: 0, y: 530, width: 200, height: 100 });
  assert.equal(corner.guides.length, 2);
  const far = d.snapRect({ x: 50, y: 50, width: 200, height: 100 }, canvas, 5);
  assert.deepEqual(far.guides, []);
  const edge = d.snapRect({ x: 1000, y: 10, width: 197, height: 50 }, canvas, 5, 'e');
  assert.deepEqual(edge.rect, { x: 1000, y: 10, width: 200, height: 50 });

  assert.deepEqual(d.nudge(r, 'ArrowRight'), { ...r, x: 101 });
  assert.deepEqual(d.nudge(r, 'ArrowUp', { shift: true }), { ...r, y: 90 });
  assert.deepEqual(d.nudge(r, 'ArrowLeft', { alt: true }), { ...r, width: 199 });
  assert.deepEqual(d.nudge(r, 'ArrowDown', { alt: true, shift: true }), { ...r, height: 110 });
  assert.equal(d.nudge(r, 'Enter'), null);
});

test('layers: add, duplicate, delete, reorder, hide, rename', () => {
  let doc = d.blankDocument();
  const t = d.newLayer('text', doc);
  assert.equal(t.box.x + t.box.width / 2, 600);
  ({ doc } = d.addLayer(doc, t));
  ({ doc } = d.addLayer(doc, d.newLayer('image', doc, { picture: 'coffee' })));
  assert.equal(doc.layers[1].default, 'coffee');
  ({ doc } = d.addLayer(doc, d.newLayer('shape', doc)));
  assert.deepEqual(doc.layers.map((l) => l.type), ['text', 'image', 'shape']);
  let index;
  ({ doc, index } = d.moveLayer(doc, 2, -2));
  assert.equal(index, 0);
  assert.deepEqual(doc.layers.map((l) => l.type), ['shape', 'text', 'image']);
  ({ index } = d.moveLayer(doc, 2, 1));
  assert.equal(index, 2);
  doc = d.setIn(doc, ['layers', 1, 'name'], 'Headline');
  assert.equal(d.layerLabel(doc.layers[1]), 'Headline');
  assert.equal(d.layerLabel(doc.layers[2]), 'Picture');
  const dup = d.duplicateLayer(doc, 1);
  assert.equal(dup.doc.layers[2].name, 'Headline copy');
  assert.equal(dup.doc.layers[2].box.x, doc.layers[1].box.x + 20);
  doc = d.setHidden(doc, 0, true);
  assert.equal(doc.layers[0].hidden, true);
  assert.equal('hidden' in d.setHidden(doc, 0, false).layers[0], false);
  assert.equal(d.deleteLayer(doc, 0).layers.length, 2);
});

test('merge tags parse like the server, and fields rename everywhere', () => {
  const { tags, error } = d.parseTags('Hi {{ first_name | default: "say \\"hi\\"" }} and {{x}}');
  assert.equal(error, null);
  assert.deepEqual(tags.map((t) => [t.field, t.default]), [['first_name', 'say "hi"'], ['x', null]]);
  for (const [bad, at] of [['{{ }}', 3], ['Hi {{ name', 10], ['{{ name | upper }}', 10], ['{{ name | default: there }}', 19]]) {
    assert.equal(d.parseTags(bad).error.at, at, bad);
  }
  assert.equal(d.mergeTag('first_name'), '{{ first_name }}');
  assert.equal(d.mergeTag('first_name', 'the "best"'), '{{ first_name | default: "the \\"best\\"" }}');
  assert.deepEqual(d.insertAt('Hi !', 3, 3, '{{ a }}'), { value: 'Hi {{ a }}!', caret: 10 });
  const doc = webinar();
  assert.deepEqual(d.fieldUses(doc, 'first_name'), [1]);
  const renamed = d.renameField(doc, 'first_name', 'given');
  assert.deepEqual(Object.keys(renamed.fields), ['given', 'host.photo']);
  assert.equal(renamed.layers[1].text, 'Hi {{ given }}, {{given | default: "a \\"b\\""}}!');
  assert.equal(d.renameField(doc, 'host.photo', 'rep').layers[2].source, '{{ rep }}');
  assert.ok(d.validFieldName('first_name') && d.validFieldName('a.b-c') && !d.validFieldName('a b') && !d.validFieldName(''));
  assert.deepEqual(Object.keys(d.deleteField(doc, 'first_name').fields), ['host.photo']);
});

test('recipients: sample, empty, longest', () => {
  const doc = webinar();
  assert.deepEqual(d.sampleValues(doc), { first_name: 'Ana' });
  assert.deepEqual(d.sampleValues(doc, { first_name: '' }), {});
  const longest = d.longestValues(doc);
  assert.equal(longest.first_name.length, 10);
  assert.equal(longest.first_name, 'WWWWWWW WW');
  assert.ok(!('host.photo' in longest));
  assert.equal(d.longestValue({ max_length: 8 }), 'WWWWWWWW');
  assert.equal(d.longestValue({}).length, 64);
  assert.equal(d.longestValue({ max_length: 1000 }).length, 256);
  assert.equal(d.longestValue({ kind: 'number', max_length: 3 }), '999');
  const url = d.previewUrl('http://h/iiif/3', 'emea.card', { first_name: 'Ana Lima' }, { width: 2000, height: 300, counter: 3, canvas: doc.canvas });
  assert.equal(url, 'http://h/iiif/3/tpl~emea.card~draft/full/!1200,300/0/default.png?first_name=Ana%20Lima&_=3');
  assert.deepEqual(d.parseFallbacks('first_name=missing, company=too-long'), [
    { field: 'first_name', reason: 'missing' }, { field: 'company', reason: 'too-long' }]);
  assert.deepEqual(d.parseFallbacks(null), []);
  assert.match(d.explainFallback('too-long'), /max length/);
});

test('colours split for <input type=color> and join back', () => {
  assert.deepEqual(d.splitColor('#fff'), { rgb: '#ffffff', alpha: 255 });
  assert.deepEqual(d.splitColor('#0B1F3A80'), { rgb: '#0b1f3a', alpha: 128 });
  assert.equal(d.splitColor('white'), null);
  assert.equal(d.joinColor('#0b1f3a', 128), '#0b1f3a80');
  assert.equal(d.joinColor('#0B1F3A'), '#0b1f3a');
});

test('undo history coalesces one control\'s typing', () => {
  const h = d.createHistory();
  d.record(h, 'a', { key: 'text', now: 0 });
  d.record(h, 'b', { key: 'text', now: 500 });
  d.record(h, 'c', { key: 'size', now: 600 });
  assert.deepEqual(h.past, ['a', 'c']);
  assert.equal(d.undo(h, 'd'), 'c');
  assert.equal(d.undo(h, 'c'), 'a');
  assert.equal(d.undo(h, 'a'), null);
  assert.equal(d.redo(h, 'a'), 'c');
  d.record(h, 'c', { now: 700 });
  assert.deepEqual(h.future, []);
});
