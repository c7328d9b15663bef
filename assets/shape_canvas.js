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

  function position(canvas, ev) {
    const r = canvas.getBoundingClientRect();
    return [((ev.clientX - r.left) / r.width) * SIZE - 0.5, ((ev.clientY - r.top) / r.height) * SIZE - 0.5];
  }

  function dot(px, x, y, value) {
    for (let j = Math.floor(y - RADIUS); j <= Math.ceil(y + RADIUS); j++) {
      for (let i = Math.floor(x - RADIUS); i <= Math.ceil(x + RADIUS); i++) {
        if (i < 0 || j < 0 || i >= SIZE || j >= SIZE) continue;
        if ((i - x) ** 2 + (j - y) ** 2 <= RADIUS * RADIUS) px[j * SIZE + i] = value;
      }
    }
  }

  // Brush dots every half pixel from the last position, so a fast stroke stays unbroken.
  function stroke(canvas, from, to, erase) {
    const px = pixelsOf(canvas);
    const n = Math.max(1, Math.ceil(2 * Math.hypot(to[0] - from[0], to[1] - from[1])));
    for (let k = 0; k <= n; k++) {
      dot(px, from[0] + (to[0] - from[0]) * k / n, from[1] + (to[1] - from[1]) * k / n, erase ? 0 : 255);
    }
    paint(canvas);
  }

  let drawing = null;  // {canvas, last position}
  document.addEventListener('pointerdown', (ev) => {
    const c = ev.target.closest && ev.target.closest('canvas.dl-shape-canvas');
    if (!c) return;
    c.setPointerCapture(ev.pointerId);
    const at = position(c, ev);
    drawing = {canvas: c, last: at};
    stroke(c, at, at, ev.shiftKey);
    ev.preventDefault();
  });
  document.addEventListener('pointermove', (ev) => {
    if (!drawing) return;
    const at = position(drawing.canvas, ev);
    stroke(drawing.canvas, drawing.last, at, ev.shiftKey);
    drawing.last = at;
  });
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
