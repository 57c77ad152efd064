// Keeps one random, anonymous token in this browser (localStorage) and hands it to the server, so the
// models a student exports come back after a reload. No name, no account: 32 random hex characters.
const KEY = 'convlab.browserToken';
const VALID = /^[0-9a-f]{32}$/;

function fresh() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

export default function (component) {
  let token = null;
  try {
    token = window.localStorage.getItem(KEY);
    if (!VALID.test(token || '')) {
      token = fresh();
      window.localStorage.setItem(KEY, token);
    }
  } catch (err) {  // storage blocked (private mode): this session's models stay in the session only
    return;
  }
  if (component.data && component.data.known === token) return;  // the server has it: no rerun
  component.setStateValue('token', token);
}
