// Team: who may do what. Sections appear by capability in the chosen project —
//   Members (manage_members): roles of users and keys in the project, new users;
//   Users (manage_members in default, as the server asks): disable/enable, reset password;
//   API keys (anyone: one's own keys; every key for managers of default);
//   Projects (settings; ownership in default to create one);
//   Audit log (read_audit), filtered, with CSV and JSON Lines exports.
// Endpoints: src/http/team_admin.rs and src/http/reports.rs.

import { api, query, enc } from '../lib/api.js';
import { h, fill, field, setError, toast, dialog, copy, ago } from '../lib/dom.js';

const ROLES = ['owner', 'admin', 'designer', 'publisher', 'operator', 'viewer'];
const ROLE_HINT = {
  owner: 'everything, including owners and new projects',
  admin: 'everything but ownership',
  designer: 'edit drafts, upload pictures, preview',
  publisher: 'preview, approve and publish',
  operator: 'signed URLs, usage, purges',
  viewer: 'look only',
};
// Roles a role may hand on (a key holds no more than its maker; members likewise): the
// server checks, this only keeps impossible choices out of the menus.
const GRANTABLE = {
  owner: ROLES,
  admin: ROLES.slice(1),
  designer: ['designer', 'viewer'],
  publisher: ['publisher', 'viewer'],
  operator: ['operator', 'viewer'],
  viewer: ['viewer'],
};
const ACTIONS = ['auth', 'auth.login', 'auth.logout', 'auth.refused', 'template', 'template.save', 'template.submit',
  'template.approve', 'template.reject', 'template.publish', 'template.archive', 'template.sign', 'template.seal',
  'picture.upload', 'assets.scan', 'member', 'member.set', 'member.remove', 'user', 'user.create', 'user.update',
  'key', 'key.create', 'key.revoke', 'project', 'project.create', 'project.settings', 'project.rotate_keys',
  'cache', 'cache.purge', 'cache.purge_all', 'token.use'];
const PROJECT_ID = /^[a-z][a-z0-9-]{0,31}$/;
const DAY = 86400;

const when = (t) => (t ? new Date(t * 1000).toISOString().replace('T', ' ').slice(0, 16) : '');
const isoDay = (t) => new Date(t * 1000).toISOString().slice(0, 10);
// Unix seconds of a date input's day (UTC), at its start or end.
const dayStart = (v) => (v ? Math.floor(Date.parse(`${v}T00:00:00Z`) / 1000) : undefined);
const dayEnd = (v) => (v ? dayStart(v) + DAY - 1 : undefined);

// A passphrase to hand a new user: four random words' worth of letters, easy to type.
function newPassword() {
  const bytes = crypto.getRandomValues(new Uint8Array(15));
  const alphabet = 'abcdefghjkmnpqrstuvwxyz23456789';
  const chars = [...bytes].map((b) => alphabet[b % alphabet.length]).join('');
  return chars.match(/.{5}/g).join('-');
}

function roleOf(ctx, project) {
  if (ctx.session?.all_projects) return 'owner';
  return ctx.session?.roles?.[project] || null;
}

// A menu of roles; `value` is also what a form reset goes back to.
function roleSelect(allowed, value, attrs = {}) {
  return h('select', attrs, allowed.map((r) => {
    const o = h('option', { value: r }, r);
    o.defaultSelected = r === value;
    return o;
  }));
}

function section(id, title, ...children) {
  return h('section', { class: 'card team-section', id, 'aria-labelledby': `${id}-h` },
    h('h2', { id: `${id}-h`, tabindex: '-1' }, title), ...children);
}

export async function render(root, ctx) {
  const p = ctx.project;
  const manageMembers = ctx.can('manage_members');
  const manageUsers = ctx.can('manage_members', 'default');
  const settings = ctx.can('settings');
  const ownership = ctx.can('ownership', 'default');
  const audit = ctx.can('read_audit');
  const myRole = roleOf(ctx, p);

  // Names for principal ids (user:3, key:tsk_…), from whatever lists the caller may read.
  const names = new Map();
  let users = [];
  let keys = [];
  const loadUsers = async () => {
    if (!manageUsers) return;
    users = (await api.get('/admin/users')).users;
    for (const u of users) names.set(`user:${u.id}`, { name: u.name, detail: u.email, off: u.disabled ? 'disabled' : null });
  };
  const loadKeys = async () => {
    keys = (await api.get('/admin/keys')).keys;
    for (const k of keys) {
      const off = k.revoked_at ? 'revoked' : (k.expires_at && k.expires_at * 1000 <= Date.now() ? 'expired' : null);
      names.set(`key:${k.prefix}`, { name: k.name, detail: `key ${k.prefix}`, off });
    }
  };
  const nameOf = (principal) => names.get(principal)?.name || principal;
  await Promise.all([loadUsers(), loadKeys()]);

  // Redraws the users table (set by usersSection; a new user appears there too).
  let refreshUsers = () => {};
  // Reloads the members table (set by membersSection; a new key with a role here is a member).
  let reloadMembers = () => {};
  const sections = [];
  const jump = [];
  const add = (id, label, el) => {
    sections.push(el);
    jump.push(h('button', {
      type: 'button', class: 'link',
      onclick: () => { el.scrollIntoView({ block: 'start' }); el.querySelector('h2').focus(); },
    }, label));
  };

  if (manageMembers) add('team-members', 'Members', membersSection());
  if (manageUsers) add('team-users', 'Users', usersSection());
  add('team-keys', 'API keys', keysSection());
  add('team-projects', 'Projects', projectsSection());
  if (audit) add('team-audit', 'Audit log', auditSection());

  root.append(
    h('h1', {}, 'Team'),
    h('p', { class: 'muted' }, `Project ${p}${myRole ? `, where your role is ${myRole}` : ''}. Only what your role allows is shown here.`),
    jump.length > 1 ? h('nav', { class: 'jump', 'aria-label': 'Sections' }, jump) : null,
    ...sections);

  // ---- Members of the project -------------------------------------------------------------

  function membersSection() {
    const body = h('div', {}, h('p', { class: 'loading' }, 'Loading members…'));
    const grantable = GRANTABLE[myRole] || [];

    async function load() {
      let members;
      try {
        members = (await api.get(`/admin/projects/${enc(p)}/members`)).members;
      } catch (e) {
        fill(body, h('p', { class: 'error', role: 'alert' }, e.message));
        return;
      }
      // The server names each member, so admins who may not list every user still see who.
      for (const m of members) {
        if (m.name && !names.has(m.principal)) {
          names.set(m.principal, { name: m.name, detail: m.email || m.principal.replace(/^key:/, 'key '), off: null });
        }
      }
      // Two members may share a name: then their email or key prefix tells them apart.
      const seen = new Map();
      for (const m of members) { const n = nameOf(m.principal); seen.set(n, (seen.get(n) || 0) + 1); }
      // People first, then keys, each by name.
      const order = (m) => `${m.principal.startsWith('key:') ? 1 : 0} ${nameOf(m.principal).toLowerCase()}`;
      members.sort((a, b) => order(a).localeCompare(order(b)));
      const rows = members.map((m) => {
        const who = names.get(m.principal);
        const label = who && seen.get(who.name) > 1 ? `${who.name} (${who.detail})` : nameOf(m.principal);
        const mayTouch = grantable.includes(m.role);
        const select = roleSelect(mayTouch ? grantable : [m.role], m.role, {
          'aria-label': `Role of ${label}`, disabled: !mayTouch,
        });
        const rowError = h('small', { class: 'error', role: 'alert' });
        select.addEventListener('change', async () => {
          rowError.textContent = '';
          try {
            await api.put(`/admin/projects/${enc(p)}/members/${enc(m.principal)}`, { role: select.value });
            toast(`${label} is now ${select.value} in ${p}`);
            m.role = select.value;
          } catch (e) {
            select.value = m.role;
            rowError.textContent = e.message;
          }
        });
        const remove = h('button', {
          type: 'button', class: 'danger small', 'aria-label': `Remove ${label}`, disabled: !mayTouch,
          onclick: async () => {
            const ok = await dialog(`Remove ${label} from ${p}?`,
              h('p', {}, `${label} loses the ${m.role} role in ${p} at once. Their account and other projects are not changed.`),
              [['Cancel', false], ['Remove', true, 'danger']]);
            if (!ok) return;
            try {
              await api.del(`/admin/projects/${enc(p)}/members/${enc(m.principal)}`);
              toast(`${label} removed from ${p}`);
              load();
            } catch (e) {
              rowError.textContent = e.message;
            }
          },
        }, 'Remove');
        return h('tr', {},
          h('th', { scope: 'row' }, nameOf(m.principal),
            m.principal === ctx.session.principal ? h('span', { class: 'badge' }, 'you') : null,
            who ? h('div', { class: 'muted small' }, who.detail, who.off ? ` · ${who.off}` : '') : null),
          h('td', {}, m.principal.startsWith('key:') ? 'API key' : 'user'),
          h('td', {}, select, rowError),
          h('td', {}, remove));
      });
      const inProject = new Set(members.map((m) => m.principal));
      fill(body,
        members.length
          ? h('div', { class: 'table-scroll' }, h('table', {},
            h('caption', { class: 'visually-hidden' }, `Members of ${p}`),
            h('thead', {}, h('tr', {}, ['Member', 'Kind', 'Role', ''].map((t) => h('th', { scope: 'col' }, t)))),
            h('tbody', {}, rows)))
          : h('p', { class: 'muted' }, 'Nobody holds a role in this project yet.'),
        grantable.length ? addExisting(inProject) : null,
        grantable.length && manageUsers ? newUser() : null);
    }

    // Gives someone who already has an account (or a key) a role here.
    function addExisting(inProject) {
      const candidates = [
        ...users.filter((u) => !inProject.has(`user:${u.id}`) && !u.disabled).map((u) => [`user:${u.id}`, `${u.name} <${u.email}>`]),
        ...keys.filter((k) => !inProject.has(`key:${k.prefix}`) && !k.revoked_at).map((k) => [`key:${k.prefix}`, `key ${k.name} (${k.prefix})`]),
      ];
      if (!candidates.length) return null;
      const who = h('select', { name: 'principal' }, candidates.map(([v, l]) => h('option', { value: v }, l)));
      const role = roleSelect(grantable, 'viewer', { name: 'role' });
      const submit = h('button', { type: 'submit' }, 'Add member');
      const form = h('form', { class: 'inline-form', 'aria-label': 'Add an existing user or key' },
        h('h3', {}, 'Add an existing user or key'),
        h('div', { class: 'row' }, field('User or key', who), field('Role', role), h('div', { class: 'field end' }, submit)));
      form.addEventListener('submit', async (e) => {
        e.preventDefault();
        setError(who, '');
        submit.disabled = true;
        try {
          await api.put(`/admin/projects/${enc(p)}/members/${enc(who.value)}`, { role: role.value });
          toast(`${nameOf(who.value)} is now ${role.value} in ${p}`);
          await load();
        } catch (err) {
          setError(who, err.message);
        } finally {
          submit.disabled = false;
        }
      });
      return form;
    }

    // A new account (POST /admin/users) and its role here (PUT member), in one go.
    function newUser() {
      const name = h('input', { type: 'text', name: 'name', autocomplete: 'off', required: true });
      const email = h('input', { type: 'email', name: 'email', autocomplete: 'off', required: true });
      const password = h('input', { type: 'text', name: 'password', autocomplete: 'new-password', required: true, minlength: 10, spellcheck: 'false' });
      const generate = h('button', { type: 'button', onclick: () => { password.value = newPassword(); password.focus(); } }, 'Generate password');
      const role = roleSelect(grantable, grantable.includes('designer') ? 'designer' : grantable[0], { name: 'role' });
      const submit = h('button', { type: 'submit', class: 'primary' }, 'Create user');
      const formError = h('p', { class: 'error', role: 'alert' });
      const form = h('form', { class: 'inline-form', 'aria-label': 'Create a user', novalidate: true },
        h('h3', {}, 'Create a user'),
        h('div', { class: 'row' }, field('Name', name), field('Email', email)),
        h('div', { class: 'row' },
          field('Password', password, { hint: 'Hand it over by another channel; a new one can be set under Users.' }),
          h('div', { class: 'field end' }, generate),
          field(`Role in ${p}`, role, { hint: ROLE_HINT[role.value] })),
        formError, submit);
      role.addEventListener('change', () => { role.parentElement.querySelector('.hint').textContent = ROLE_HINT[role.value]; });
      form.addEventListener('submit', async (e) => {
        e.preventDefault();
        formError.textContent = '';
        setError(name, name.value.trim() ? '' : 'Enter their name');
        setError(email, email.value.includes('@') ? '' : 'Enter their email address');
        setError(password, password.value ? '' : 'Enter a password or generate one');
        if (!name.value.trim() || !email.value.includes('@') || !password.value) return;
        submit.disabled = true;
        let id;
        try {
          id = (await api.post('/admin/users', { name: name.value.trim(), email: email.value.trim(), password: password.value })).id;
        } catch (err) {
          if (/password/i.test(err.message)) setError(password, err.message);
          else if (/email|exists|already/i.test(err.message)) setError(email, err.message);
          else formError.textContent = err.message;
          submit.disabled = false;
          return;
        }
        try {
          await api.put(`/admin/projects/${enc(p)}/members/${enc(`user:${id}`)}`, { role: role.value });
          toast(`${name.value.trim()} can now sign in as ${role.value} of ${p}`);
          form.reset();
          role.dispatchEvent(new Event('change'));
        } catch (err) {
          formError.textContent = `The account was made, but the role was not given: ${err.message}`;
        }
        submit.disabled = false;
        await loadUsers();
        await load();
        refreshUsers();
      });
      return form;
    }

    reloadMembers = load;
    load();
    return section('team-members', `Members of ${p}`, body);
  }

  // ---- Users ------------------------------------------------------------------------------

  function usersSection() {
    const body = h('div', {});
    const problem = h('p', { class: 'error', role: 'alert' });
    refreshUsers = () => {
      fill(body, users.length
        ? h('div', { class: 'table-scroll' }, h('table', {},
          h('caption', { class: 'visually-hidden' }, 'Users'),
          h('thead', {}, h('tr', {}, ['Name', 'Email', 'State', 'Since', ''].map((t) => h('th', { scope: 'col' }, t)))),
          h('tbody', {}, users.map(userRow))))
        : h('p', { class: 'muted' }, 'No users yet.'));
    };

    function userRow(u) {
      const toggle = h('button', {
        type: 'button', class: u.disabled ? 'small' : 'danger small',
        'aria-label': `${u.disabled ? 'Enable' : 'Disable'} ${u.name}`,
        onclick: async () => {
          if (!u.disabled) {
            const ok = await dialog(`Disable ${u.name}?`,
              h('p', {}, `${u.name} (${u.email}) is signed out everywhere and cannot sign in until enabled again. The keys they made stop working too.`),
              [['Cancel', false], ['Disable', true, 'danger']]);
            if (!ok) return;
          }
          try {
            const changed = await api.patch(`/admin/users/${u.id}`, { disabled: !u.disabled });
            Object.assign(u, changed);
            toast(`${u.name} ${u.disabled ? 'disabled' : 'enabled'}`);
            refreshUsers();
          } catch (e) {
            problem.textContent = `${u.name}: ${e.message}`;
          }
        },
      }, u.disabled ? 'Enable' : 'Disable');
      const reset = h('button', {
        type: 'button', class: 'small', 'aria-label': `Reset password of ${u.name}`,
        onclick: () => resetPassword(u),
      }, 'Reset password');
      return h('tr', {},
        h('th', { scope: 'row' }, u.name, `user:${u.id}` === ctx.session.principal ? h('span', { class: 'badge' }, 'you') : null),
        h('td', {}, u.email),
        h('td', {}, h('span', { class: `badge ${u.disabled ? 'archived' : 'published'}` }, u.disabled ? 'disabled' : 'active')),
        h('td', {}, isoDay(u.created_at)),
        h('td', { class: 'actions' }, reset, toggle));
    }

    async function resetPassword(u) {
      const password = h('input', { type: 'text', autocomplete: 'new-password', spellcheck: 'false', value: newPassword() });
      const ok = await dialog(`New password for ${u.name}`,
        h('div', {},
          h('p', {}, 'Their sessions end now; they sign in again with this password. Hand it over by another channel.'),
          field('New password', password)),
        [['Cancel', false], ['Set password', true, 'primary']]);
      if (!ok) return;
      try {
        await api.patch(`/admin/users/${u.id}`, { password: password.value });
        toast(`New password set for ${u.name}`);
        problem.textContent = '';
      } catch (e) {
        problem.textContent = `${u.name}: ${e.message}`;
      }
    }

    refreshUsers();
    return section('team-users', 'Users', h('p', { class: 'muted' }, 'Everyone who can sign in to this server.'), problem, body);
  }

  // ---- API keys ---------------------------------------------------------------------------

  function keysSection() {
    const list = h('div', {});
    const showRevoked = h('input', { type: 'checkbox' });
    showRevoked.addEventListener('change', () => drawKeys());
    const now = Date.now() / 1000;

    function state(k) {
      if (k.revoked_at) return ['revoked', 'archived'];
      if (k.expires_at && k.expires_at <= now) return ['expired', 'archived'];
      return ['active', 'published'];
    }

    function drawKeys() {
      const shown = keys.filter((k) => showRevoked.checked || !k.revoked_at);
      fill(list, shown.length
        ? h('div', { class: 'table-scroll' }, h('table', {},
          h('caption', { class: 'visually-hidden' }, 'API keys'),
          h('thead', {}, h('tr', {}, ['Name', 'Key', 'Roles', 'Made by', 'Expires', 'Last used', 'State', ''].map((t) => h('th', { scope: 'col' }, t)))),
          h('tbody', {}, shown.map((k) => {
            const [label, cls] = state(k);
            return h('tr', {},
              h('th', { scope: 'row' }, k.name),
              h('td', {}, h('code', {}, `${k.prefix}…`)),
              h('td', {}, Object.entries(k.roles || {}).map(([proj, r]) => h('div', {}, `${proj}: ${r}`))),
              h('td', {}, nameOf(k.created_by), h('div', { class: 'muted small' }, isoDay(k.created_at))),
              h('td', {}, k.expires_at ? isoDay(k.expires_at) : 'never'),
              h('td', {}, k.last_used_at ? ago(k.last_used_at) : 'never'),
              h('td', {}, h('span', { class: `badge ${cls}` }, label)),
              h('td', {}, k.revoked_at ? null : h('button', {
                type: 'button', class: 'danger small', 'aria-label': `Revoke ${k.name}`,
                onclick: () => revoke(k),
              }, 'Revoke')));
          }))))
        : h('p', { class: 'muted' }, 'No API keys yet.'));
    }

    async function revoke(k) {
      const ok = await dialog(`Revoke ${k.name}?`,
        h('p', {}, `Every request made with ${k.prefix}… is refused from now on. This cannot be undone: make a new key if it is still needed.`),
        [['Cancel', false], ['Revoke key', true, 'danger']]);
      if (!ok) return;
      try {
        await api.del(`/admin/keys/${enc(k.prefix)}`);
        toast(`${k.name} revoked`);
        await loadKeys();
        drawKeys();
        reloadMembers();
      } catch (e) {
        toast(e.message, 'error');
      }
    }

    // The projects the caller holds a role in, each with a menu of the roles they may hand on.
    const projectRoles = ctx.projects.map((proj) => [proj.id, GRANTABLE[roleOf(ctx, proj.id) || proj.role] || []])
      .filter(([, roles]) => roles.length);
    const name = h('input', { type: 'text', name: 'key-name', autocomplete: 'off', maxlength: 100, placeholder: 'crm-sync' });
    const roleSelects = projectRoles.map(([id, roles]) => {
      const sel = h('select', { name: `role-${id}` }, h('option', { value: '' }, 'no role'), roles.map((r) => h('option', { value: r }, r)));
      if (id === p) sel.value = roles.includes('operator') ? 'operator' : roles[roles.length - 1];
      return [id, sel];
    });
    const expires = h('input', { type: 'date', name: 'expires', min: isoDay(now + DAY), value: isoDay(now + 90 * DAY) });
    const submit = h('button', { type: 'submit', class: 'primary' }, 'Create key');
    const formError = h('p', { class: 'error', role: 'alert' });
    const form = h('form', { class: 'inline-form', 'aria-label': 'Create an API key', novalidate: true },
      h('h3', {}, 'Create an API key'),
      h('div', { class: 'row' },
        field('Key name', name, { hint: 'What uses it, so it can be told apart and revoked.' }),
        field('Expires on', expires, { hint: 'Leave empty for a key that never expires (it stops at the end of this day, UTC).' })),
      h('fieldset', { class: 'roles' }, h('legend', {}, 'Roles (no more than yours)'),
        h('div', { class: 'row' }, roleSelects.map(([id, sel]) => field(`Role in ${id}`, sel)))),
      formError, submit);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      formError.textContent = '';
      const roles = Object.fromEntries(roleSelects.filter(([, s]) => s.value).map(([id, s]) => [id, s.value]));
      setError(name, name.value.trim() ? '' : 'Name the key');
      if (!name.value.trim()) return;
      if (!Object.keys(roles).length) { formError.textContent = 'Give the key a role in at least one project.'; return; }
      submit.disabled = true;
      try {
        const k = await api.post('/admin/keys', { name: name.value.trim(), roles, expires_at: dayEnd(expires.value) ?? null });
        name.value = '';
        await showSecret(k);
        await loadKeys();
        drawKeys();
        reloadMembers();
      } catch (err) {
        if (err.code === 'expired') setError(expires, err.message);
        else formError.textContent = err.message;
      } finally {
        submit.disabled = false;
      }
    });

    drawKeys();
    return section('team-keys', 'API keys',
      h('p', { class: 'muted' }, manageUsers ? 'Every key on this server. A key acts with its roles, never more than the person who made it.' : 'The keys you made. A key acts with its roles, never more than yours.'),
      form,
      h('h3', {}, 'Keys'),
      h('label', { class: 'check' }, showRevoked, ' Show revoked keys'),
      list);
  }

  // The one time the secret exists outside the server: shown, copyable, then gone.
  function showSecret(k) {
    const secret = h('input', { type: 'text', readonly: true, value: k.secret, spellcheck: 'false', class: 'secret' });
    secret.addEventListener('focus', () => secret.select());
    const copied = h('span', { class: 'muted', role: 'status' });
    const copyButton = h('button', {
      type: 'button', class: 'primary',
      onclick: async () => { await copy(k.secret, 'Key copied'); copied.textContent = 'Copied.'; },
    }, 'Copy key');
    return dialog(`API key ${k.name} created`,
      h('div', { class: 'secret-box' },
        h('p', { class: 'warning' }, h('strong', {}, 'Copy the key now: you will not see it again.'),
          ' Tessera keeps only a hash of it. If it is lost, revoke it and make a new one.'),
        field('Secret', secret),
        h('p', {}, copyButton, ' ', copied),
        h('p', { class: 'muted small' }, `Send it as "Authorization: Bearer …". Key ${k.prefix}…, ${k.expires_at ? `expires ${isoDay(k.expires_at)}` : 'never expires'}.`)),
      [['I have stored it', true, 'primary']]);
  }

  // ---- Projects ---------------------------------------------------------------------------

  function projectsSection() {
    const list = h('div', { class: 'table-scroll' }, h('table', {},
      h('caption', { class: 'visually-hidden' }, 'Your projects'),
      h('thead', {}, h('tr', {}, ['Project', 'Your role', 'Four eyes', 'Monthly renders', 'Renders per minute'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, ctx.projects.map((proj) => h('tr', { class: proj.id === p ? 'current' : null },
        h('th', { scope: 'row' }, proj.name && proj.name !== proj.id ? `${proj.name} (${proj.id})` : proj.id,
          proj.id === p ? h('span', { class: 'badge' }, 'chosen') : null),
        h('td', {}, proj.role || ''),
        h('td', {}, proj.four_eyes ? 'yes' : 'no'),
        h('td', {}, proj.monthly_renders ?? 'no quota'),
        h('td', {}, proj.renders_per_minute ?? 'server default'))))));
    return section('team-projects', 'Projects',
      list,
      settings ? settingsForm() : null,
      ownership ? newProject() : null);
  }

  function settingsForm() {
    const box = h('div', {}, h('p', { class: 'loading' }, 'Loading settings…'));
    const name = h('input', { type: 'text', name: 'project-name' });
    const fourEyes = h('input', { type: 'checkbox', name: 'four-eyes' });
    const monthly = h('input', { type: 'number', name: 'monthly-renders', min: 0, step: 1, inputmode: 'numeric' });
    const perMinute = h('input', { type: 'number', name: 'renders-per-minute', min: 1, step: 1, inputmode: 'numeric' });
    const submit = h('button', { type: 'submit', class: 'primary' }, 'Save settings');
    const formError = h('p', { class: 'error', role: 'alert' });
    const keyIds = h('p', {});
    const rotate = h('button', { type: 'button', disabled: p === 'default' }, 'Rotate signing keys');
    const number = (input) => (input.value === '' ? null : Number(input.value));

    const form = h('form', { class: 'inline-form', 'aria-label': `Settings of ${p}`, novalidate: true },
      h('h3', {}, `Settings of ${p}`),
      h('div', { class: 'row' }, field('Project name', name)),
      h('label', { class: 'check' }, fourEyes, ' Four eyes: nothing is published without a review, and never by the person who submitted it'),
      h('div', { class: 'row' },
        field('Monthly renders', monthly, { hint: 'Cold renders per calendar month (UTC). Empty: no quota.' }),
        field('Renders per minute', perMinute, { hint: 'Cold renders per template per minute. Empty: the server default.' })),
      formError, submit,
      h('h3', {}, 'Signing keys'),
      h('p', { class: 'muted' }, p === 'default'
        ? 'The default project signs with templates.keys from the configuration; rotate them there.'
        : 'Signed and sealed URLs of this project. Rotating makes a new key that signs from now on; URLs made with older keys keep working.'),
      keyIds,
      rotate);

    async function load() {
      try {
        const s = await api.get(`/admin/projects/${enc(p)}`);
        name.value = s.name || '';
        fourEyes.checked = !!s.four_eyes;
        monthly.value = s.monthly_renders ?? '';
        perMinute.value = s.renders_per_minute ?? '';
        keyIds.textContent = s.signing_key_ids?.length ? `Keys, newest first: ${s.signing_key_ids.join(', ')}`
          : (p === 'default' ? 'None configured: the default project cannot sign or seal URLs until templates.keys is set.' : 'No signing key yet.');
        fill(box, form);
      } catch (e) {
        fill(box, h('p', { class: 'error', role: 'alert' }, e.message));
      }
    }

    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      formError.textContent = '';
      for (const input of [monthly, perMinute]) {
        setError(input, input.value !== '' && !(Number.isInteger(Number(input.value)) && Number(input.value) >= 0) ? 'A whole number, or empty' : '');
      }
      if ([monthly, perMinute].some((i) => i.getAttribute('aria-invalid'))) return;
      submit.disabled = true;
      try {
        const saved = await api.patch(`/admin/projects/${enc(p)}`, {
          name: name.value.trim() || p, four_eyes: fourEyes.checked,
          monthly_renders: number(monthly), renders_per_minute: number(perMinute),
        });
        Object.assign(ctx.projects.find((x) => x.id === p) || {}, saved);
        toast(`Settings of ${p} saved`);
      } catch (err) {
        formError.textContent = err.message;
      } finally {
        submit.disabled = false;
      }
    });
    rotate.addEventListener('click', async () => {
      const ok = await dialog(`Rotate the signing keys of ${p}?`,
        h('p', {}, 'A new key signs and seals from now on. URLs already sent keep working (older keys still verify).'),
        [['Cancel', false], ['Rotate', true, 'primary']]);
      if (!ok) return;
      try {
        const r = await api.post(`/admin/projects/${enc(p)}/signing-keys`);
        keyIds.textContent = `Keys, newest first: ${r.signing_key_ids.join(', ')}`;
        toast(`New signing key ${r.signing_key_ids[0]} for ${p}`);
      } catch (err) {
        formError.textContent = err.message;
      }
    });
    load();
    return box;
  }

  function newProject() {
    const id = h('input', { type: 'text', name: 'project-id', autocomplete: 'off', maxlength: 32, pattern: PROJECT_ID.source, placeholder: 'emea' });
    const name = h('input', { type: 'text', name: 'new-project-name', autocomplete: 'off', placeholder: 'EMEA marketing' });
    const fourEyes = h('input', { type: 'checkbox', name: 'new-four-eyes' });
    const monthly = h('input', { type: 'number', name: 'new-monthly-renders', min: 0, step: 1 });
    const perMinute = h('input', { type: 'number', name: 'new-renders-per-minute', min: 1, step: 1 });
    const submit = h('button', { type: 'submit', class: 'primary' }, 'Create project');
    const formError = h('p', { class: 'error', role: 'alert' });
    const form = h('form', { class: 'inline-form', 'aria-label': 'Create a project', novalidate: true },
      h('h3', {}, 'Create a project'),
      h('div', { class: 'row' },
        field('Project id', id, { hint: '1 to 32 lowercase letters, digits or -, starting with a letter. Its templates are named id.name.' }),
        field('Name', name)),
      h('label', { class: 'check' }, fourEyes, ' Four eyes (reviews by a second person)'),
      h('div', { class: 'row' },
        field('Monthly renders', monthly, { hint: 'Empty: no quota.' }),
        field('Renders per minute', perMinute, { hint: 'Empty: the server default.' })),
      formError, submit);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      formError.textContent = '';
      const v = id.value.trim();
      setError(id, PROJECT_ID.test(v) ? '' : '1 to 32 lowercase letters, digits or -, starting with a letter');
      if (!PROJECT_ID.test(v)) return;
      submit.disabled = true;
      try {
        await api.post('/admin/projects', {
          id: v, name: name.value.trim() || v, four_eyes: fourEyes.checked,
          monthly_renders: monthly.value === '' ? null : Number(monthly.value),
          renders_per_minute: perMinute.value === '' ? null : Number(perMinute.value),
        });
        toast(`Project ${v} created; you own it`);
        form.reset();
        await refreshProjects();
      } catch (err) {
        if (err.code === 'bad_name' || /project/i.test(err.message)) setError(id, err.message);
        else formError.textContent = err.message;
      } finally {
        submit.disabled = false;
      }
    });
    return form;
  }

  // The session's roles and the project list changed: reload both (the shell redraws its
  // project menu), then this screen, whose Projects table lists the new one.
  async function refreshProjects() {
    await ctx.refresh();
    ctx.go(location.hash);
  }

  // ---- Audit log --------------------------------------------------------------------------

  function auditSection() {
    const SHOW = 50;
    const actor = h('input', { type: 'text', name: 'actor', list: 'audit-actors', autocomplete: 'off', placeholder: 'user:1' });
    const action = h('input', { type: 'text', name: 'action', list: 'audit-actions', autocomplete: 'off', placeholder: 'template' });
    const target = h('input', { type: 'text', name: 'target', autocomplete: 'off' });
    const from = h('input', { type: 'date', name: 'audit-from' });
    const to = h('input', { type: 'date', name: 'audit-to' });
    const apply = h('button', { type: 'submit', class: 'primary' }, 'Apply filters');
    const clear = h('button', { type: 'button' }, 'Clear filters');
    const csv = h('a', { class: 'button', download: '' }, 'Export CSV');
    const jsonl = h('a', { class: 'button', download: '' }, 'Export JSON Lines');
    const out = h('div', { 'aria-live': 'polite' });
    const actors = h('datalist', { id: 'audit-actors' },
      [...names.entries()].map(([id, n]) => h('option', { value: id }, n.name)),
      h('option', { value: 'token' }, 'admin token'), h('option', { value: 'cli' }, 'command line'),
      h('option', { value: 'anonymous' }, 'no valid credentials'));
    const actionList = h('datalist', { id: 'audit-actions' }, ACTIONS.map((a) => h('option', { value: a })));
    const form = h('form', { class: 'filters', 'aria-label': 'Audit filters' },
      h('div', { class: 'row' },
        field('Actor', actor, { hint: 'user:N, key:tsk_…, token, cli' }),
        field('Action', action, { hint: '"template" matches every template.* action' }),
        field('Target', target)),
      h('div', { class: 'row' }, field('From', from), field('To', to)),
      h('div', { class: 'toolbar' }, apply, clear, h('span', { class: 'grow' }), csv, jsonl),
      actors, actionList);

    let rows = [];
    let shown = SHOW;
    let seq = 0;
    // Those who read the audit of default read the whole log (every project, and server-wide
    // rows such as keys and sign-ins, which belong to no project); others their project's.
    const everything = ctx.can('read_audit', 'default');
    const filters = () => ({
      project: everything ? undefined : p, principal: actor.value.trim(), action: action.value.trim(), target: target.value.trim(),
      from: dayStart(from.value), to: dayEnd(to.value),
    });

    async function load() {
      const f = filters();
      csv.href = `/admin/audit${query({ ...f, format: 'csv' })}`;
      csv.setAttribute('download', `audit-${everything ? 'all' : p}.csv`);
      jsonl.href = `/admin/audit${query({ ...f, format: 'jsonl' })}`;
      jsonl.setAttribute('download', `audit-${everything ? 'all' : p}.jsonl`);
      const mine = ++seq;
      fill(out, h('p', { class: 'loading' }, 'Loading the audit log…'));
      try {
        // The newest first, a page at a time (one more than shown tells whether there are older).
        rows = (await api.get(`/admin/audit${query({ ...f, order: 'desc', limit: SHOW + 1 })}`)).audit;
      } catch (e) {
        if (mine === seq) fill(out, h('p', { class: 'error', role: 'alert' }, e.message));
        return;
      }
      if (mine !== seq) return;
      shown = SHOW;
      draw();
    }

    // The next page back from the oldest row shown.
    async function older() {
      const f = filters();
      const mine = seq;
      try {
        const before = rows[shown - 1].id;
        const page = (await api.get(`/admin/audit${query({ ...f, order: 'desc', before, limit: SHOW + 1 })}`)).audit;
        if (mine !== seq) return;
        rows = rows.slice(0, shown).concat(page);
        shown += SHOW;
        draw();
      } catch (e) {
        toast(e.message, 'error');
      }
    }

    function outcome(o) {
      const cls = o === 'ok' ? 'published' : o.startsWith('refused') ? 'submitted' : 'archived';
      return h('span', { class: `badge ${cls}` }, o);
    }

    function draw() {
      if (!rows.length) {
        fill(out, h('p', { class: 'muted' }, 'No audit rows match these filters.'));
        return;
      }
      const more = rows.length > shown
        ? h('button', { type: 'button', onclick: older }, 'Show older rows')
        : null;
      const count = Math.min(rows.length, shown);
      fill(out,
        h('p', { class: 'muted', role: 'status' }, `${count} row${count === 1 ? '' : 's'}, newest first${rows.length > shown ? '; older rows follow' : ''}.`),
        h('div', { class: 'table-scroll' }, h('table', { class: 'audit' },
          h('caption', { class: 'visually-hidden' }, 'Audit log'),
          h('thead', {}, h('tr', {}, ['When (UTC)', 'Actor', 'Role', everything ? 'Project' : null, 'Action', 'Target', 'Outcome', 'Details']
            .filter(Boolean).map((t) => h('th', { scope: 'col', class: t === 'Role' ? 'optional' : null }, t)))),
          h('tbody', {}, rows.slice(0, shown).map((r) => h('tr', {},
            h('td', { class: 'nowrap' }, h('time', { datetime: new Date(r.at * 1000).toISOString(), title: ago(r.at) }, when(r.at))),
            h('td', {}, r.principal_name || r.principal,
              r.principal_name && r.principal_name !== r.principal ? h('span', { class: 'muted small' }, ` · ${r.principal}`) : null),
            h('td', { class: 'optional' }, r.role || ''),
            everything ? h('td', {}, r.project || '—') : null,
            h('td', {}, h('code', {}, r.action)),
            h('td', { class: 'wrap' }, r.target),
            h('td', {}, outcome(r.outcome)),
            h('td', { class: 'small' }, h('details', {},
              h('summary', { 'aria-label': `Details of ${r.action} at ${when(r.at)}` }, 'More'),
              h('dl', { class: 'audit-detail' },
                h('dt', {}, 'Address'), h('dd', {}, r.address || '—'),
                h('dt', {}, 'Request id'), h('dd', {}, h('code', {}, r.request_id || '—'))),
              r.detail && Object.keys(r.detail).length ? h('pre', {}, JSON.stringify(r.detail, null, 1)) : null))))))),
        more);
    }

    form.addEventListener('submit', (e) => { e.preventDefault(); load(); });
    clear.addEventListener('click', () => { form.reset(); load(); });
    load();
    return section('team-audit', 'Audit log',
      h('p', { class: 'muted' }, `${everything ? 'Every change and refusal on this server, in every project' : `Every change and refusal in ${p}`}: who, with which role, what, and how it ended. The log cannot be edited.`),
      form, out);
  }
}
