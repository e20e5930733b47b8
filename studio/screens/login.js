// Sign in with email and password (the users of `tessera users add` or the Team screen).

import { api } from '../lib/api.js';
import { h, field, setError } from '../lib/dom.js';

export function render(root, ctx) {
  const email = h('input', { type: 'email', name: 'email', autocomplete: 'username', required: true });
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true });
  const problem = h('p', { class: 'error', role: 'alert' });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const form = h('form', { class: 'card narrow', novalidate: true },
    h('h1', {}, 'Sign in to Tessera Studio'),
    field('Email', email),
    field('Password', password),
    problem,
    submit);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    problem.textContent = '';
    setError(email, email.value ? '' : 'Enter your email');
    setError(password, password.value ? '' : 'Enter your password');
    if (!email.value || !password.value) return;
    submit.disabled = true;
    try {
      await api.post('/auth/login', { email: email.value.trim(), password: password.value });
      password.value = '';
      await ctx.signedIn();
    } catch (err) {
      problem.textContent = err.status === 429
        ? 'Too many attempts: wait a moment and try again.'
        : err.status === 401 ? 'That email and password do not match an active account.' : err.message;
    } finally {
      submit.disabled = false;
    }
  });
  root.append(form);
  email.focus();
}
