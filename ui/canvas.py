"""ConvLab's drawing canvas: freehand drawing in the browser, the drawing sent the moment the pen lifts.

One Streamlit components-v2 element (no iframe; an open shadow root) holds the canvas and its Undo and
Clear buttons. Pointer Events draw with a mouse, a finger or a pen; ``touch-action: none`` keeps a
finger on the canvas from scrolling a phone's page. The strokes live in the browser (as lists of points
in 280×280 drawing coordinates, whatever size CSS shows the canvas at), so Undo, Clear and a change of
ink colour redraw there and never remount the canvas: a stroke started right after Clear is never lost.

On pointer-up (no debounce) the browser renders the strokes once more, white on transparent, at 280×280
and sends their alpha channel, deflated, as the component's state value ``ink`` (2–6 KB for a digit; the
earlier streamlit-drawable-canvas sent a full-size RGBA PNG plus the Fabric.js JSON of every stroke,
200 ms after the pen lifted). 280×280 keeps every preprocessing picture of the Draw page as it was (the
crop of a small digit is shown at up to 140 px). The server checks and unpacks it with ``core.infer.drawing``
and lays the ink on the page's paper colour. Under AppTest (no browser) the canvas returns None, like an
empty canvas.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from core.infer.drawing import SIZE, DrawingRefused, ink_from_payload, on_paper
from ui.text import literal

CANVAS_PX = SIZE  # the canvas's drawing coordinates, and its size on a desktop page (CSS pixels)
# Where a browser test or benchmark finds the drawing surface (Playwright's CSS pierces the shadow root).
SELECTOR = "[data-testid='stBidiComponentIsolated'] canvas.cl-canvas"

_HTML = """
<div class="cl-pad">
  <canvas class="cl-canvas" width="280" height="280" role="img"
          aria-label="Drawing canvas: draw a digit with the mouse, a finger or a pen"></canvas>
  <div class="cl-tools">
    <button type="button" class="cl-undo" title="Take back the last stroke">↶ Undo</button>
    <button type="button" class="cl-clear" title="Empty the canvas">🧽 Clear</button>
  </div>
</div>
"""

_CSS = """
.cl-pad { font-family: var(--st-font, sans-serif); width: min(280px, 100%); user-select: none;
  -webkit-user-select: none; }
/* A phone (Streamlit stacks columns below 640 px): the whole column's width, a bigger target for a finger */
@media (max-width: 640px) { .cl-pad { width: min(100%, 420px); } }
.cl-canvas { display: block; width: 100%; aspect-ratio: 1 / 1; height: auto; box-sizing: border-box;
  touch-action: none; cursor: crosshair; border-radius: 0.5rem;
  border: 1px solid var(--st-border-color, #d5d7de); }
.cl-tools { display: flex; gap: 0.5rem; margin-top: 0.5rem; }
.cl-tools button { font: inherit; cursor: pointer; border-radius: 0.5rem; padding: 0.35rem 0.8rem;
  border: 1px solid var(--st-border-color, #d5d7de); background: var(--st-background-color, #fff);
  color: var(--st-text-color, #31333f); }
.cl-tools button:hover { border-color: var(--st-primary-color, #ff4b4b); color: var(--st-primary-color, #ff4b4b); }
.cl-tools button:disabled { opacity: 0.45; cursor: default; border-color: var(--st-border-color, #d5d7de);
  color: var(--st-text-color, #31333f); }
"""

# The pad object lives on the DOM node, which Streamlit keeps across reruns (the element's key never
# changes); each rerun calls this function again with the page's current settings, and the listeners,
# installed once, read them from the pad.
_JS = """
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
"""


@st.cache_resource(show_spinner=False)
def _renderer():
    """Registered once per server process (registering again each run would log a warning)."""
    return st.components.v2.component("convlab_canvas", html=_HTML, css=_CSS, js=_JS)


def _grey(colour: str) -> float:
    """'#RRGGBB' → its grey level in [0, 1] (ITU-R 601 luma, as the preprocessing's grayscale step)."""
    r, g, b = (int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5))
    return 0.299 * r + 0.587 * g + 0.114 * b


def drawing_canvas(key: str, width: int, pen: str = "#FFFFFF", paper: str = "#000000") -> np.ndarray | None:
    """The canvas, with strokes ``width`` px wide (in 280×280 drawing coordinates) in ``pen`` on ``paper``
    ('#RRGGBB'). Returns the drawing as (280, 280) float32 grey in [0, 1], pen on paper as the student
    sees it, or None when nothing is drawn (or under AppTest). A payload that is not a drawing from this
    canvas is refused with a warning, and counts as nothing drawn."""
    result = _renderer()(key=key, data={"width": int(width), "pen": pen, "paper": paper})
    try:
        ink = ink_from_payload(result.get("ink"))
    except DrawingRefused as exc:
        st.warning(literal(exc, 400), icon="✏️")  # our own words: the payload itself is never echoed
        return None
    return None if ink is None else on_paper(ink, _grey(pen), _grey(paper))
