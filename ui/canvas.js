// ConvLab's drawing canvas (ui/canvas.py registers it as a Streamlit components-v2 element).
// The pad object lives on the DOM node, which Streamlit keeps across reruns (the element's key never
// changes); each rerun calls the default export again with the page's current settings, and the
// listeners, installed once, read them from the pad.
const SIZE = 280;

function render(ctx, scale, strokes, pen, paper) {
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.clearRect(0, 0, ctx.canvas.width, ctx.canvas.height);
  if (paper) { ctx.fillStyle = paper; ctx.fillRect(0, 0, ctx.canvas.width, ctx.canvas.height); }
  ctx.setTransform(scale, 0, 0, scale, 0, 0);
  ctx.lineCap = 'round';
  ctx.lineJoin = 'round';
  ctx.strokeStyle = pen;
  ctx.fillStyle = pen;
  for (const s of strokes) paint(ctx, s, 0);
}

// Paints stroke s from point index `from` on (incremental while the pen moves).
function paint(ctx, s, from) {
  const p = s.points;
  ctx.lineWidth = s.width;
  if (p.length === 1) {
    ctx.beginPath();
    ctx.arc(p[0][0], p[0][1], s.width / 2, 0, 2 * Math.PI);
    ctx.fill();
    return;
  }
  ctx.beginPath();
  ctx.moveTo(p[Math.max(0, from - 1)][0], p[Math.max(0, from - 1)][1]);
  for (let i = Math.max(1, from); i < p.length; i++) ctx.lineTo(p[i][0], p[i][1]);
  ctx.stroke();
}

// The ink's alpha, one byte per pixel, deflated where the browser can (core.infer.drawing reads both forms).
async function pack(rgba) {
  const alpha = new Uint8Array(SIZE * SIZE);
  for (let i = 0; i < alpha.length; i++) alpha[i] = rgba[4 * i + 3];
  if (typeof CompressionStream !== 'function') return 'ink280/raw;base64,' + base64(alpha);
  const stream = new Blob([alpha]).stream().pipeThrough(new CompressionStream('deflate'));
  return 'ink280/deflate;base64,' + base64(new Uint8Array(await new Response(stream).arrayBuffer()));
}

function base64(bytes) {
  let text = '';
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

function setup(pad) {
  const canvas = pad.querySelector('.cl-canvas');
  const undo = pad.querySelector('.cl-undo');
  const clear = pad.querySelector('.cl-clear');
  const ctx = canvas.getContext('2d');
  const off = document.createElement('canvas');  // what is sent: white ink on transparent, 280×280
  off.width = SIZE;
  off.height = SIZE;
  const offCtx = off.getContext('2d', {willReadFrequently: true});
  const st = pad.__cl;

  st.redraw = () => {
    const px = Math.round(SIZE * Math.min(3, Math.max(1, window.devicePixelRatio || 1)));
    if (canvas.width !== px) { canvas.width = px; canvas.height = px; }  // crisp on a phone's dense screen
    render(ctx, px / SIZE, st.strokes, st.data.pen, st.data.paper);
    undo.disabled = clear.disabled = st.strokes.length === 0;
  };
  const send = async () => {
    const seq = ++st.seq;
    let payload = null;
    if (st.strokes.length) {
      render(offCtx, 1, st.strokes, '#ffffff', null);
      payload = await pack(offCtx.getImageData(0, 0, SIZE, SIZE).data);
    }
    if (seq !== st.seq || payload === st.sent) return;  // a newer drawing is on its way, or no change
    st.sent = payload;
    st.setStateValue('ink', payload);
  };
  const at = (e) => {
    const r = canvas.getBoundingClientRect();
    const x = (e.clientX - r.left) * SIZE / r.width;
    const y = (e.clientY - r.top) * SIZE / r.height;
    return [Math.round(Math.min(SIZE, Math.max(0, x)) * 10) / 10, Math.round(Math.min(SIZE, Math.max(0, y)) * 10) / 10];
  };

  canvas.addEventListener('pointerdown', (e) => {
    if (st.active !== null || (e.pointerType === 'mouse' && e.button !== 0)) return;
    st.active = e.pointerId;
    canvas.setPointerCapture(e.pointerId);
    st.strokes.push({width: st.data.width, points: [at(e)]});
    st.redraw();
  });
  canvas.addEventListener('pointermove', (e) => {
    if (e.pointerId !== st.active) return;
    const s = st.strokes[st.strokes.length - 1];
    const from = s.points.length;
    const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [];
    for (const c of (events.length ? events : [e])) s.points.push(at(c));
    const scale = canvas.width / SIZE;
    ctx.setTransform(scale, 0, 0, scale, 0, 0);
    ctx.strokeStyle = st.data.pen;
    ctx.lineCap = 'round';
    ctx.lineJoin = 'round';
    paint(ctx, s, from);
  });
  const end = (e) => {
    if (e.pointerId !== st.active) return;
    st.active = null;
    send();
  };
  canvas.addEventListener('pointerup', end);
  canvas.addEventListener('pointercancel', end);
  canvas.addEventListener('lostpointercapture', end);
  undo.addEventListener('click', () => { st.strokes.pop(); st.redraw(); send(); });
  clear.addEventListener('click', () => { st.strokes.length = 0; st.redraw(); send(); });
}

export default function (component) {
  const pad = component.parentElement.querySelector('.cl-pad');
  if (!pad) return;
  const first = !pad.__cl;
  if (first) pad.__cl = {strokes: [], active: null, sent: null, seq: 0};
  const st = pad.__cl;
  st.data = component.data;
  st.setStateValue = component.setStateValue;
  if (first) setup(pad);
  st.redraw();  // the ink colour may have changed: the strokes are redrawn, nothing is sent
}
