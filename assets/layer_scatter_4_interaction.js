/*
 * Deepling.LayerScatter, part 4 of 6: the view and interaction (pan, zoom, box and lasso
 * selection, hover) and picking points under the cursor (CPU, screen space). Methods of
 * LayerScatter, written as a class whose methods part 6 copies onto it.
 */
(function () {
  'use strict';

  const Deepling = (window.Deepling = window.Deepling || {});
  const S = (Deepling.scatterParts = Deepling.scatterParts || {});  // the renderer's parts, shared
  const { DRAG_PX, ZOOM_MIN, ZOOM_MAX, Q, PASSES, clamp } = S;

  class Interaction {
    // ---- view and interaction -----------------------------------------------------------------

    resetView() {
      this._view = { cx: 0, cy: 0, zoom: 1 };
      this._requestDraw();
    }

    setMode(mode) {
      if (!['pan', 'box', 'lasso'].includes(mode)) throw new Error('LayerScatter: unknown mode ' + mode);
      this._mode = mode;
      this._updateCursor();
    }

    _interrupt() { this.pause(); }

    _local(e) {
      const r = this.canvas.getBoundingClientRect();
      return { x: e.clientX - r.left, y: e.clientY - r.top, left: r.left, top: r.top };
    }

    _onWheel(e) {
      e.preventDefault();
      this._interrupt();
      const p = this._local(e);
      // normalise line/page deltas to pixels
      const dy = e.deltaY * (e.deltaMode === 1 ? 16 : e.deltaMode === 2 ? this._h : 1);
      const v = this._view, k0 = this._scale();
      const x = v.cx + (p.x - this._w / 2) / k0, y = v.cy - (p.y - this._h / 2) / k0;
      v.zoom = clamp(v.zoom * Math.exp(-dy * 0.0015), ZOOM_MIN, ZOOM_MAX);
      const k1 = this._scale();
      // keep the data point under the cursor fixed
      v.cx = x - (p.x - this._w / 2) / k1;
      v.cy = y + (p.y - this._h / 2) / k1;
      this._requestDraw();
      this._hoverAt(p.x, p.y);
    }

    _onDown(e) {
      // one primary button/finger drives a drag; a second finger must not restart it
      if (e.button !== 0 || !e.isPrimary || this._drag || !this._data) return;
      this._interrupt();
      const p = this._local(e);
      const mode = e.shiftKey ? 'box' : e.altKey ? 'lasso' : this._mode;
      this._drag = { mode, x0: p.x, y0: p.y, x: p.x, y: p.y, moved: false, path: [[p.x, p.y]],
        cx0: this._view.cx, cy0: this._view.cy };
      this.canvas.setPointerCapture(e.pointerId);
      e.preventDefault();
    }

    _onMove(e) {
      const p = this._local(e);
      const d = this._drag;
      if (!d) {
        this._pointer = p;
        this._hoverAt(p.x, p.y);
        return;
      }
      d.x = p.x; d.y = p.y;
      if (!d.moved && Math.hypot(p.x - d.x0, p.y - d.y0) < DRAG_PX) return;
      if (!d.moved) { d.moved = true; this._setHover(null, e.clientX, e.clientY); this._updateCursor(); }
      if (d.mode === 'pan') {
        const k = this._scale();
        this._view.cx = d.cx0 - (p.x - d.x0) / k;
        this._view.cy = d.cy0 + (p.y - d.y0) / k;
        this._requestDraw();
      } else {
        const last = d.path[d.path.length - 1];
        if (Math.hypot(p.x - last[0], p.y - last[1]) >= 2) d.path.push([p.x, p.y]);
        this._drawOverlay(d);
      }
    }

    _onUp(e) {
      const d = this._drag;
      if (!d) return;
      this._drag = null;
      if (this.canvas.hasPointerCapture(e.pointerId)) this.canvas.releasePointerCapture(e.pointerId);
      this._updateCursor();
      const p = this._local(e);
      if (!d.moved) {
        const idx = this._pick(p.x, p.y);
        if (idx == null && this._data.selected) {
          this.setSelection(null);
          if (this.opts.onSelect) this.opts.onSelect(null);
        }
        if (this.opts.onClick) this.opts.onClick(idx);
        return;
      }
      if (d.mode === 'pan') return;
      this._clearOverlay();
      const idx = d.mode === 'box' ? this._selectBox(d) : this._selectLasso(d.path);
      const sel = idx.length ? idx : null;
      this.setSelection(sel);
      if (this.opts.onSelect) this.opts.onSelect(sel);
    }

    _updateCursor() {
      if (!this.canvas) return;
      const d = this._drag;
      const mode = d ? d.mode : this._mode;
      let cursor = mode === 'pan' ? 'grab' : 'crosshair';
      if (d && d.moved && mode === 'pan') cursor = 'grabbing';
      else if (!d && this._hover) cursor = 'pointer';
      this.canvas.style.cursor = cursor;
    }

    _drawOverlay(d) {
      const ctx = this.overlay.getContext('2d');
      ctx.setTransform(this._dpr, 0, 0, this._dpr, 0, 0);
      ctx.clearRect(0, 0, this._w, this._h);
      ctx.beginPath();
      if (d.mode === 'box') {
        ctx.rect(Math.min(d.x0, d.x), Math.min(d.y0, d.y), Math.abs(d.x - d.x0), Math.abs(d.y - d.y0));
      } else {
        d.path.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
        ctx.closePath();
      }
      ctx.fillStyle = 'rgba(78, 121, 167, 0.10)';
      ctx.fill();
      ctx.setLineDash([4, 3]);
      ctx.lineWidth = 1;
      ctx.strokeStyle = 'rgba(30, 34, 40, 0.8)';
      ctx.stroke();
    }

    _clearOverlay() {
      const ctx = this.overlay.getContext('2d');
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.clearRect(0, 0, this.overlay.width, this.overlay.height);
    }

    // ---- picking (CPU, screen space) ------------------------------------------------------------

    // Positions at the current t, computed only when a pointer needs them.
    _positionsNow() {
      const d = this._data;
      if (this._interpKey === this._t && this._interpData === d) return this._interp;
      const { lo, hi, mix } = this._layerPair();
      const len = d.n * 2, P = d.positions, a = lo * len, b = hi * len, k = 2 / Q;
      if (!this._interp || this._interp.length !== len) this._interp = new Float32Array(len);
      const out = this._interp;
      for (let i = 0; i < len; i++) out[i] = (P[a + i] + (P[b + i] - P[a + i]) * mix) * k - 1;
      this._interpKey = this._t;
      this._interpData = d;
      return out;
    }

    // Where point i is drawn now, in client px ([x, y]), or null without data.
    screenPosition(i) {
      const d = this._data;
      if (!d || i < 0 || i >= d.n) return null;
      const pos = this._positionsNow(), f = this._toScreenFn(), r = this.canvas.getBoundingClientRect();
      return [r.left + f.sx(pos[2 * i]), r.top + f.sy(pos[2 * i + 1])];
    }

    // Screen (CSS px, canvas-local) of every point as a function of the current view.
    _toScreenFn() {
      const k = this._scale(), v = this._view, w2 = this._w / 2, h2 = this._h / 2;
      return { k, sx: (x) => w2 + (x - v.cx) * k, sy: (y) => h2 - (y - v.cy) * k };
    }

    // The front pass decides how a point is hit: within a disc around a dot's centre, or
    // inside a thumbnail's square.
    _pick(x, y) {
      const d = this._data;
      if (!d || !d.n) return null;
      const pass = PASSES.find((p) => p.pick && p.active(this));
      if (!pass) return null;
      const pos = this._positionsNow();
      const k = this._scale(), v = this._view;
      // compare in data units: one transform of the cursor instead of n transforms of points
      const mx = v.cx + (x - this._w / 2) / k, my = v.cy - (y - this._h / 2) / k;
      const r = pass.pick.radius(this) / k, square = pass.pick.shape === 'square';
      let best = null, bestD = square ? Infinity : r * r;
      const colors = d.colors, hidden = this._hidden;
      for (let i = 0; i < d.n; i++) {
        if (hidden[colors[i]]) continue;
        const dx = pos[2 * i] - mx, dy = pos[2 * i + 1] - my;
        if (square && (Math.abs(dx) > r || Math.abs(dy) > r)) continue;
        // squares: the last drawn (the one on top) wins; discs: the nearest, ties to the top
        const dd = square ? 0 : dx * dx + dy * dy;
        if (dd <= bestD) { bestD = dd; best = i; }
      }
      return best;
    }

    _hoverAt(x, y) {
      const r = this.canvas.getBoundingClientRect();
      const idx = this._pick(x, y);
      if (idx == null) { this._setHover(null, r.left + x, r.top + y); return; }
      const pos = this._positionsNow(), f = this._toScreenFn();
      this._setHover(idx, r.left + f.sx(pos[2 * idx]), r.top + f.sy(pos[2 * idx + 1]));
    }

    _setHover(idx, cx, cy) {
      const h = this._hover;
      if (idx == null) {
        if (!h) return;
        this._hover = null;
        this._updateCursor();
        if (this.opts.onHover) this.opts.onHover(null, cx, cy);
        return;
      }
      // re-announce when the point moved under the cursor (playing, zooming) so tooltips follow
      if (h && h.idx === idx && Math.abs(h.x - cx) < 1 && Math.abs(h.y - cy) < 1) return;
      this._hover = { idx, x: cx, y: cy };
      this._updateCursor();
      if (this.opts.onHover) this.opts.onHover(idx, cx, cy);
    }

    _visibleScreenPoints(fn) {
      const d = this._data, pos = this._positionsNow(), f = this._toScreenFn();
      for (let i = 0; i < d.n; i++) {
        if (this._hidden[d.colors[i]]) continue;
        fn(i, f.sx(pos[2 * i]), f.sy(pos[2 * i + 1]));
      }
    }

    _selectBox(d) {
      const x0 = Math.min(d.x0, d.x), x1 = Math.max(d.x0, d.x);
      const y0 = Math.min(d.y0, d.y), y1 = Math.max(d.y0, d.y);
      const out = [];
      this._visibleScreenPoints((i, x, y) => { if (x >= x0 && x <= x1 && y >= y0 && y <= y1) out.push(i); });
      return out;
    }

    _selectLasso(path) {
      if (path.length < 3) return [];
      let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
      for (const [x, y] of path) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
      const out = [], m = path.length;
      this._visibleScreenPoints((i, x, y) => {
        if (x < x0 || x > x1 || y < y0 || y > y1) return;
        // even-odd ray casting
        let inside = false;
        for (let a = 0, b = m - 1; a < m; b = a++) {
          const ya = path[a][1], yb = path[b][1];
          if ((ya > y) !== (yb > y) && x < (path[b][0] - path[a][0]) * (y - ya) / (yb - ya) + path[a][0]) inside = !inside;
        }
        if (inside) out.push(i);
      });
      return out;
    }
  }

  S.Interaction = Interaction;  // its methods become LayerScatter's (part 6)
})();
