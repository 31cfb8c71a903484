// compose.js — the form that posts a tweet, a reply, a quote or a poll, with a live
// count of the 280 code points.  What was typed stays on any error.
import { h, uid, codePoints } from './dom.js';
import { post } from './api.js';
import { field, formError, submitting } from './errors.js';

export const MAX_CHARS = 280;

export function compose({ replyTo = null, quoteOf = null, onPosted, label = 'What is happening?' } = {}) {
  const text = h('textarea', { name: 'text', rows: 3, required: true, placeholder: replyTo ? 'Write your reply' : 'What is happening?' });
  const counter = h('span', { class: 'counter', 'aria-live': 'polite' });
  const pollToggle = h('input', { type: 'checkbox', id: uid('poll') });
  const options = [0, 1, 2, 3].map((i) => h('input', { type: 'text', name: 'poll.options', maxlength: 50,
    placeholder: i < 2 ? `Option ${i + 1}` : `Option ${i + 1} (optional)` }));
  const expires = h('select', { name: 'poll.expires_in' },
    [['3600', '1 hour'], ['86400', '1 day'], ['259200', '3 days'], ['604800', '7 days']].map(([v, t]) => h('option', { value: v }, t)));
  const multiple = h('input', { type: 'checkbox', id: uid('multi') });
  const pollBox = h('fieldset', { class: 'poll-fields', hidden: true }, h('legend', {}, 'Poll'),
    options.map((o, i) => field(`Option ${i + 1}`, o)),
    field('Length', expires),
    h('div', { class: 'check' }, multiple, h('label', { for: multiple.id }, 'Allow several choices')));
  const submit = h('button', { type: 'submit', class: 'primary' }, replyTo ? 'Reply' : quoteOf ? 'Quote' : 'Tweet');
  const form = h('form', { class: 'compose', novalidate: true },
    field(label, text),
    quoteOf ? h('p', { class: 'quoting' }, 'Quoting a tweet') : null,
    replyTo ? null : h('div', { class: 'check' }, pollToggle, h('label', { for: pollToggle.id }, 'Add a poll')),
    pollBox, formError(),
    h('div', { class: 'compose-bar' }, counter, submit));

  function count() {
    const left = MAX_CHARS - codePoints(text.value);
    counter.textContent = `${left} left`;
    counter.classList.toggle('over', left < 0);
    counter.setAttribute('aria-label', `${left} characters left`);
    submit.disabled = left < 0;
  }
  text.addEventListener('input', count);
  pollToggle.addEventListener('change', () => { pollBox.hidden = !pollToggle.checked; });
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const body = { text: text.value };
    if (replyTo) body.reply_to = replyTo;
    if (quoteOf) body.quote_of = quoteOf;
    if (pollToggle.checked) {
      body.poll = { options: options.map((o) => o.value).filter((v, i) => i < 2 || v.trim() !== ''),
        expires_in: Number(expires.value), multiple: multiple.checked };
    }
    submitting(form, async () => {
      const tweet = await post('/tweets', body);
      form.reset();
      pollBox.hidden = true;
      count();
      if (onPosted) onPosted(tweet);
    });
  });
  count();
  return form;
}
