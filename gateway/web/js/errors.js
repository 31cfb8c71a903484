// errors.js — an ApiError in words a person understands, shown where it
// belongs: a 422 next to its field, anything else at the top of the form.
// Nothing typed is ever cleared by an error.
import { h, uid } from './dom.js';

export function describe(err) {
  if (!err || err.name === 'AbortError') return '';
  switch (err.status) {
    case 0: return err.message;
    case 429: {
      const s = err.retryAfter;
      return s ? `Too many requests. Try again in ${s} second${s === 1 ? '' : 's'}.`
        : 'Too many requests. Try again in a moment.';
    }
    case 503: return 'Chirp is busy right now. What you typed is kept: try again in a moment.';
    case 401: return err.code === 'invalid_credentials' ? 'Wrong username or password.' : 'Please log in again.';
    case 403: return 'That is not yours to change.';
    case 404: return 'Not found: it may have been deleted.';
    case 413: return 'That is too large.';
    default: return err.message || 'Something went wrong.';
  }
}

// A labelled control with a slot for its error (aria-describedby).
export function field(label, control, hint) {
  const id = control.id || uid('in');
  control.id = id;
  const err = h('p', { class: 'field-error', id: id + '-err', 'aria-live': 'polite' });
  const describedBy = [err.id];
  let hintEl = null;
  if (hint) {
    hintEl = h('p', { class: 'hint', id: id + '-hint' }, hint);
    describedBy.push(hintEl.id);
  }
  control.setAttribute('aria-describedby', describedBy.join(' '));
  return h('div', { class: 'field' }, h('label', { for: id }, label), control, hintEl, err);
}

export function formError() {
  return h('p', { class: 'form-error', role: 'alert' });
}

export function clearErrors(form) {
  for (const e of form.querySelectorAll('.field-error, .form-error')) e.textContent = '';
  for (const c of form.querySelectorAll('[aria-invalid]')) c.removeAttribute('aria-invalid');
}

// Shows err in form: at the control named err.field when there is one
// (a 422, or a 409 such as username_taken), else at the form's top.
export function showError(form, err) {
  const msg = describe(err);
  if (!msg) return;
  clearErrors(form);
  const ctl = err.field && form.querySelector(`[name="${CSS.escape(err.field)}"]`);
  const slot = ctl && form.querySelector('#' + CSS.escape(ctl.id + '-err'));
  if (ctl && slot) {
    slot.textContent = msg;
    ctl.setAttribute('aria-invalid', 'true');
    ctl.focus();
    return;
  }
  const top = form.querySelector('.form-error');
  if (top) top.textContent = msg;
  else toast(msg);
}

// A short message for errors that have no form (a like, a follow).
export function toast(msg) {
  if (!msg) return;
  const box = document.getElementById('toasts');
  if (!box) return;
  const t = h('p', { class: 'toast', role: 'status' }, msg);
  box.append(t);
  setTimeout(() => t.remove(), 6000);
}

export const toastError = (err) => toast(describe(err));

// Runs submit(form) with the button disabled and the errors shown.
export async function submitting(form, submit) {
  const buttons = form.querySelectorAll('button[type=submit]');
  clearErrors(form);
  buttons.forEach((b) => { b.disabled = true; });
  try {
    return await submit();
  } catch (err) {
    showError(form, err);
    return undefined;
  } finally {
    buttons.forEach((b) => { b.disabled = false; });
  }
}
