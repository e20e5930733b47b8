// The journey of issue 12 in a real browser, against the real binary:
// an owner makes a designer and a publisher in the Team screen; the designer builds a template
// from blank and submits it; the publisher approves it; the Mailchimp tag copied from "Use it"
// renders for Ana and falls back for an empty name; a viewer can change nothing. Around it:
// every screen without console errors or failed requests, the upload → deep-zoom path, and
// the security headers of the Studio.
// Run it with .ci/browser (which builds the server and installs what is missing); README.md
// beside this file says more.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  REPO, settings, startServer, launchBrowser, openAs, settled, step, check, elapsed,
  prepareScreenshots, snapshot, StepFailure,
} from './harness.mjs';

const people = {
  owner: { email: 'owner@example.org', name: 'Owner', role: 'owner', password: 'owner passphrase 1' },
  designer: { email: 'dana@example.org', name: 'Dana Designer', role: 'designer', password: 'designer passphrase 1' },
  publisher: { email: 'pat@example.org', name: 'Pat Publisher', role: 'publisher', password: 'publisher passphrase 1' },
  viewer: { email: 'vic@example.org', name: 'Vic Viewer', role: 'viewer', password: 'viewer passphrase 1' },
};
const TEMPLATE = 'welcome';
const MERGE_TEXT = '{{ first_name | default: "there" }}';
const PREVIEWS = ['Sample recipient preview', 'Empty recipient preview', 'Longest recipient preview'];
const UPLOAD = 'journey-coffee.jpg';


// ---------------------------------------------------------------------------------------------
// Helpers

async function signIn(page, person) {
  await page.goto('/studio/');
  await page.getByRole('heading', { name: 'Sign in to Tessera Studio' }).waitFor();
  await page.getByLabel('Email').fill(person.email);
  await page.getByLabel('Password').fill(person.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { level: 1, name: 'Templates' }).waitFor();
  // The header names who is signed in (by name or email).
  const who = [person.name, person.email].map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|');
  await page.getByRole('banner').getByText(new RegExp(`^(${who})$`)).waitFor();
  await settled(page);
}

// Goes to a Studio address (reloading when the browser is already there, so the screen is
// drawn afresh) and waits until its screen has loaded everything it asks for; `ready` waits
// for what the screen must show.
async function visit(page, hash, heading, ready = async () => {}) {
  const url = new URL(`/studio/${hash}`, page.url()).href;
  if (page.url() === url) await page.reload();
  else await page.goto(url);
  await page.getByRole('heading', { level: 1, name: heading, exact: true }).waitFor();
  await ready();
  await settled(page);
  // Values that slipped through as text: a screen must never print these.
  const text = await page.locator('main').innerText();
  const slip = /\[object \w+\]|\bundefined\b|\bNaN\b/.exec(text);
  check(!slip, `the ${hash} screen shows "${slip?.[0]}"`);
}

// A promise the step awaits later: if the step fails before that, its rejection (the page
// closing) must not end the run as an unhandled one.
const awaited = (promise) => { promise.catch(() => {}); return promise; };

// A draft save: the editor PUTs the whole document a moment after each edit.
const isSave = (res) => res.request().method() === 'PUT'
  && new URL(res.url()).pathname === `/admin/templates/${TEMPLATE}`;
const savedDoc = (res) => res.request().postDataJSON();

// Waits for the save that `action` causes (the one whose document `when` accepts), then for
// the three previews rendered from it.
async function editAndRender(page, action, when = () => true) {
  const saved = awaited(page.waitForResponse((r) => isSave(r) && r.ok() && when(savedDoc(r))));
  await action();
  const res = await saved;
  await settled(page);
  await previewsReady(page);
  return savedDoc(res);
}

async function previewsReady(page) {
  await page.waitForFunction((names) => !document.querySelector('.ed-shot.loading') && names.every((n) => {
    const img = [...document.querySelectorAll('img')].find((i) => i.alt === n);
    return img && !img.hidden && img.complete && img.naturalWidth > 0;
  }), PREVIEWS);
}

// What each preview shows: its src and a hash of its pixels (the previews are blob: URLs of
// renders fetched by the page, so the pixels are what tells one render from another).
function previewPixels(page) {
  return page.evaluate((names) => names.map((name) => {
    const img = [...document.querySelectorAll('img')].find((i) => i.alt === name);
    if (!img || img.hidden || !img.complete || !img.naturalWidth) return { name, src: img?.src || null, hash: null };
    const c = document.createElement('canvas');
    c.width = img.naturalWidth;
    c.height = img.naturalHeight;
    const g = c.getContext('2d');
    g.drawImage(img, 0, 0);
    const d = g.getImageData(0, 0, c.width, c.height).data;
    let hash = 2166136261;
    for (let i = 0; i < d.length; i += 1) { hash ^= d[i]; hash = Math.imul(hash, 16777619); }
    return { name, src: img.src, hash: `${c.width}x${c.height}:${(hash >>> 0).toString(16)}` };
  }), PREVIEWS);
}

function checkAllChanged(before, after, what) {
  for (let i = 0; i < after.length; i += 1) {
    check(after[i].hash, `${after[i].name} shows nothing after ${what}`);
    check(after[i].src !== before[i].src, `${after[i].name} was not refreshed after ${what}`);
    check(after[i].hash !== before[i].hash, `${after[i].name} looks the same after ${what}`);
  }
}

// Drags with the mouse from a point by (dx, dy) screen pixels, in small steps like a hand.
async function drag(page, from, dx, dy) {
  await page.mouse.move(from.x, from.y);
  await page.mouse.down();
  await page.mouse.move(from.x + dx, from.y + dy, { steps: 10 });
  await page.mouse.up();
}

const near = (a, b, tolerance = 8) => Math.abs(a - b) <= tolerance;

// ---------------------------------------------------------------------------------------------

async function main() {
  const shots = prepareScreenshots();
  const server = await startServer([people.owner, people.viewer]);
  console.log(`studio browser journey: tessera at ${server.url} (${settings.bin}), browser ${settings.chromium}`);
  console.log(`  screenshots: ${shots}/`);
  let browser = null;
  try {
    browser = await launchBrowser();
    await journey(browser, server.url);
    console.log(`studio browser journey: all steps passed in ${elapsed()} s; screenshots in ${shots}/`);
  } catch (e) {
    if (e instanceof StepFailure) console.log(e.message);
    else console.log(`studio browser journey: ${e.stack || e}`);
    console.log(`  server log (last lines):\n${server.logTail(15).replace(/^/gm, '    ')}`);
    console.log(`studio browser journey: FAILED after ${elapsed()} s; screenshots in ${shots}/`);
    process.exitCode = 1;
  } finally {
    if (browser) await browser.close().catch(() => {});
    await server.stop().catch(() => {});
  }
}

async function journey(browser, base) {
  // ----- The front door ----------------------------------------------------------------------
  const guest = await openAs(browser, base, 'guest');
  await step('the root page names the server and links the Studio', guest, async () => {
    const res = await guest.goto('/');
    check(res.status() === 200, `GET / answered ${res.status()}`);
    check(/tessera/i.test(await guest.locator('body').innerText()), 'the root page does not name Tessera');
    const link = guest.getByRole('link', { name: /studio/i }).first();
    const href = await link.getAttribute('href');
    check(new URL(href, base).pathname === '/studio/', `the Studio link points to ${href}, not /studio/`);
    await link.click();
    await guest.getByRole('heading', { name: 'Sign in to Tessera Studio' }).waitFor();
    await settled(guest);
  });

  await step('/studio/ has a strict CSP and the security headers; every icon exists', guest, async () => {
    const res = await fetch(`${base}/studio/`);
    check(res.status === 200, `GET /studio/ answered ${res.status}`);
    const csp = res.headers.get('content-security-policy') || '';
    check(csp, 'no Content-Security-Policy header');
    check(!/unsafe-inline|unsafe-eval/.test(csp), `the CSP allows unsafe code: ${csp}`);
    check(/frame-ancestors\s+'none'/.test(csp), `the CSP lacks frame-ancestors 'none': ${csp}`);
    const scripts = /script-src\s+([^;]+)/.exec(csp)?.[1] ?? /default-src\s+([^;]+)/.exec(csp)?.[1];
    check(scripts && scripts.trim() === "'self'", `scripts may come from more than 'self': ${csp}`);
    check(res.headers.get('x-content-type-options') === 'nosniff', 'no X-Content-Type-Options: nosniff');
    check(res.headers.get('referrer-policy'), 'no Referrer-Policy header');
    // Chromium fetches icons outside the page's own network events, so a missing one would
    // go unseen: each one a page names must exist (or /favicon.ico, when none is named).
    for (const path of ['/', '/studio/']) {
      const html = await (await fetch(`${base}${path}`)).text();
      const icons = [...html.matchAll(/<link\b[^>]*\brel="[^"]*icon[^"]*"[^>]*>/g)]
        .map((m) => /\bhref="([^"]+)"/.exec(m[0])?.[1]).filter(Boolean);
      for (const icon of icons.length ? icons : ['/favicon.ico']) {
        const r = await fetch(new URL(icon, `${base}${path}`));
        check(r.status === 200, `${path} names the icon ${icon}, which answers ${r.status}`);
      }
    }
  });
  await guest.context().close();

  // ----- The owner makes the team --------------------------------------------------------------
  const owner = await openAs(browser, base, 'owner');
  await step('the owner signs in', owner, () => signIn(owner, people.owner));

  await step('the owner turns on four eyes for the project in the Team screen', owner, async () => {
    await visit(owner, '#/team', 'Team');
    const settingsForm = owner.getByRole('form', { name: 'Settings of default' });
    await settingsForm.getByRole('checkbox', { name: /four eyes/i }).check();
    const saved = awaited(owner.waitForResponse((r) => r.request().method() === 'PATCH'
      && new URL(r.url()).pathname === '/admin/projects/default'));
    await settingsForm.getByRole('button', { name: 'Save settings' }).click();
    const res = await saved;
    check(res.ok() && (await res.json()).four_eyes === true, `PATCH /admin/projects/default answered ${res.status()}`);
  });

  for (const who of ['designer', 'publisher']) {
    const p = people[who];
    await step(`the owner creates ${p.name} as ${who} in the Team screen`, owner, async () => {
      const form = owner.getByRole('form', { name: 'Create a user' });
      await form.getByLabel('Name', { exact: true }).fill(p.name);
      await form.getByLabel('Email', { exact: true }).fill(p.email);
      await form.getByLabel('Password', { exact: true }).fill(p.password);
      await form.getByLabel('Role in default').selectOption(who);
      const member = awaited(owner.waitForResponse((r) => r.request().method() === 'PUT' && /\/admin\/projects\/default\/members\//.test(r.url())));
      await form.getByRole('button', { name: 'Create user' }).click();
      const res = await member;
      check(res.ok(), `giving the role answered ${res.status()}`);
      await owner.getByRole('cell', { name: p.email, exact: true }).first().waitFor();
      await settled(owner);
    });
  }

  // ----- The designer builds a template ----------------------------------------------------------
  const designer = await openAs(browser, base, 'designer');
  await step('the designer signs in', designer, () => signIn(designer, people.designer));

  await step('the designer creates a template from blank', designer, async () => {
    await designer.getByRole('button', { name: 'New template' }).click();
    const dialog = designer.getByRole('dialog', { name: 'New template' });
    await dialog.getByLabel('Template name').fill(TEMPLATE);
    await dialog.getByRole('button', { name: 'Create' }).click();
    await designer.waitForURL(new RegExp(`#/templates/${TEMPLATE}/edit$`));
    await designer.getByRole('heading', { level: 1, name: TEMPLATE, exact: true }).waitFor();
    await designer.getByRole('button', { name: 'Add text' }).waitFor();
    await designer.getByText('No layers yet').waitFor();
    await settled(designer);
  });

  await step('the designer adds a text layer holding the first_name merge tag', designer, async () => {
    await editAndRender(designer, () => designer.getByRole('button', { name: 'Add text' }).click(),
      (doc) => doc.layers?.length === 1);
    const before = await previewPixels(designer);
    // The text becomes the merge tag, made with the editor's menu: the new field is declared
    // (open, so email platforms may fill it) and its tag replaces the selected text.
    const text = designer.getByRole('textbox', { name: 'Text', exact: true });
    await text.selectText();
    await designer.getByText('Insert merge tag', { exact: true }).click();
    await designer.getByLabel('Default if empty (optional)').fill('there');
    await designer.getByLabel('New field', { exact: true }).fill('first_name');
    const doc = await editAndRender(designer, () => designer.getByRole('button', { name: 'Add and insert' }).click(),
      (d) => d.layers?.[0]?.text === MERGE_TEXT);
    check(await text.inputValue() === MERGE_TEXT, `the text holds ${await text.inputValue()}`);
    check(doc.fields?.first_name?.open === true, `first_name is not an open field: ${JSON.stringify(doc.fields)}`);
    checkAllChanged(before, await previewPixels(designer), 'the merge tag');
  });

  await step('the designer adds a picture layer', designer, async () => {
    const before = await previewPixels(designer);
    await editAndRender(designer, () => designer.getByRole('button', { name: 'Add picture' }).click(),
      (doc) => doc.layers?.length === 2 && doc.layers[1].type === 'image');
    await designer.getByRole('button', { name: 'Layer: Picture', exact: true }).waitFor();
    checkAllChanged(before, await previewPixels(designer), 'adding a picture');
  });

  await step('the designer drags and resizes the text box; the three previews change', designer, async () => {
    const start = (await (await designer.request.get(`/admin/templates/${TEMPLATE}/draft`)).json()).document.layers[0].box;
    const before = await previewPixels(designer);
    const box = designer.getByRole('button', { name: 'Layer: Text', exact: true });
    await box.scrollIntoViewIfNeeded();
    const b = await box.boundingBox();
    check(b, 'the text layer has no box on the canvas');
    // Grab it near its left end (the picture sits over its middle) and move it down, below the
    // picture.
    const saved = awaited(designer.waitForResponse((r) => isSave(r) && r.ok() && (() => {
      const t = savedDoc(r).layers[0].box;
      return t.x > start.x && t.width > start.width;
    })()));
    await drag(designer, { x: b.x + b.width * 0.12, y: b.y + b.height / 2 }, 40, 90);
    const moved = await box.boundingBox();
    check(near(moved.x - b.x, 40) && near(moved.y - b.y, 90),
      `the box did not follow the mouse: moved by ${moved.x - b.x}, ${moved.y - b.y} instead of 40, 90`);
    const handle = box.locator('.ed-handle.se');
    const hb = await handle.boundingBox();
    check(hb, 'the selected text box has no resize handle');
    await drag(designer, { x: hb.x + hb.width / 2, y: hb.y + hb.height / 2 }, 60, 10);
    const resized = await box.boundingBox();
    check(near(resized.width - moved.width, 60) && near(resized.height - moved.height, 10),
      `the box did not follow the handle: ${moved.width}×${moved.height} → ${resized.width}×${resized.height}`);
    const doc = savedDoc(await saved);
    await settled(designer);
    await previewsReady(designer);
    const end = doc.layers[0].box;
    check(end.y > start.y && end.height > start.height, `the saved box ${JSON.stringify(end)} did not move and grow from ${JSON.stringify(start)}`);
    checkAllChanged(before, await previewPixels(designer), 'the drag and resize');
  });

  await step('the designer sees the error the server reports on its control, and fixes it', designer, async () => {
    await designer.getByRole('button', { name: 'Layer: Picture', exact: true }).click();
    const picture = designer.getByLabel('Default picture', { exact: true });
    const good = await picture.inputValue();
    const refused = awaited(designer.waitForResponse((r) => isSave(r) && r.status() === 422));
    await picture.fill('no-such-picture.png');
    const reason = (await (await refused).text()).trim();
    await designer.waitForFunction((el) => el.getAttribute('aria-invalid') === 'true', await picture.elementHandle());
    const shown = await picture.evaluate((el) => document.getElementById(el.getAttribute('aria-describedby'))?.textContent || '');
    check(shown.length > 3 && reason.includes(shown.slice(0, 20)),
      `the control shows "${shown}", not the server's reason "${reason}"`);
    const banner = designer.getByRole('alert').filter({ hasText: 'The server did not save this change' });
    await banner.waitFor();
    await snapshot(designer, 'refused');
    // Back to the picture the server holds: nothing new to save, and no refusal left on screen.
    await picture.fill(good);
    await designer.waitForFunction((el) => el.getAttribute('aria-invalid') !== 'true', await picture.elementHandle());
    await banner.waitFor({ state: 'hidden' });
    await designer.getByRole('status').filter({ hasText: /^Saved/ }).waitFor();
    await settled(designer);
  }, { allow: [{ status: 422, method: 'PUT', url: new RegExp(`/admin/templates/${TEMPLATE}$`) }] });

  await step('the designer submits the draft for review', designer, async () => {
    await designer.getByRole('link', { name: 'Versions & review' }).click();
    await designer.getByRole('heading', { level: 1, name: `${TEMPLATE}: versions & review` }).waitFor();
    await settled(designer);
    const submitted = awaited(designer.waitForResponse((r) => new URL(r.url()).pathname === `/admin/templates/${TEMPLATE}/submit`));
    await designer.getByRole('button', { name: 'Submit for review' }).click();
    check((await submitted).ok(), `submit answered ${(await submitted).status()}`);
    await designer.getByRole('cell', { name: 'Submitted for review' }).waitFor();
    await designer.getByText('In review', { exact: true }).first().waitFor();
    await settled(designer);
  });

  // ----- The publisher approves ----------------------------------------------------------------------
  const publisher = await openAs(browser, base, 'publisher', { clipboard: true });
  await step('the publisher signs in', publisher, () => signIn(publisher, people.publisher));

  await step('the publisher approves the draft (four eyes): version 1', publisher, async () => {
    await visit(publisher, `#/templates/${TEMPLATE}/versions`, `${TEMPLATE}: versions & review`);
    await publisher.getByText(/This project uses four eyes/).waitFor();
    check(!(await publisher.getByRole('button', { name: 'Publish now' }).count()), 'four eyes is on, yet "Publish now" is offered');
    const approved = awaited(publisher.waitForResponse((r) => new URL(r.url()).pathname === `/admin/templates/${TEMPLATE}/approve`));
    await publisher.getByRole('button', { name: 'Approve and publish' }).click();
    const res = await approved;
    check(res.ok() && (await res.json()).version === 1, `approve answered ${res.status()}`);
    await publisher.getByText('Published v1', { exact: true }).first().waitFor();
    await settled(publisher);
  });

  // ----- Use it: the Mailchimp tag --------------------------------------------------------------
  await step('the copied Mailchimp tag renders for Ana, and as the fallback for an empty name', publisher, async () => {
    await visit(publisher, `#/templates/${TEMPLATE}/use`, `Use ${TEMPLATE}`);
    await publisher.getByRole('button', { name: 'Copy Mailchimp tag' }).click();
    await publisher.getByText('Mailchimp tag copied to the clipboard').waitFor();
    const tag = await publisher.evaluate(() => navigator.clipboard.readText());
    const shown = await publisher.getByLabel('Mailchimp tag', { exact: true }).inputValue();
    check(tag === shown, `the clipboard holds ${tag}, the page shows ${shown}`);
    check(/^<img\s/.test(tag), `the clipboard holds no <img> tag: ${tag.slice(0, 120)}`);
    const src = /\bsrc="([^"]+)"/.exec(tag)?.[1]?.replace(/&amp;/g, '&');
    check(src && /\*\|URL:[A-Z0-9_]+\|\*/.test(src), `the tag's src has no Mailchimp merge tag: ${src}`);
    check(src.startsWith(`${base}/iiif/3/tpl~${TEMPLATE}~1/`), `the tag points elsewhere: ${src}`);
    // As Mailchimp sends it: the merge tag replaced by the recipient's value, URL-encoded.
    const load = async (url) => {
      const r = await fetch(url);
      check(r.status === 200 && /^image\//.test(r.headers.get('content-type') || ''),
        `${url} answered ${r.status} ${r.headers.get('content-type')}`);
      return { bytes: Buffer.from(await r.arrayBuffer()), fallbacks: r.headers.get('x-tessera-fallbacks') };
    };
    const render = (value) => load(src.replace(/\*\|URL:[A-Z0-9_]+\|\*/g, encodeURIComponent(value)));
    const ana = await render('Ana');
    const empty = await render('');
    const defaults = (await load(src.split('?')[0])).bytes;
    check(!ana.fallbacks, `Ana's image fell back: ${ana.fallbacks}`);
    check(/first_name/.test(empty.fallbacks || ''), `the empty value did not fall back (X-Tessera-Fallbacks: ${empty.fallbacks})`);
    check(!ana.bytes.equals(empty.bytes), "Ana's image and the empty value's are the same picture");
    check(empty.bytes.equals(defaults), 'the empty value does not give the all-defaults image');
    // The page's own preview, for the screenshot: Ana beside the all-defaults image.
    await publisher.getByLabel('first_name', { exact: true }).fill('Ana');
    await settled(publisher);
  });

  // ----- Every screen, as the owner ---------------------------------------------------------------
  const screens = [
    ['templates', '#/templates', 'Templates',
      () => owner.getByRole('article', { name: TEMPLATE }).getByText('Published v1').waitFor()],
    ['editor', `#/templates/${TEMPLATE}/edit`, TEMPLATE, async () => {
      await owner.getByRole('button', { name: 'Layer: Text', exact: true }).waitFor();
      await previewsReady(owner);
    }],
    ['versions', `#/templates/${TEMPLATE}/versions`, `${TEMPLATE}: versions & review`,
      () => owner.getByRole('button', { name: 'Open version 1' }).waitFor()],
    ['use', `#/templates/${TEMPLATE}/use`, `Use ${TEMPLATE}`,
      () => owner.getByRole('button', { name: 'Copy Mailchimp tag' }).waitFor()],
    ['assets', '#/assets', 'Assets',
      () => owner.getByRole('list', { name: 'Pictures' }).getByRole('listitem').first().waitFor()],
    ['usage', '#/usage', 'Usage',
      () => owner.getByRole('rowheader', { name: TEMPLATE }).first().waitFor()],
    ['team', '#/team', 'Team', async () => {
      for (const who of ['designer', 'publisher', 'viewer']) {
        await owner.getByRole('cell', { name: people[who].email, exact: true }).first().waitFor();
      }
    }],
  ];
  for (const [name, hash, heading, ready] of screens) {
    await step(`the owner opens the ${name} screen`, owner, () => visit(owner, hash, heading, ready));
  }

  // ----- Upload → deep zoom --------------------------------------------------------------------------
  await step('a picture uploaded on Assets opens in the deep-zoom viewer, tiles and all', designer, async () => {
    await visit(designer, '#/assets', 'Assets');
    const uploaded = awaited(designer.waitForResponse((r) => r.request().method() === 'PUT' && /\/pictures\//.test(r.url())));
    await designer.getByLabel('Upload pictures').setInputFiles({
      name: UPLOAD, mimeType: 'image/jpeg', buffer: readFileSync(join(REPO, 'sample-images', 'coffee.jpg')),
    });
    const res = await uploaded;
    check(res.ok(), `the upload answered ${res.status()}`);
    const { identifier } = await res.json();
    // A tile: the picture's IIIF URL with a region and size OpenSeadragon asked for (not the
    // !240,240 thumbnail of the list).
    const ids = new Set([identifier, encodeURIComponent(identifier)]);
    const isTile = (r) => {
      const m = /\/iiif\/3\/([^/]+)\/([^/]+)\/([^/]+)\/0\/default\.jpg$/.exec(new URL(r.url()).pathname);
      return m && ids.has(m[1]) && !m[3].startsWith('!');
    };
    const tile = awaited(designer.waitForResponse((r) => isTile(r) && r.status() === 200));
    await designer.getByRole('list', { name: 'Just uploaded' }).getByRole('button', { name: identifier }).click();
    const dialog = designer.getByRole('dialog', { name: identifier });
    await dialog.waitFor();
    await tile;
    await settled(designer);
    await dialog.getByLabel('IIIF base URL').waitFor();
  });

  // ----- A viewer --------------------------------------------------------------------------------------
  const viewer = await openAs(browser, base, 'viewer');
  await step('the viewer signs in and sees no edit controls', viewer, async () => {
    await signIn(viewer, people.viewer);
    await viewer.getByRole('article', { name: TEMPLATE }).waitFor();
    check(!(await viewer.getByRole('button', { name: 'New template' }).count()), 'the viewer is offered "New template"');
    check(!(await viewer.getByRole('link', { name: `Edit ${TEMPLATE}` }).count()), `the viewer is offered "Edit ${TEMPLATE}"`);
    await visit(viewer, `#/templates/${TEMPLATE}/versions`, `${TEMPLATE}: versions & review`);
    for (const name of ['Submit for review', 'Approve and publish', 'Reject', 'Publish now', 'Archive']) {
      check(!(await viewer.getByRole('button', { name, exact: true }).count()), `the viewer is offered "${name}"`);
    }
    await snapshot(viewer, 'versions');
    await visit(viewer, `#/templates/${TEMPLATE}/edit`, TEMPLATE);
    await viewer.getByText('Your role may look at this template but not change it.').waitFor();
    for (const name of ['Add text', 'Add picture', 'Add shape', 'Undo', 'Redo', 'Delete', 'Add field', 'Add and insert']) {
      check(!(await viewer.getByRole('button', { name, exact: true }).isVisible()), `the viewer is offered "${name}"`);
    }
    check(!(await viewer.getByText('Insert merge tag', { exact: true }).isVisible()), 'the viewer is offered "Insert merge tag"');
    // Whatever is on screen for the layer is disabled.
    await viewer.getByRole('button', { name: 'Layer: Text', exact: true }).click();
    check(await viewer.getByRole('textbox', { name: 'Text', exact: true }).isDisabled(), 'the viewer can type in the text of a layer');
  });

  await step('the viewer gets 403 calling the admin API directly', viewer, async () => {
    await visit(viewer, '#/templates', 'Templates');
    const answer = await viewer.evaluate(async (name) => {
      const session = await (await fetch('/auth/session')).json();
      const r = await fetch(`/admin/templates/${name}`, {
        method: 'PUT',
        headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': session.csrf_token },
        body: JSON.stringify({ canvas: { width: 10, height: 10, background: '#ffffff' }, layers: [] }),
      });
      return { status: r.status, code: r.headers.get('X-Tessera-Error'), csrf: Boolean(session.csrf_token) };
    }, TEMPLATE);
    check(answer.csrf, 'GET /auth/session gave the viewer no CSRF token');
    check(answer.status === 403, `PUT /admin/templates/${TEMPLATE} as a viewer answered ${answer.status} (${answer.code})`);
  }, { allow: [{ status: 403, method: 'PUT', url: new RegExp(`/admin/templates/${TEMPLATE}$`) }] });
}

main();
