// poll.js — a poll inside a tweet: the options to vote on, or the results
// once voted or expired (GET /polls/{id}).
import { h, uid, put } from './dom.js';
import { get, post } from './api.js';
import { session } from './session.js';
import { formError, showError, submitting } from './errors.js';

function results(p) {
  const total = p.total_votes || 0;
  return h('ul', { class: 'results', 'aria-label': 'Poll results' }, p.options.map((o) => {
    const pct = total ? Math.round((o.votes * 100) / total) : 0;
    const bar = h('span', { class: 'bar' });
    bar.style.width = pct + '%';
    return h('li', {}, bar, h('span', { class: 'label' }, o.text), h('span', { class: 'pct' }, `${pct}% (${o.votes})`));
  }));
}

function ballot(p, box) {
  const type = p.multiple ? 'checkbox' : 'radio';
  const name = uid('poll');
  const form = h('form', { class: 'ballot' },
    h('fieldset', {}, h('legend', { class: 'sr-only' }, p.multiple ? 'Choose one or more' : 'Choose one'),
      p.options.map((o, i) => {
        const id = uid('opt');
        return h('div', { class: 'choice' }, h('input', { type, name, value: i, id }), h('label', { for: id }, o.text));
      })),
    h('input', { type: 'hidden', name: 'choices' }),
    h('p', { class: 'field-error', id: uid('e') }),
    formError(),
    h('button', { type: 'submit' }, 'Vote'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const choices = [...form.querySelectorAll(`input[name="${name}"]:checked`)].map((c) => Number(c.value));
    if (!choices.length) { showError(form, { status: 0, message: 'Pick an option first.' }); return; }
    submitting(form, async () => {
      const r = await post(`/polls/${p.id}/votes`, { choices });
      paint(box, r);
    });
  });
  return form;
}

function paint(box, p) {
  const left = p.expired ? 'Final results' : `Ends ${new Date(p.expires_at).toLocaleString()}`;
  put(box, 
    p.voted_by_me || p.expired || !session.loggedIn() ? results(p) : ballot(p, box),
    h('p', { class: 'meta' }, `${p.voters ?? p.total_votes} voter${p.voters === 1 ? '' : 's'} · ${left}${p.voted_by_me ? ' · you voted' : ''}`));
}

export function pollView(stub) {
  const box = h('div', { class: 'poll', 'aria-label': 'Poll' }, h('p', { class: 'meta' }, 'Loading poll…'));
  get(`/polls/${stub.id}`).then((p) => paint(box, p), () => {
    paint(box, { ...stub, options: stub.options.map((t) => ({ text: t, votes: 0 })), total_votes: 0, voters: 0 });
  });
  return box;
}
