// Studio's shell: who is signed in, which project is chosen, and which screen the address
// (#/…) names. Screens are modules under screens/ exporting
//   render(root, ctx, params) → optional cleanup function
// and the shell gives them `ctx` (below). Navigation shows only what the caller's role
// allows; the server refuses the rest anyway.

import { api, setCsrf, whenSignedOut, ApiError } from './lib/api.js';
import { h, fill, toast } from './lib/dom.js';

const routes = [
  [/^#\/login$/, 'login'],
  [/^#\/templates$/, 'templates'],
  [/^#\/templates\/([^/]+)\/edit$/, 'editor'],
  [/^#\/templates\/([^/]+)\/versions$/, 'versions'],
  [/^#\/templates\/([^/]+)\/use$/, 'use'],
  [/^#\/assets$/, 'assets'],
  [/^#\/usage$/, 'usage'],
  [/^#\/team$/, 'team'],
];

const nav = [
  ['#/templates', 'Templates', 'view'],
  ['#/assets', 'Assets', 'view'],
  ['#/usage', 'Usage', 'read_usage'],
  ['#/team', 'Team', null],
];

const PROJECT_KEY = 'tessera.project';

const ctx = {
  session: null,
  projects: [],
  project: 'default',
  // The IIIF base as the world sees it (server.base_url): for URLs people copy.
  iiif: `${location.origin}/iiif/3`,
  // The same service on this origin: for images shown inside Studio (the CSP allows only this
  // origin, and the session cookie reaches only it).
  here: `${location.origin}/iiif/3`,
  api,
  toast,
  // Whether the signed-in principal has a capability in a project (the chosen one by default).
  can(capability, project = ctx.project) {
    const s = ctx.session;
    if (!s) return false;
    if (s.all_projects) return true;
    return (s.capabilities?.[project] || []).includes(capability);
  },
  go(hash) {
    if (location.hash === hash) show(true);
    else location.hash = hash;
  },
  // `name` in the default project, `project.name` elsewhere (as the API and URLs name it).
  qualified(name, project = ctx.project) {
    return project === 'default' ? name : `${project}.${name}`;
  },
  // A screen with unsaved work sets this to a function returning a warning (or null).
  leaving: null,
};

let cleanup = null;
let current = '';
// Counts navigations: a screen still loading when the next one starts must not draw.
let shown = 0;

async function loadSession() {
  try {
    const s = await api.get('/auth/session');
    ctx.session = s.signed_in ? s : null;
  } catch (e) {
    if (e instanceof ApiError && (e.status === 401 || e.status === 403)) ctx.session = null;
    else throw e;
  }
  setCsrf(ctx.session?.csrf_token || null);
  if (ctx.session?.iiif) {
    ctx.iiif = ctx.session.iiif;
    ctx.here = `${location.origin}${new URL(ctx.iiif, location.href).pathname.replace(/\/$/, '')}`;
  }
  if (ctx.session) {
    ctx.projects = (await api.get('/admin/projects')).projects;
    const saved = localStorage.getItem(PROJECT_KEY);
    const ids = ctx.projects.map((p) => p.id);
    ctx.project = ids.includes(saved) ? saved : (ids.includes('default') ? 'default' : ids[0] || 'default');
  }
  drawHeader();
}

function drawHeader() {
  const top = document.getElementById('top');
  top.hidden = !ctx.session;
  if (!ctx.session) return;
  document.getElementById('me-name').textContent = ctx.session.name;
  const pick = document.getElementById('project');
  fill(pick, ...ctx.projects.map((p) =>
    h('option', { value: p.id, selected: p.id === ctx.project }, p.name && p.name !== p.id ? `${p.name} (${p.id})` : p.id)));
  pick.onchange = () => {
    // Asked before the project changes, so cancelling leaves everything as it was.
    const warning = ctx.leaving && ctx.leaving();
    if (warning && !window.confirm(warning)) {
      pick.value = ctx.project;
      return;
    }
    ctx.leaving = null;
    ctx.project = pick.value;
    localStorage.setItem(PROJECT_KEY, ctx.project);
    drawHeader();
    ctx.go(location.hash.startsWith('#/templates/') ? '#/templates' : location.hash);
  };
  const links = nav
    .filter(([, , cap]) => cap === null
      ? ['manage_members', 'read_audit', 'settings', 'make_urls'].some((c) => ctx.can(c))
      : ctx.can(cap))
    .map(([href, label]) => h('a', {
      href,
      'aria-current': location.hash.startsWith(href) ? 'page' : null,
    }, label));
  fill(document.getElementById('nav'), ...links);
}

async function show(force = false) {
  const hash = location.hash || '#/templates';
  if (hash === current && !force) return;
  if (ctx.leaving && hash !== current) {
    const warning = ctx.leaving();
    if (warning && !window.confirm(warning)) {
      history.replaceState(null, '', current);
      return;
    }
  }
  ctx.leaving = null;
  if (cleanup) { try { cleanup(); } catch { /* a screen's cleanup must not block the next */ } }
  cleanup = null;
  current = hash;
  const mine = ++shown;
  let name = 'templates';
  let params = [];
  for (const [re, screen] of routes) {
    const m = re.exec(hash);
    if (!m) continue;
    name = screen;
    try { params = m.slice(1).map(decodeURIComponent); } catch { name = 'templates'; }
    break;
  }
  if (!ctx.session && name !== 'login') {
    sessionStorage.setItem('tessera.after', hash);
    location.replace('#/login');
    return;
  }
  if (ctx.session && name === 'login') {
    location.replace('#/templates');
    return;
  }
  drawHeader();
  const root = document.getElementById('view');
  fill(root, h('p', { class: 'loading' }, 'Loading…'));
  // Each screen draws into its own container: a later navigation replaces it, so a screen
  // still loading then draws into a detached one, and is cleaned up as soon as it is done.
  const own = h('div', { class: 'screen' });
  try {
    const mod = await import(`./screens/${name}.js`);
    if (mine !== shown) return;
    root.replaceChildren(own);
    const done = (await mod.render(own, ctx, params)) || null;
    if (mine !== shown) {
      if (done) done();
      return;
    }
    cleanup = done;
    const heading = own.querySelector('h1');
    document.title = heading ? `${heading.textContent} · Tessera Studio` : 'Tessera Studio';
  } catch (e) {
    if (mine !== shown) return;
    fill(root, h('div', { class: 'problem', role: 'alert' },
      h('h1', {}, e.status === 403 ? 'Not allowed' : e.status === 404 ? 'Not found' : 'Something went wrong'),
      h('p', {}, e.message)));
  }
}

// Reloads who is signed in and the projects (after a project is made, a role changes…).
ctx.refresh = async () => {
  await loadSession();
};

ctx.signedIn = async () => {
  await loadSession();
  const after = sessionStorage.getItem('tessera.after');
  sessionStorage.removeItem('tessera.after');
  ctx.go(after && after !== '#/login' ? after : '#/templates');
};

whenSignedOut(() => {
  if (!ctx.session) return;
  ctx.session = null;
  drawHeader();
  toast('Your session ended; please sign in again', 'error');
  location.hash = '#/login';
});

document.getElementById('sign-out').addEventListener('click', async () => {
  if (ctx.leaving) {
    const warning = ctx.leaving();
    if (warning && !window.confirm(warning)) return;
    ctx.leaving = null;
  }
  try { await api.post('/auth/logout'); } catch { /* signed out either way */ }
  ctx.session = null;
  setCsrf(null);
  drawHeader();
  location.hash = '#/login';
});

window.addEventListener('beforeunload', (e) => {
  if (ctx.leaving && ctx.leaving()) { e.preventDefault(); e.returnValue = ''; }
});
window.addEventListener('hashchange', () => show());

loadSession().then(() => show(true), (e) => {
  fill(document.getElementById('view'), h('p', { role: 'alert' }, `Studio could not start: ${e.message}`));
});
