// views/lists.js — one's lists (create, rename, delete, open), a list's
// timeline with endless scrolling and its members, and the "Lists" control
// of a profile that adds or removes that account.  Lists are private: only
// their owner sees them.
import { h, put } from '../dom.js';
import { get, post, patch, del } from '../api.js';
import { endless } from '../endless.js';
import { tweetCard } from '../tweet_card.js';
import { accountCard } from '../account_card.js';
import { field, formError, submitting, toast, toastError, describe } from '../errors.js';

function titleInput(value = '') {
  return h('input', { name: 'title', required: true, maxlength: 100, value });
}

function listRow(l, onGone) {
  const name = h('a', { href: `/lists/${l.id}` }, l.title);
  const row = h('div', { class: 'list-row' });
  const paint = () => put(row, name,
    h('button', { type: 'button', class: 'link', onclick: rename }, 'Rename'),
    h('button', { type: 'button', class: 'link', onclick: remove }, 'Delete'));
  function rename() {
    const form = h('form', { class: 'row', novalidate: true }, field('New title', titleInput(l.title)), formError(),
      h('button', { type: 'submit', class: 'primary' }, 'Save'), h('button', { type: 'button', onclick: paint }, 'Cancel'));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      submitting(form, async () => {
        const r = await patch(`/lists/${l.id}`, { title: form.title.value });
        l = { ...l, ...r };
        name.textContent = l.title;
        paint();
      });
    });
    put(row, form);
  }
  async function remove() {
    try {
      await del(`/lists/${l.id}`);
      onGone();
    } catch (err) { toastError(err); }
  }
  paint();
  return row;
}

export function listsPage(main) {
  document.title = 'Lists · Chirp';
  let all;
  const render = (l) => listRow(l, () => all.remove(l.id));
  all = endless({ label: 'Your lists', noun: ['list', 'lists'], empty: 'No lists yet: create one above.',
    load: (cursor) => get('/lists', { limit: 40, cursor }), render });
  const form = h('form', { class: 'new-list', novalidate: true },
    field('Title', titleInput(), '1-100 characters; only you see your lists.'), formError(),
    h('button', { type: 'submit', class: 'primary' }, 'Create list'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    submitting(form, async () => {
      const l = await post('/lists', { title: form.title.value });
      form.reset();
      all.prepend(l);
    });
  });
  put(main, h('h1', {}, 'Lists'), h('section', { class: 'card' }, form), all.el);
  return { cleanup: () => all.destroy() };
}

export async function listPage(main, { id }) {
  put(main, h('p', { class: 'list-status' }, 'Loading…'));
  let l;
  try {
    l = await get(`/lists/${id}`);
  } catch (err) {
    put(main, h('section', { class: 'card' }, h('h1', {}, 'List'), h('p', {}, describe(err))));
    return null;
  }
  document.title = l.title + ' · Chirp';
  const timeline = endless({ label: l.title, noun: ['tweet', 'tweets'],
    empty: 'No tweets here yet: add accounts from their profiles.',
    load: (cursor) => get(`/lists/${id}/tweets`, { limit: 20, cursor }), render: (t) => tweetCard(t) });
  let members;
  members = endless({ label: 'Members', empty: 'No members yet.',
    load: (cursor) => get(`/lists/${id}/members`, { limit: 40, cursor }),
    render: (a) => h('div', { class: 'member' }, accountCard(a),
      h('button', { type: 'button', class: 'link', onclick: async () => {
        try { await del(`/lists/${id}/members/${a.id}`); members.remove(a.id); } catch (err) { toastError(err); }
      } }, 'Remove')) });
  put(main, h('h1', {}, l.title), h('p', {}, h('a', { href: '/lists' }, 'All lists')), timeline.el,
    h('details', { class: 'card' }, h('summary', {}, 'Members'), members.el));
  return { cleanup: () => { timeline.destroy(); members.destroy(); } };
}

// A profile's control: add the account to one of one's lists, or remove it.
export function listControl(acct) {
  const select = h('select', { name: 'list', 'aria-label': 'List' });
  const box = h('div', { class: 'list-control row' }, select,
    h('button', { type: 'button', onclick: () => change(true) }, 'Add to list'),
    h('button', { type: 'button', onclick: () => change(false) }, 'Remove from list'));
  box.hidden = true;
  get('/lists', { limit: 100 }).then((page) => {
    for (const l of page.items || []) select.append(h('option', { value: l.id }, l.title));
    box.hidden = !select.options.length;
  }, () => {});
  async function change(add) {
    const lid = select.value;
    if (!lid) return;
    try {
      const r = add ? await post(`/lists/${lid}/members`, { account_id: acct.id })
        : await del(`/lists/${lid}/members/${acct.id}`);
      const title = select.selectedOptions[0].textContent;
      toast(r.member ? `@${acct.username} is in ${title}` : `@${acct.username} is not in ${title}`);
    } catch (err) { toastError(err); }
  }
  return box;
}
