// Keeps one random, anonymous token in this browser (localStorage, mirrored in a cookie the server reads
// when a session starts) so the models a student exports come back after a reload. No name, no account.
// A new browser keeps the token the server gave its first session: no rerun. Only a browser whose stored
// token differs from the session's (its cookie was cleared) sends it, which reruns the page once.
const KEY = 'convlab.browserToken';
const COOKIE = 'convlab_token';
const VALID = /^[0-9a-f]{32}$/;

export default function (component) {
  const given = (component.data || {}).token;
  let token = null;
  try {
    token = window.localStorage.getItem(KEY);
    if (!VALID.test(token || '')) {
      if (!VALID.test(given || '')) return;
      token = given;
      window.localStorage.setItem(KEY, token);
    }
  } catch (err) {  // storage blocked (private mode): this session's models stay in the session only
    return;
  }
  document.cookie = `${COOKIE}=${token}; Max-Age=31536000; Path=/; SameSite=Lax`;
  if (token !== given) component.setStateValue('token', token);
}
