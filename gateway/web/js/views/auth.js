// views/auth.js — sign up and log in.
import { h, put } from '../dom.js';
import { post } from '../api.js';
import { session } from '../session.js';
import { field, formError, submitting } from '../errors.js';
import { navigate } from '../router.js';

function page(main, title, form, other) {
  put(main, h('section', { class: 'auth card' }, h('h1', {}, title), form, other));
  document.title = title + ' · Chirp';
  form.querySelector('input')?.focus();
}

export function login(main) {
  const form = h('form', { novalidate: true },
    field('Username or e-mail', h('input', { name: 'login', autocomplete: 'username', required: true })),
    field('Password', h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true })),
    formError(), h('button', { type: 'submit', class: 'primary' }, 'Log in'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    submitting(form, async () => {
      const r = await post('/sessions', { login: form.login.value, password: form.password.value });
      session.set(r.token, r.account);
      navigate('/', { replace: true });
    });
  });
  page(main, 'Log in', form, h('p', {}, 'New here? ', h('a', { href: '/signup' }, 'Create an account')));
}

export function signup(main) {
  const form = h('form', { novalidate: true },
    field('Username', h('input', { name: 'username', autocomplete: 'username', required: true, maxlength: 30 }),
      'Letters, digits and underscores, up to 30.'),
    field('E-mail', h('input', { name: 'email', type: 'email', autocomplete: 'email', required: true })),
    field('Password', h('input', { name: 'password', type: 'password', autocomplete: 'new-password', required: true })),
    formError(), h('button', { type: 'submit', class: 'primary' }, 'Sign up'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    submitting(form, async () => {
      const r = await post('/accounts', { username: form.username.value, email: form.email.value, password: form.password.value });
      session.set(r.token, r.account);
      navigate('/', { replace: true });
    });
  });
  page(main, 'Create your account', form, h('p', {}, 'Have an account? ', h('a', { href: '/login' }, 'Log in')));
}
