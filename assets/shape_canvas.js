/*
 * The Shape workshop's drawing canvas: 28×28 grayscale pixels, shown enlarged by CSS.
 * Drag draws white (a round 2-pixel brush, like the palette's strokes), shift-drag erases.
 * Dash reads the pixels through window.deeplingShapeCanvas.pixels(id) when "Add as class"
 * is pressed; the canvas is found by id on each event because Dash may re-render it.
 */
(function () {
  'use strict';
  const SIZE = 28;
  const RADIUS = 1.6;
  const state = new WeakMap();  // canvas → Uint8ClampedArray of SIZE*SIZE levels

  function pixelsOf(canvas) {
    let px = state.get(canvas);
    if (!px) {
      px = new Uint8ClampedArray(SIZE * SIZE);
      state.set(canvas, px);
    }
    return px;
  }

  function paint(canvas) {
    const px = pixelsOf(canvas);
    const g = canvas.getContext('2d');
    const img = g.createImageData(SIZE, SIZE);
    for (let i = 0; i < px.length; i++) {
      img.data.set([px[i], px[i], px[i], 255], 4 * i);
    }
    g.putImageData(img, 0, 0);
  }

  function stamp(canvas, ev) {
    const r = canvas.getBoundingClientRect();
    const x = ((ev.clientX - r.left) / r.width) * SIZE - 0.5;
    const y = ((ev.clientY - r.top) / r.height) * SIZE - 0.5;
    const px = pixelsOf(canvas);
    const value = ev.shiftKey ? 0 : 255;
    for (let j = Math.floor(y - RADIUS); j <= Math.ceil(y + RADIUS); j++) {
      for (let i = Math.floor(x - RADIUS); i <= Math.ceil(x + RADIUS); i++) {
        if (i < 0 || j < 0 || i >= SIZE || j >= SIZE) continue;
        if ((i - x) ** 2 + (j - y) ** 2 <= RADIUS * RADIUS) px[j * SIZE + i] = value;
      }
    }
    paint(canvas);
  }

  let drawing = null;
  document.addEventListener('pointerdown', (ev) => {
    const c = ev.target.closest && ev.target.closest('canvas.dl-shape-canvas');
    if (!c) return;
    drawing = c;
    c.setPointerCapture(ev.pointerId);
    stamp(c, ev);
    ev.preventDefault();
  });
  document.addEventListener('pointermove', (ev) => { if (drawing) stamp(drawing, ev); });
  document.addEventListener('pointerup', () => { drawing = null; });
  document.addEventListener('pointercancel', () => { drawing = null; });

  window.deeplingShapeCanvas = {
    pixels(id) {
      const c = document.getElementById(id);
      return c ? Array.from(pixelsOf(c)) : [];
    },
    clear(id) {
      const c = document.getElementById(id);
      if (c) { pixelsOf(c).fill(0); paint(c); }
    },
    load(id, values) {
      const c = document.getElementById(id);
      if (c && values && values.length === SIZE * SIZE) { pixelsOf(c).set(values); paint(c); }
    },
  };
})();
