// ConvLab's lesson picture: grids of numbers on one canvas, the window of an output cell, its readout.
// Every number shown comes from the server's payload (core/lessons/picture.py); this file only indexes.
// Hover and Play run here with no server message; a click, Step, Pause or an arrow key sends the selected
// cell as the state value `pick` (a fresh nonce each time, so the server tells a new pick from an old one).

// Drawing: ui/lesson_picture_draw.js (sent first, in the same module).

const TICK_MS = 650;  // Play: one output cell per tick

function readout(st, step) {
  const {data, parts} = st;
  const out = data.grids[data.output];
  const r = Math.floor(step / out.cols), c = step % out.cols;
  parts.title.textContent = `${data.cellTitle} (${out.rowLabels[r] ?? r}, ${out.colLabels[c] ?? c})`
    + (st.hover !== null && st.hover !== st.sel ? '' : ' — selected');
  const values = [];
  stepBoxes(data, step).slice(0, data.valueBoxes).forEach((bx) => {
    const g = data.grids[bx.grid];
    for (const [rr, cc] of bx.cells) values.push(g.text[rr * g.cols + cc]);
  });
  fillSpans(parts.values, values);
  const products = data.products[step] || [];
  parts.productsLine.hidden = !products.length;
  fillSpans(parts.products, products);
  parts.result.textContent = data.results[step];
  st.canvas.setAttribute('aria-label', `${data.aria} ${parts.title.textContent}: ${data.results[step]}.`);
}

function fillSpans(el, texts) {
  el.replaceChildren(...texts.map((t) => {
    const s = document.createElement('span');
    s.className = 'lp-v';
    s.textContent = t;
    return s;
  }));
}

function hit(st, e) {
  const rect = st.canvas.getBoundingClientRect();
  const x = e.clientX - rect.left, y = e.clientY - rect.top;
  const b = st.lay.boxes[st.data.output], g = st.data.grids[st.data.output], cell = st.lay.cell;
  if (x < b.x || y < b.y || x >= b.x + b.w || y >= b.y + b.h) return null;
  return Math.floor((y - b.y) / cell) * g.cols + Math.floor((x - b.x) / cell);
}

function count(st) {
  const g = st.data.grids[st.data.output];
  return g.rows * g.cols;
}

function pick(st, step) {
  st.sel = step;
  draw(st);
  st.setStateValue('pick', {cell: step, nonce: `${Date.now()}-${Math.random()}`});
}

function stop(st, send) {
  if (st.timer === null) return;
  clearInterval(st.timer);
  st.timer = null;
  st.parts.play.textContent = '▶ Play';
  st.parts.play.setAttribute('aria-pressed', 'false');
  if (send) pick(st, st.sel);
}

function play(st) {
  if (st.timer !== null) { stop(st, true); return; }
  st.parts.play.textContent = '⏸ Pause';
  st.parts.play.setAttribute('aria-pressed', 'true');
  st.timer = setInterval(() => {
    if (!st.root.isConnected) { clearInterval(st.timer); return; }
    st.sel = (st.sel + 1) % count(st);
    draw(st);
  }, TICK_MS);
}

function key(st, e) {
  const g = st.data.grids[st.data.output];
  const r = Math.floor(st.sel / g.cols), c = st.sel % g.cols;
  const moves = {ArrowLeft: [0, -1], ArrowRight: [0, 1], ArrowUp: [-1, 0], ArrowDown: [1, 0]};
  if (!(e.key in moves)) return;
  e.preventDefault();
  stop(st, false);
  const [dr, dc] = moves[e.key];
  const nr = Math.min(g.rows - 1, Math.max(0, r + dr)), nc = Math.min(g.cols - 1, Math.max(0, c + dc));
  if (nr * g.cols + nc !== st.sel) pick(st, nr * g.cols + nc);
}

function build(root) {
  root.innerHTML = `
    <div class="lp-bar">
      <button type="button" class="lp-play" aria-pressed="false"
        title="Move the window over every output cell">▶ Play</button>
      <button type="button" class="lp-step" title="The next output cell">⏭ Step</button>
      <span class="lp-hint"></span>
    </div>
    <canvas class="lp-canvas" tabindex="0" role="img"></canvas>
    <div class="lp-legend"></div>
    <div class="lp-readout" data-testid="lp-readout" aria-live="polite">
      <div class="lp-title" data-testid="lp-readout-title"></div>
      <div class="lp-line"><span class="lp-label"></span>
        <span class="lp-values" data-testid="lp-readout-window"></span></div>
      <div class="lp-line lp-products-line"><span class="lp-label"></span>
        <span class="lp-values" data-testid="lp-readout-products"></span></div>
      <div class="lp-result" data-testid="lp-readout-result"></div>
      <div class="lp-note" data-testid="lp-readout-note"></div>
    </div>`;
  const q = (s) => root.querySelector(s);
  const labels = root.querySelectorAll('.lp-label');
  return {play: q('.lp-play'), step: q('.lp-step'), hint: q('.lp-hint'), legend: q('.lp-legend'), title: q('.lp-title'),
          values: q('[data-testid="lp-readout-window"]'), products: q('[data-testid="lp-readout-products"]'),
          productsLine: q('.lp-products-line'), result: q('.lp-result'), note: q('.lp-note'),
          valuesLabel: labels[0], productsLabel: labels[1]};
}

function listen(st) {
  const {canvas, parts} = st;
  canvas.addEventListener('pointermove', (e) => {
    const h = hit(st, e);
    if (h !== st.hover) { st.hover = h; draw(st); }
  });
  canvas.addEventListener('pointerleave', () => { if (st.hover !== null) { st.hover = null; draw(st); } });
  canvas.addEventListener('click', (e) => {
    const h = hit(st, e);
    if (h === null) return;
    stop(st, false);
    st.hover = null;
    pick(st, h);
  });
  canvas.addEventListener('keydown', (e) => key(st, e));
  parts.play.addEventListener('click', () => play(st));
  parts.step.addEventListener('click', () => { stop(st, false); pick(st, (st.sel + 1) % count(st)); });
  new ResizeObserver(() => relayout(st)).observe(st.root);
}

function relayout(st) {
  const width = Math.max(120, st.root.clientWidth);
  st.lay = layout(st.ctx, st.data, width);
  st.fonts = fonts(st.ctx, st.data, st.lay.cell);
  draw(st);
}

function chips(st) {
  const {data, parts} = st;
  parts.legend.replaceChildren(...data.legend.map(([kind, label]) => {
    const s = document.createElement('span');
    s.className = 'lp-chip';
    const dot = document.createElement('i');
    dot.style.background = KIND[kind];
    s.append(dot, label);
    return s;
  }));
  parts.valuesLabel.textContent = data.valuesLabel;
  parts.productsLabel.textContent = data.productsLabel;
  parts.note.textContent = data.note;
  parts.note.hidden = !data.note;
  parts.play.hidden = parts.step.hidden = !data.play;
  parts.hint.textContent = data.hint;
}

export default function (component) {
  const root = component.parentElement.querySelector('.lp-root');
  if (!root) return;
  const first = !root.__lp;
  if (first) {
    const parts = build(root);
    const canvas = root.querySelector('.lp-canvas');
    root.__lp = {root, parts, canvas, ctx: canvas.getContext('2d'), sel: 0, hover: null, timer: null, serverSel: null};
  }
  const st = root.__lp;
  st.data = component.data;
  st.setStateValue = component.setStateValue;
  const n = count(st);
  if (st.data.selected !== st.serverSel) { st.serverSel = st.data.selected; st.sel = st.data.selected; }
  st.sel = Math.min(st.sel, n - 1);
  if (st.hover !== null && st.hover >= n) st.hover = null;
  chips(st);
  if (first) listen(st);
  relayout(st);
}
