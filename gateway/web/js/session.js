// session.js — who is logged in: the token (localStorage) and the account.
const KEY = 'chirp.token';
const listeners = new Set();
let account = null;

function emit() { for (const f of listeners) f(account); }

export const session = {
  token: () => localStorage.getItem(KEY),
  account: () => account,
  loggedIn: () => !!localStorage.getItem(KEY),
  set(token, acct) {
    localStorage.setItem(KEY, token);
    account = acct;
    emit();
  },
  setAccount(acct) { account = acct; emit(); },
  clear() {
    localStorage.removeItem(KEY);
    account = null;
    emit();
  },
  // The server no longer knows the token: forget it and ask to log in.
  expired() {
    if (!localStorage.getItem(KEY)) return;
    this.clear();
    window.dispatchEvent(new CustomEvent('chirp:expired'));
  },
  onChange(f) { listeners.add(f); return () => listeners.delete(f); },
};
