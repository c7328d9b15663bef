/*
 * Deepling.LayerScatter, part 3 of 6: the software dot pass (SoftDots), for WebGL without a GPU.
 */
(function () {
  'use strict';

  const Deepling = (window.Deepling = window.Deepling || {});
  const S = (Deepling.scatterParts = Deepling.scatterParts || {});  // the renderer's parts, shared
  const { DIM_ALPHA, clamp, parseColor } = S;

  // ---- software dots ----------------------------------------------------------------------

  // Where WebGL itself runs on the CPU (SwiftShader, llvmpipe: machines without a GPU), its
  // point pipeline costs ~1 µs a point whatever the shader does (profiled: a trivial fragment
  // shader, no blending or 1-px points save little; each point is a primitive set up and
  // visited by every raster thread). Many small dots are then drawn faster by SoftDots below:
  // a plain loop that splats each dot's precomputed coverage into an ImageData, ~0.1 µs a
  // point, on a 2-D canvas under the WebGL one (the other passes still draw above it).
  const SOFT_MIN_POINTS = 20000;  // below this the WebGL pipeline keeps the frame cap anyway
  const SOFT_MAX_DOT = 8;         // device px; zoomed-in, bigger dots go back to WebGL
  const SOFT_PHASES = 4;          // sub-pixel centre positions per axis, so motion stays smooth

  function isSoftwareGL(gl) {
    const ext = gl.getExtension('WEBGL_debug_renderer_info');
    const name = String(ext ? gl.getParameter(ext.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER));
    return /swiftshader|llvmpipe|softpipe|software|basic render driver/i.test(name);
  }

  class SoftDots {
    constructor(container, before) {
      const c = (this.canvas = document.createElement('canvas'));
      c.className = 'dl-scatter-soft';
      Object.assign(c.style, { position: 'absolute', left: '0', top: '0', width: '100%',
        height: '100%', display: 'none', pointerEvents: 'none' });
      container.insertBefore(c, before);
      this.ctx = c.getContext('2d');
      this.image = null;
      this.masks = new Map();
    }

    show(on) {
      const v = on ? 'block' : 'none';
      if (this.canvas.style.display !== v) this.canvas.style.display = v;
    }

    // One dot's pixels for each sub-pixel phase of its centre: offsets into the image, coverage
    // and how much of each is rim, by the same formulas as DOT_VERT/DOT_FRAG.
    _masks(size, marked, px, W) {
      const key = `${size}|${marked}|${px}|${W}`;
      let out = this.masks.get(key);
      if (out) return out;
      if (this.masks.size > 16) this.masks.clear();
      const mark = marked ? 1 : 0;
      const S = size * (1 + 0.25 * mark) + mark * px, R = 0.5 * S;
      const inner = Math.max(R - Math.max(px, 0.3 * R), 0.1 * R), qi = (inner * inner) / (R * R);
      const reach = Math.ceil(R) + 1;
      out = [];
      for (let py = 0; py < SOFT_PHASES; py++) {
        for (let pxi = 0; pxi < SOFT_PHASES; pxi++) {
          const fx = (pxi + 0.5) / SOFT_PHASES, fy = (py + 0.5) / SOFT_PHASES;
          const off = [], dxs = [], dys = [], w = [], rim = [];
          for (let dy = -reach; dy <= reach; dy++) {
            for (let dx = -reach; dx <= reach; dx++) {
              const ex = dx + 0.5 - fx, ey = dy + 0.5 - fy;
              if (Math.abs(ex) > R || Math.abs(ey) > R) continue;   // outside the point sprite
              const q = (ex * ex + ey * ey) / (R * R);
              const cover = clamp(0.5 * R * (1 - q) + 0.5, 0, 1);
              if (cover <= 0) continue;
              off.push(dy * W + dx); dxs.push(dx); dys.push(dy); w.push(cover);
              rim.push(mark ? clamp((q - qi) * (R * R) / (2 * inner) + 0.5, 0, 1) : 0);
            }
          }
          out.push({ off: Int32Array.from(off), dx: Int32Array.from(dxs), dy: Int32Array.from(dys),
            w: Float32Array.from(w), rim: Float32Array.from(rim), reach });
        }
      }
      this.masks.set(key, out);
      return out;
    }

    draw(s) {
      const d = s._data, W = s.canvas.width, H = s.canvas.height, c = this.canvas;
      if (c.width !== W || c.height !== H || !this.image) {
        c.width = W; c.height = H;
        this.image = this.ctx.createImageData(W, H);
        this.words = new Uint32Array(this.image.data.buffer);
        this.bytes = new Uint8Array(this.image.data.buffer);
      }
      const px = this.bytes;
      // premultiplied while drawing: "over" is then the same blend for all four channels
      const bg = s.opts.background == null ? [0, 0, 0, 0] : parseColor(s.opts.background);
      const ba = bg[3] / 255, opaque = bg[3] === 255;
      this.words.fill((Math.round(bg[0] * ba) | (Math.round(bg[1] * ba) << 8)
        | (Math.round(bg[2] * ba) << 16) | (bg[3] << 24)) >>> 0);
      const dpr = s._dpr, size = Math.min(s._pointSizeCss() * dpr, s._maxPoint);
      const masks = [this._masks(size, false, dpr, W), this._masks(size, true, dpr, W)];
      const reach = masks[1][0].reach + 1;
      const pos = s._positionsNow(), v = s._view, k = s._scale() * dpr;
      const ox = W / 2 - v.cx * k, oy = H / 2 + v.cy * k;
      const alpha = s._opacity(), pal = s._paletteRGBA, hidden = s._hidden;
      const colors = d.colors, marks = d.marks, sel = d.selected;
      for (let i = 0; i < d.n; i++) {
        const cls = colors[i];
        if (hidden[cls]) continue;
        const x = ox + pos[2 * i] * k, y = oy - pos[2 * i + 1] * k;
        if (!(x > -reach && y > -reach && x < W + reach && y < H + reach)) continue;
        const ix = Math.floor(x), iy = Math.floor(y), mark = marks && marks[i] ? 1 : 0;
        const m = masks[mark][((y - iy) * SOFT_PHASES | 0) * SOFT_PHASES + ((x - ix) * SOFT_PHASES | 0)];
        const a = sel && !sel[i] ? alpha * DIM_ALPHA : alpha;
        let r = pal[4 * cls], g = pal[4 * cls + 1], b = pal[4 * cls + 2];
        let rr = 0, rg = 0, rb = 0;
        if (mark) {   // a lighter core and a rim at half the class brightness, as DOT_FRAG
          r += 0.4 * (255 - r); g += 0.4 * (255 - g); b += 0.4 * (255 - b);
          rr = (r - 102) / 1.2 - r; rg = (g - 102) / 1.2 - g; rb = (b - 102) / 1.2 - b;
        }
        const base = iy * W + ix, off = m.off, w = m.w, count = off.length;
        // +0.5: px is a Uint8Array (no clamping needed for a convex blend), which truncates
        if (!mark && ix >= m.reach && iy >= m.reach && ix + m.reach < W && iy + m.reach < H) {
          if (opaque) {                        // the app's case: alpha stays 255
            for (let j = 0; j < count; j++) {
              const o = (base + off[j]) << 2, f = w[j] * a;
              const p0 = px[o], p1 = px[o + 1], p2 = px[o + 2];
              px[o] = p0 + (r - p0) * f + 0.5;
              px[o + 1] = p1 + (g - p1) * f + 0.5;
              px[o + 2] = p2 + (b - p2) * f + 0.5;
            }
            continue;
          }
          for (let j = 0; j < count; j++) {    // the common case: whole dot inside, no rim
            const o = (base + off[j]) << 2, f = w[j] * a;
            const p0 = px[o], p1 = px[o + 1], p2 = px[o + 2], p3 = px[o + 3];
            px[o] = p0 + (r - p0) * f + 0.5;
            px[o + 1] = p1 + (g - p1) * f + 0.5;
            px[o + 2] = p2 + (b - p2) * f + 0.5;
            px[o + 3] = p3 + (255 - p3) * f + 0.5;
          }
          continue;
        }
        const rim = m.rim, dxs = m.dx, dys = m.dy;
        for (let j = 0; j < count; j++) {
          const X = ix + dxs[j], Y = iy + dys[j];
          if (X < 0 || Y < 0 || X >= W || Y >= H) continue;
          const o = (base + off[j]) << 2, f = w[j] * a, e = rim[j];
          const p0 = px[o], p1 = px[o + 1], p2 = px[o + 2], p3 = px[o + 3];
          px[o] = p0 + (r + rr * e - p0) * f + 0.5;
          px[o + 1] = p1 + (g + rg * e - p1) * f + 0.5;
          px[o + 2] = p2 + (b + rb * e - p2) * f + 0.5;
          px[o + 3] = p3 + (255 - p3) * f + 0.5;
        }
      }
      if (!opaque) {   // ImageData is not premultiplied
        for (let o = 0; o < px.length; o += 4) {
          const A = px[o + 3];
          if (A === 0 || A === 255) continue;
          const u = 255 / A;
          px[o] = Math.min(255, px[o] * u + 0.5);
          px[o + 1] = Math.min(255, px[o + 1] * u + 0.5);
          px[o + 2] = Math.min(255, px[o + 2] * u + 0.5);
        }
      }
      this.ctx.putImageData(this.image, 0, 0);
    }

    destroy() { this.canvas.remove(); }
  }

  Object.assign(S, { SOFT_MIN_POINTS, SOFT_MAX_DOT, isSoftwareGL, SoftDots });
})();
