// The lesson picture's drawing: layout of the grids on one canvas, their cells, numbers, labels and colour
// bars, and the highlighted window. ui/lesson_picture.py sends this file and ui/lesson_picture.js as one
// module (this one first); nothing here computes a number that is shown.

const GAP = 26;          // px between grids
const TITLE_FONT = 'bold 13px sans-serif';
const TITLE_MIN = 64;    // px a title may use even over a narrow grid
const LABEL_W = 20;      // row labels left of a grid
const LABEL_H = 14;      // column labels above a grid
const SCALE_H = 24;      // the colour bar and its ends under a grid
const MIN_FONT = 8;
const KIND = {1: '#e2e8f0', 2: '#f8fafc', 3: '#fecaca', 4: '#fef3c7'};
const WINDOW = '#f59e0b';
const MARK = '#dc2626';

function mix(a, b, t) {
  const p = (h) => [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16));
  const [x, y] = [p(a), p(b)];
  return `rgb(${x.map((v, i) => Math.round(v + (y[i] - v) * t)).join(',')})`;
}

function fill(scale, tone) {
  if (scale === 'diverging') {
    return tone < 0 ? mix('#ffffff', '#2563eb', -tone / 100) : mix('#ffffff', '#dc2626', tone / 100);
  }
  return tone < 50 ? mix('#f8fbff', '#93c5fd', tone / 50) : mix('#93c5fd', '#1e40af', (tone - 50) / 50);
}

function ink(scale, tone) {
  const strong = scale === 'diverging' ? Math.abs(tone) > 60 : tone > 70;
  return strong ? '#ffffff' : '#1f2937';
}

// Cell size and grid positions: one pixel scale for the whole picture. All grids in one row when that
// keeps cells readable (16 px, or 60 % of the size a wrapped layout gives); else grids flow onto more lines.
function layout(ctx, data, width) {
  const grids = data.grids;
  const fixed = grids.length * LABEL_W + (grids.length - 1) * GAP;
  const sumCols = grids.reduce((a, g) => a + g.cols, 0);
  const maxCols = Math.max(...grids.map((g) => g.cols));
  const rowCell = Math.floor((width - fixed) / sumCols);
  const wrapCell = Math.floor((width - LABEL_W) / maxCols);
  const readable = Math.min(16, 0.6 * Math.min(wrapCell, data.maxCell));
  const cell = Math.max(2, Math.min(data.maxCell, rowCell >= readable ? rowCell : wrapCell));
  ctx.font = TITLE_FONT;
  const foot = (g) => Math.max(TITLE_MIN, LABEL_W + g.cols * cell);
  const titles = grids.map((g) => wrapWords(ctx, g.title, foot(g)));
  // Grids flow left to right onto lines; each line's titles get the height of its longest title.
  const lines = [[]];
  let x = 0;
  grids.forEach((g, i) => {
    if (x > 0 && x + foot(g) > width) { lines.push([]); x = 0; }
    lines[lines.length - 1].push(i);
    x += foot(g) + GAP;
  });
  const boxes = [];
  let y = 0;
  for (const line of lines) {
    const titleH = 16 * Math.max(...line.map((i) => titles[i].length)) + 4;
    let lx = 0, lineH = 0;
    for (const i of line) {
      const g = grids[i];
      boxes[i] = {x: lx + LABEL_W, y: y + titleH + LABEL_H, w: g.cols * cell, h: g.rows * cell, left: lx, top: y,
                  title: titles[i], titleW: foot(g)};
      lx += foot(g) + GAP;
      lineH = Math.max(lineH, titleH + LABEL_H + g.rows * cell + SCALE_H);
    }
    y += lineH + 8;
  }
  return {cell, boxes, width, height: y - 8};
}

// A title as lines that fit ``width`` (a long word gets a line of its own).
function wrapWords(ctx, text, width) {
  const lines = [];
  let line = '';
  for (const word of text.split(' ')) {
    const next = line ? `${line} ${word}` : word;
    if (line && ctx.measureText(next).width > width) { lines.push(line); line = word; } else line = next;
  }
  return line ? [...lines, line] : lines;
}

// The font each grid's numbers get: as big as fits the cell, none when even the smallest does not fit.
function fonts(ctx, data, cell) {
  return data.grids.map((g) => {
    let size = Math.min(14, Math.floor(cell * 0.5));
    const widest = g.text.reduce((a, t) => (t.length > a.length ? t : a), '');
    while (size >= MIN_FONT) {
      ctx.font = `${size}px sans-serif`;
      if (ctx.measureText(widest).width <= cell - 4) return size;
      size -= 1;
    }
    return 0;
  });
}

function boxCells(flat, i) {
  const [grid, r0, rn, rs, c0, cn, cs] = flat.slice(i, i + 7);
  const cells = [];
  for (let a = 0; a < rn; a++) for (let b = 0; b < cn; b++) cells.push([r0 + a * rs, c0 + b * cs]);
  return {grid, cells, r0, c0, r1: r0 + (rn - 1) * rs, c1: c0 + (cn - 1) * cs};
}

function stepBoxes(data, step) {
  const flat = data.boxes[step] || [];
  const out = [];
  for (let i = 0; i < flat.length; i += 7) out.push(boxCells(flat, i));
  return out;
}

function drawGrid(ctx, g, b, cell, font, colour) {
  ctx.fillStyle = colour;
  ctx.font = TITLE_FONT;
  ctx.textAlign = 'left';
  ctx.textBaseline = 'alphabetic';
  b.title.forEach((line, i) => ctx.fillText(line, b.left, b.top + 13 + 16 * i, b.titleW));
  for (let r = 0; r < g.rows; r++) for (let c = 0; c < g.cols; c++) {
    const i = r * g.cols + c, k = g.kind[i];
    ctx.fillStyle = k ? KIND[k] : fill(g.scale, g.tone[i]);
    ctx.fillRect(b.x + c * cell, b.y + r * cell, cell, cell);
  }
  if (cell >= 6) {  // thin lines between cells: one path, drawn over the fills
    ctx.strokeStyle = 'rgba(255,255,255,0.9)';
    ctx.lineWidth = 1;
    ctx.beginPath();
    for (let r = 1; r < g.rows; r++) { ctx.moveTo(b.x, b.y + r * cell); ctx.lineTo(b.x + b.w, b.y + r * cell); }
    for (let c = 1; c < g.cols; c++) { ctx.moveTo(b.x + c * cell, b.y); ctx.lineTo(b.x + c * cell, b.y + b.h); }
    ctx.stroke();
  }
  if (font) {
    ctx.font = `${font}px sans-serif`;
    ctx.textAlign = 'center';
    ctx.textBaseline = 'middle';
    for (let r = 0; r < g.rows; r++) for (let c = 0; c < g.cols; c++) {
      const i = r * g.cols + c;
      if (!g.text[i]) continue;
      ctx.fillStyle = g.kind[i] ? '#475569' : ink(g.scale, g.tone[i]);
      ctx.fillText(g.text[i], b.x + (c + 0.5) * cell, b.y + (r + 0.5) * cell + 0.5);
    }
  }
  drawLabels(ctx, g, b, cell, colour);
  drawScale(ctx, g, b, colour);
  drawValueFrame(ctx, g, b, cell);
}

function drawLabels(ctx, g, b, cell, colour) {
  if (cell < 12) return;
  ctx.font = '10px sans-serif';
  ctx.fillStyle = colour;
  ctx.globalAlpha = 0.7;
  ctx.textAlign = 'center';
  ctx.textBaseline = 'alphabetic';
  const every = cell >= 18 ? 1 : 5;
  g.colLabels.forEach((t, c) => { if (t && (+t % every === 0)) ctx.fillText(t, b.x + (c + 0.5) * cell, b.y - 3); });
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  g.rowLabels.forEach((t, r) => { if (t && (+t % every === 0)) ctx.fillText(t, b.x - 4, b.y + (r + 0.5) * cell); });
  ctx.globalAlpha = 1;
}

function drawScale(ctx, g, b, colour) {
  if (!g.low && !g.high) return;
  const y = b.y + b.h + 6, w = Math.min(b.w, 120);
  const steps = 24;
  for (let i = 0; i < steps; i++) {
    const t = g.scale === 'diverging' ? -100 + 200 * i / (steps - 1) : 100 * i / (steps - 1);
    ctx.fillStyle = fill(g.scale, t);
    ctx.fillRect(b.x + i * w / steps, y, w / steps + 0.5, 6);
  }
  ctx.fillStyle = colour;
  ctx.font = '10px sans-serif';
  ctx.textBaseline = 'top';
  ctx.textAlign = 'left';
  ctx.fillText(g.low, b.x, y + 8);
  ctx.textAlign = 'right';
  ctx.fillText(g.high, b.x + w, y + 8);
}

// A dark frame around the input inside its padding (the server says where).
function drawValueFrame(ctx, g, b, cell) {
  if (!g.frame) return;
  const [r0, c0, r1, c1] = g.frame;
  ctx.strokeStyle = '#334155';
  ctx.lineWidth = 1.5;
  ctx.strokeRect(b.x + c0 * cell, b.y + r0 * cell, (c1 - c0 + 1) * cell, (r1 - r0 + 1) * cell);
}

// Always drawn: thin dark frames (every window, when they tile the input) and thin red winners.
function drawFixed(ctx, st) {
  const {cell, boxes} = st.lay, {frames, winners} = st.data;
  const many = frames.length / 7 > 64 || cell < 14;  // a fine mesh of frames would hide the values
  ctx.lineWidth = many ? 1 : 1.5;
  ctx.strokeStyle = many ? 'rgba(17,24,39,0.25)' : 'rgba(17,24,39,0.6)';
  for (let i = 0; i < frames.length; i += 7) {
    const f = boxCells(frames, i), b = boxes[f.grid];
    ctx.strokeRect(b.x + f.c0 * cell, b.y + f.r0 * cell, (f.c1 - f.c0 + 1) * cell, (f.r1 - f.r0 + 1) * cell);
  }
  ctx.strokeStyle = MARK;
  for (let i = 0; i < winners.length; i += 7) {
    const w = boxCells(winners, i), b = boxes[w.grid];
    ctx.strokeRect(b.x + w.c0 * cell + 3, b.y + w.r0 * cell + 3, cell - 6, cell - 6);
  }
}

function drawStep(ctx, st, step, strong) {
  const {cell, boxes} = st.lay;
  for (const bx of stepBoxes(st.data, step)) {
    const b = boxes[bx.grid];
    if (!b) continue;
    // outlines only: a fill over the cells would muddy their colours
    ctx.strokeStyle = strong ? WINDOW : 'rgba(245,158,11,0.55)';
    ctx.lineWidth = strong ? Math.min(3, Math.max(1.5, cell / 12)) : 1;
    const inset = ctx.lineWidth / 2;
    for (const [r, c] of bx.cells) {
      ctx.strokeRect(b.x + c * cell + inset, b.y + r * cell + inset, cell - 2 * inset, cell - 2 * inset);
    }
    if (bx.cells.length > 1 && strong) {  // the window's span, gaps of a dilated kernel included
      ctx.setLineDash([5, 3]);
      ctx.lineWidth = 2;
      ctx.strokeRect(b.x + bx.c0 * cell - 1, b.y + bx.r0 * cell - 1,
        (bx.c1 - bx.c0 + 1) * cell + 2, (bx.r1 - bx.r0 + 1) * cell + 2);
      ctx.setLineDash([]);
    }
  }
  const mark = st.data.marks[step];
  if (mark && mark.length) {
    const m = boxCells(mark, 0), b = boxes[m.grid];
    ctx.strokeStyle = MARK;
    ctx.lineWidth = 3;
    ctx.strokeRect(b.x + m.c0 * cell + 2, b.y + m.r0 * cell + 2, cell - 4, cell - 4);
  }
}

function draw(st) {
  const {canvas, ctx, data, lay} = st;
  const dpr = Math.min(3, Math.max(1, window.devicePixelRatio || 1));
  const w = Math.ceil(lay.width), h = Math.ceil(lay.height);
  if (canvas.width !== w * dpr || canvas.height !== h * dpr) {
    canvas.width = w * dpr; canvas.height = h * dpr;
    canvas.style.width = `${w}px`; canvas.style.height = `${h}px`;
  }
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  const colour = getComputedStyle(st.root).color || '#31333f';
  data.grids.forEach((g, i) => drawGrid(ctx, g, lay.boxes[i], lay.cell, st.fonts[i], colour));
  drawFixed(ctx, st);
  const shown = st.hover ?? st.sel;
  if (st.hover !== null && st.hover !== st.sel) drawStep(ctx, st, st.sel, false);
  drawStep(ctx, st, shown, true);
  readout(st, shown);
}
