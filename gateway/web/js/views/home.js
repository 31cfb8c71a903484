// views/home.js — the composer and the home feed; tweets that arrive live
// wait behind the "N new tweets" bar.
import { h, put } from '../dom.js';
import { get } from '../api.js';
import { compose } from '../compose.js';
import { endless } from '../endless.js';
import { tweetCard } from '../tweet_card.js';
import { on } from '../live.js';

export function home(main) {
  document.title = 'Home · Chirp';
  const feed = endless({
    label: 'Home feed',
    noun: ['tweet', 'tweets'],
    empty: 'Your feed is empty: follow someone (try Search) or post your first tweet.',
    load: (cursor) => get('/feed', { limit: 20, cursor }),
    render: (t) => tweetCard(t),
  });
  const form = compose({ onPosted: (t) => feed.prepend(t) });
  put(main, h('h1', { class: 'sr-only' }, 'Home'), h('section', { class: 'card' }, form), feed.el);
  const off = [
    on('tweet', (t) => {
      feed.queue(t);
      // A stream item sent while the tweet was still being stored can lack
      // its poll ("poll": null): look again once it settled.
      if (!t.poll) {
        setTimeout(() => get('/tweets/' + t.id).then((full) => {
          if (full.poll) feed.replace({ ...full, author: t.author });
        }, () => {}), 2000);
      }
    }),
    on('tweet.edited', (t) => feed.replace(t)),
    on('tweet.deleted', (t) => feed.remove(t.id)),
  ];
  return { cleanup() { off.forEach((f) => f()); feed.destroy(); } };
}
