/*
 * Deepling.LayerScatter, part 6 of 6: the scatter (data, layers and the play loop, drawing).
 * Parts 1-5 (layer_scatter_1_shaders.js … layer_scatter_5_png.js) load first.
 *
 * Deepling.LayerScatter — WebGL renderer for the layer animation.
 *
 * Draws one 2-D projection per network layer and morphs between consecutive layers on
 * the GPU: every layer's positions sit in one vertex buffer (uint16, 4 bytes a point and
 * layer) and the vertex shader mixes the two around the current fractional layer, so a
 * frame costs a few uniforms and attribute offsets, never an upload. Points are drawn as
 * round dots or as their own images (thumbnails from a texture atlas).
 * Plain ES2017, no build step; Dash loads it as a classic script from assets/, and a
 * static page (report, notebook) can inline it.
 *
 * Mount on a container with a Python payload (deepling/web/wire.py):
 *
 *   const data = Deepling.unpack(payload);     // typed arrays, by the payload's own encoding
 *   const s = new Deepling.LayerScatter(containerElement, {
 *     onHover(idx, clientX, clientY) {},  // idx|null; x/y = the point's centre in client px
 *                                          // (mouse position when idx is null). Fired when the
 *                                          // hovered point changes or moves (e.g. while playing).
 *     onClick(idx) {},                     // idx|null (null: empty space; also clears a selection)
 *     onSelect(indices) {},                // Array of indices from box/lasso, or null when cleared
 *     onFrame(t) {},                       // every animation frame while playing
 *     onPlayState(playing) {},             // play()/pause(), including pauses caused by the user
 *     pointSize: null,   // CSS px; default shrinks with the point count (≈6.6 @1k, 4 @10k, 2.8 @50k)
 *     thumbnailSize: null, // CSS px at zoom 1; default ≈50 @10, 25 @100, 13 @1k, 8 @10k; follows zoom
 *     opacity: null,     // default 0.79 @1k … 0.67 @50k (dots; thumbnails are opaque)
 *     background: null,  // clear colour ('#fff', [r,g,b(,a)]); null = transparent (container shows)
 *     padding: 0.05,     // fraction of the shorter side left around the [-1,1] square
 *     softwareDots: 'auto', // draw dots on a 2-D canvas by a plain loop instead of WebGL points:
 *                        // 'auto' = 20,000 or more small dots on software WebGL (no GPU); true; false
 *   });
 *   s.setData({n: data.n, nLayers: data.nLayers, positions: data.positions,
 *              colors: data.labels, palette: data.palette});
 *
 * Point i of the data is point i everywhere (colours, marks, atlas tile, events).
 *
 *   s.setData({n, nLayers,
 *              positions,   // nLayers*n*2 values, layer-major, x then y, coords in [-1,1]:
 *                           //   Float32Array (or array), or Uint16Array quantised as
 *                           //   x = q * 2/65535 - 1 (the payload's own encoding, kept as is)
 *              colors,      // Uint8Array or Uint16Array n: palette index per point (default 0)
 *              palette,     // any number of colours (≤65,536), [r,g,b] 0..255 or '#rrggbb';
 *                           // omitted = keep current; indices without a colour (e.g. the
 *                           // payload's unknown code) are grey
 *              marks},      // optional Uint8Array n: 1 = misclassified (dots: dark rim;
 *                           // thumbnails: thicker border and a corner flag)
 *                           // palette/colours may be plain arrays (e.g. from Dash JSON)
 *            {keepView})    // keepView: true keeps zoom/pan (default: resetView)
 *   s.setLayer(t)            // fractional layer in [0, nLayers-1] (clamped); does not pause play
 *   s.getLayer()
 *   s.setColors(colors) / s.setMarks(marks|null) / s.setPalette(palette)
 *   s.setHiddenClasses([k…]) // legend toggles: hidden classes are neither drawn nor pickable
 *   s.setHighlight(idx|null) // the selected image: larger, outlined, drawn on top (even if hidden)
 *   s.setSelection(indices|null) // dims everything else; [] dims all; null clears
 *   s.setAtlas({image, tile, columns}|null) // thumbnails: tile i (row-major, `columns` a row,
 *                           // `tile` px square) is point i's image; image = <img>, canvas,
 *                           // ImageBitmap or {width, height, data: Uint8Array RGBA}
 *   s.setStyle('dots'|'thumbnails'); s.getStyle()  // thumbnails draw dots until an atlas is set
 *   s.play({speed: layersPerSecond (1), loop: 'bounce'|'repeat'|'once'}); s.pause(); s.isPlaying()
 *       Any drag, wheel or click on the plot pauses. 'once' stops at the last layer.
 *   s.setMode('pan'|'box'|'lasso') — what a plain drag does; shift+drag = box, alt+drag = lasso
 *   s.resetView()            // also on double-click; wheel zooms around the cursor
 *   s.toPNG({background: '#fff'}) -> PNG data URL (background null keeps transparency)
 *   s.resize()               // automatic (ResizeObserver, devicePixelRatio changes); for odd cases
 *   s.stats() -> {fps, frames, t, playing, style, thumbnails}  // fps = frames drawn in the last
 *                           // second; thumbnails: whether they are drawn (the atlas is in)
 *   s.screenPosition(i) -> [clientX, clientY] of point i as drawn now (null without data)
 *   s.destroy()
 *   s.webgl                  // 2, 1, or 0 when unavailable (a message replaces the plot)
 *
 * Rendering happens only on demand (one requestAnimationFrame per change) or while playing,
 * so an idle plot costs no CPU. The container needs a size (e.g. height: 480px).
 *
 * What is drawn is a list of render passes (PASSES below): each names its program, the
 * uniforms it sets, when it is active, what it draws and how points are picked under the
 * cursor. A new way to draw points is one more entry there. On WebGL without a GPU, many
 * small dots are drawn by SoftDots on a 2-D canvas under the WebGL one (see there why).
 */
(function () {
  'use strict';

  const Deepling = (window.Deepling = window.Deepling || {});
  const S = (Deepling.scatterParts = Deepling.scatterParts || {});  // the renderer's parts, shared
  const { PALETTE_SIZE, UNSET_GREY, MAX_TILES, UPLOAD_MS, ATTRIBUTES, PROGRAMS, PASSES, clamp, parseColor, toTyped, toColors, toPositions, link, SOFT_MIN_POINTS, SOFT_MAX_DOT, isSoftwareGL, SoftDots } = S;

  class LayerScatter {
    constructor(container, options) {
      if (!container || !container.appendChild) throw new Error('LayerScatter: container element required');
      this.container = container;
      this.opts = Object.assign({
        onHover: null, onClick: null, onSelect: null, onFrame: null, onPlayState: null,
        pointSize: null, thumbnailSize: null, opacity: null, background: null, padding: 0.05,
        softwareDots: 'auto',
      }, options || {});
      this._data = null;
      this._t = 0;
      this._mode = 'pan';
      this._view = { cx: 0, cy: 0, zoom: 1 };
      this._w = 1; this._h = 1; this._dpr = 1;
      this._hidden = new Uint8Array(PALETTE_SIZE);
      this._highlight = null;
      this._style = 'dots';
      this._atlas = null;          // {image, tile, columns, width, height, count}
      this._hover = null;          // {idx, x, y}
      this._pointer = null;        // last local pointer position while inside the canvas
      this._drag = null;
      this._playing = false;
      this._play = { speed: 1, loop: 'bounce', dir: 1, last: null };
      this._raf = 0;
      this._frames = 0;
      this._frameTimes = [];
      this._interp = null;         // cached interpolated positions for picking
      this._interpKey = null;
      this._listeners = [];
      this.webgl = 0;

      if (getComputedStyle(container).position === 'static') container.style.position = 'relative';
      this.canvas = this._makeCanvas('dl-scatter-canvas');
      this.overlay = this._makeCanvas('dl-scatter-overlay');
      this.overlay.style.pointerEvents = 'none';
      this.canvas.style.touchAction = 'none';

      this._tick = this._tick.bind(this);
      if (!this._createContext()) return;
      this._initResources();
      this._bindEvents();
      this._resizeObserver = typeof ResizeObserver !== 'undefined'
        ? new ResizeObserver(() => this.resize()) : null;
      if (this._resizeObserver) {
        // The device-pixel box also changes with devicePixelRatio (zoom, another screen),
        // which a CSS-box observer never reports; browsers without that box (Safari) throw.
        try { this._resizeObserver.observe(container, {box: 'device-pixel-content-box'}); }
        catch (e) { this._resizeObserver.observe(container); }
      } else this._listen(window, 'resize', () => this.resize());
      // Where only the CSS box can be observed, a devicePixelRatio change (window dragged to a
      // projector or a retina screen, browser zoom) would leave the canvas blurry. Browsers
      // also signal it through a resolution media query or a window resize, depending on the
      // cause; listening to those as well costs nothing (resize() skips a size it already has).
      this._listen(window, 'resize', () => { if ((window.devicePixelRatio || 1) !== this._dpr) this.resize(); });
      this.resize();
      this._watchPixelRatio();
      this._updateCursor();
    }

    _watchPixelRatio() {
      if (!window.matchMedia) return;
      const mq = window.matchMedia(`(resolution: ${window.devicePixelRatio || 1}dppx)`);
      const onChange = () => {
        mq.removeEventListener('change', onChange);
        if (!this.gl) return;
        this.resize();
        this._watchPixelRatio();
      };
      mq.addEventListener('change', onChange);
      this._unwatchPixelRatio = () => mq.removeEventListener('change', onChange);
    }

    // ---- setup ---------------------------------------------------------------------------

    _makeCanvas(cls) {
      const c = document.createElement('canvas');
      c.className = cls;
      // absolute so the canvas' pixel size never feeds back into the container's layout size
      Object.assign(c.style, { position: 'absolute', left: '0', top: '0', width: '100%',
        height: '100%', display: 'block' });
      this.container.appendChild(c);
      return c;
    }

    _createContext() {
      // antialias off: the fragment shader smooths the point edges, MSAA would only cost fill
      const attrs = { alpha: true, premultipliedAlpha: true, antialias: false, depth: false,
        stencil: false, preserveDrawingBuffer: false };
      let gl = this.canvas.getContext('webgl2', attrs);
      let version = 2;
      if (!gl) {
        gl = this.canvas.getContext('webgl', attrs) || this.canvas.getContext('experimental-webgl', attrs);
        version = 1;
      }
      if (!gl) {
        this.canvas.remove();
        this.overlay.remove();
        const msg = document.createElement('div');
        msg.className = 'dl-scatter-message';
        msg.textContent = 'The layer animation needs WebGL, which this browser has disabled or does '
          + 'not support. Enabling hardware acceleration or using a current browser should help.';
        Object.assign(msg.style, { padding: '1em', color: '#555', font: '14px system-ui, sans-serif' });
        this.container.appendChild(msg);
        this._message = msg;
        return false;
      }
      this.gl = gl;
      this.webgl = version;
      this._softwareGL = isSoftwareGL(gl);
      this._softDots = new SoftDots(this.container, this.canvas);
      this._listen(this.canvas, 'webglcontextlost', (e) => { e.preventDefault(); this._cancelFrame(); });
      this._listen(this.canvas, 'webglcontextrestored', () => {
        this._initResources();
        if (this._data) this._uploadData();
        this._requestDraw();
      });
      return true;
    }

    _initResources() {
      const gl = this.gl;
      this._programs = {};
      for (const [key, spec] of Object.entries(PROGRAMS)) this._programs[key] = link(gl, spec);
      this._posBuf = gl.createBuffer();
      this._metaBuf = gl.createBuffer();
      // nearest: crisp pixels when zoomed in (as the app shows CIFAR images everywhere), and
      // the cheapest sample for a software rasteriser
      this._atlasTex = this._makeTexture(gl.NEAREST);
      this._paletteRGBA = this._paletteRGBA || this._buildPalette([]);
      if (this._atlas) this._uploadAtlas();
      gl.enable(gl.BLEND);
      gl.blendFunc(gl.ONE, gl.ONE_MINUS_SRC_ALPHA);
      gl.disable(gl.DEPTH_TEST);
      for (let i = 0; i < ATTRIBUTES.length; i++) gl.enableVertexAttribArray(i);
      this._maxPoint = gl.getParameter(gl.ALIASED_POINT_SIZE_RANGE)[1];
    }

    _makeTexture(filter) {
      const gl = this.gl, tex = gl.createTexture();
      gl.bindTexture(gl.TEXTURE_2D, tex);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, filter);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, filter);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
      return tex;
    }

    _listen(target, type, fn, opts) {
      target.addEventListener(type, fn, opts);
      this._listeners.push([target, type, fn, opts]);
    }

    _bindEvents() {
      const c = this.canvas;
      this._listen(c, 'pointerdown', (e) => this._onDown(e));
      this._listen(c, 'pointermove', (e) => this._onMove(e));
      this._listen(c, 'pointerup', (e) => this._onUp(e));
      this._listen(c, 'pointercancel', () => { this._drag = null; this._clearOverlay(); this._updateCursor(); });
      this._listen(c, 'pointerleave', (e) => {
        if (this._drag) return;
        this._pointer = null;
        this._setHover(null, e.clientX, e.clientY);
      });
      this._listen(c, 'wheel', (e) => this._onWheel(e), { passive: false });
      this._listen(c, 'dblclick', (e) => { e.preventDefault(); this._interrupt(); this.resetView(); });
    }

    // ---- data ----------------------------------------------------------------------------

    setData(d, options) {
      const n = d.n | 0, nLayers = d.nLayers | 0;
      if (n < 0 || nLayers < 1) throw new Error('LayerScatter: need n >= 0 and nLayers >= 1');
      const data = {
        n, nLayers,
        positions: toPositions(d.positions, n * nLayers * 2),
        colors: toColors(d.colors, n) || new Uint8Array(n),
        marks: toTyped(d.marks, Uint8Array, 'marks', n),
        selected: null,
      };
      this._data = data;
      if (d.palette) this._paletteRGBA = this._buildPalette(d.palette);
      // indices refer to the old point set, class-based hiding stays meaningful
      this._highlight = null;
      this._setHover(null);
      this._t = clamp(this._t, 0, nLayers - 1);
      this._interpKey = null;
      if (nLayers < 2) this.pause();
      if (!this.gl) return;
      this._uploadData();
      if (!(options && options.keepView)) this._view = { cx: 0, cy: 0, zoom: 1 };
      this._requestDraw();
    }

    // Every layer goes to the GPU once, in one buffer: a frame only moves attribute offsets.
    // Layers go up a few per task (60,000 points × 18 layers is 4.3 MB, one long task in a
    // single call); a frame that needs one before its turn sends it first.
    _uploadData() {
      const gl = this.gl, d = this._data;
      gl.bindBuffer(gl.ARRAY_BUFFER, this._posBuf);
      gl.bufferData(gl.ARRAY_BUFFER, Math.max(4, d.positions.byteLength), gl.STATIC_DRAW);
      this._onGPU = new Uint8Array(d.nLayers).fill(d.n ? 0 : 1);
      clearTimeout(this._uploading);
      const next = () => {
        this._uploading = 0;
        if (!this.gl || this._data !== d || this.gl.isContextLost()) return;
        const start = performance.now();
        for (let l = 0; l < d.nLayers && performance.now() - start < UPLOAD_MS; l++) this._ensureLayer(l);
        if (this._onGPU.indexOf(0) >= 0) this._uploading = setTimeout(next, 0);
      };
      next();
      this._meta = new Uint8Array(Math.max(1, d.n) * 8);
      gl.bindBuffer(gl.ARRAY_BUFFER, this._metaBuf);
      gl.bufferData(gl.ARRAY_BUFFER, this._meta.byteLength, gl.DYNAMIC_DRAW);
      this._writeMeta();
    }

    _ensureLayer(l) {
      const d = this._data, len = d.n * 2;
      if (this._onGPU[l] || !d.n) return;
      const gl = this.gl;
      gl.bindBuffer(gl.ARRAY_BUFFER, this._posBuf);
      gl.bufferSubData(gl.ARRAY_BUFFER, l * len * 2, d.positions.subarray(l * len, (l + 1) * len));
      this._onGPU[l] = 1;
    }

    // Two Uint8 vec4 per point: the class colour (alpha 0 when the class is hidden) and
    // (mark + 2·dimmed, atlas tile as two bytes). Recolouring, hiding or selecting re-sends
    // 8n bytes, positions stay untouched. Colours are looked up here rather than in the vertex
    // shader: a texture fetch per vertex is slow in software rasterisers.
    _writeMeta() {
      const d = this._data, m = this._meta, gl = this.gl;
      if (!d || !gl) return;
      const sel = d.selected, marks = d.marks, pal = this._paletteRGBA, hidden = this._hidden;
      for (let i = 0; i < d.n; i++) {
        const k = d.colors[i], o = 8 * i;
        m[o] = pal[4 * k]; m[o + 1] = pal[4 * k + 1]; m[o + 2] = pal[4 * k + 2];
        m[o + 3] = hidden[k] ? 0 : 255;
        m[o + 4] = (marks && marks[i] ? 1 : 0) + (sel && !sel[i] ? 2 : 0);
        m[o + 5] = i & 255;              // atlas tile: point i shows tile i
        m[o + 6] = (i >> 8) & 255;
      }
      gl.bindBuffer(gl.ARRAY_BUFFER, this._metaBuf);
      gl.bufferSubData(gl.ARRAY_BUFFER, 0, m);
      this._requestDraw();
    }

    _buildPalette(palette) {
      if (palette.length > PALETTE_SIZE) throw new Error(`LayerScatter: at most ${PALETTE_SIZE} palette colours`);
      const rgba = new Uint8Array(PALETTE_SIZE * 4).fill(UNSET_GREY);   // unknown classes
      palette.forEach((c, i) => { rgba.set(parseColor(c).slice(0, 3), 4 * i); });
      return rgba;
    }

    setColors(colors) {
      if (!this._data) return;
      this._data.colors = toColors(colors, this._data.n);
      this._writeMeta();
    }

    setMarks(marks) {
      if (!this._data) return;
      this._data.marks = toTyped(marks, Uint8Array, 'marks', this._data.n);
      this._writeMeta();
    }

    setPalette(palette) {
      this._paletteRGBA = this._buildPalette(palette);
      this._writeMeta();
    }

    setAtlas(atlas) {
      if (atlas == null) { this._atlas = null; this._requestDraw(); return; }
      const img = atlas.image;
      const width = img.naturalWidth || img.width, height = img.naturalHeight || img.height;
      const tile = atlas.tile | 0, columns = atlas.columns | 0;
      if (!(tile > 0 && columns > 0 && columns * tile <= width)) {
        throw new Error('LayerScatter: atlas needs tile > 0 and columns·tile within the image width');
      }
      this._atlas = { image: img, tile, columns, width, height,
        count: Math.min(MAX_TILES, columns * Math.floor(height / tile)) };
      if (this.gl) this._uploadAtlas();
      this._requestDraw();
    }

    _uploadAtlas() {
      const gl = this.gl, a = this._atlas;
      gl.bindTexture(gl.TEXTURE_2D, this._atlasTex);
      gl.pixelStorei(gl.UNPACK_PREMULTIPLY_ALPHA_WEBGL, false);
      if (a.image.data && !(a.image instanceof ImageData)) {
        gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA, a.width, a.height, 0, gl.RGBA, gl.UNSIGNED_BYTE,
          toTyped(a.image.data, Uint8Array, 'atlas data', a.width * a.height * 4));
      } else {
        gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA, gl.RGBA, gl.UNSIGNED_BYTE, a.image);
      }
    }

    setStyle(style) {
      if (!['dots', 'thumbnails'].includes(style)) throw new Error('LayerScatter: unknown style ' + style);
      this._style = style;
      if (this._hover) this._setHover(null);
      this._requestDraw();
    }

    getStyle() { return this._style; }

    // Short fading trails of each point's last positions (the trail passes in PASSES).
    setTrails(on) { this._trails = !!on; this._requestDraw(); }

    // Thumbnails need an atlas with a tile for every point; until then dots stand in.
    _thumbnailsOn() {
      return this._style === 'thumbnails' && this._atlas != null && this._data != null
        && this._atlas.count >= this._data.n;
    }

    // Dots drawn by SoftDots: by default only many small ones on software WebGL
    // (options.softwareDots: true always, false never).
    _softDotsOn() {
      const o = this.opts.softwareDots, d = this._data;
      if (o === false || !d || !d.n || !this._softDots || this._thumbnailsOn()) return false;
      return o === true || (this._softwareGL && d.n >= SOFT_MIN_POINTS
        && this._pointSizeCss() * this._dpr <= SOFT_MAX_DOT);
    }

    setHiddenClasses(classes) {
      this._hidden.fill(0);
      for (const k of classes || []) if (k >= 0 && k < PALETTE_SIZE) this._hidden[k] = 1;
      this._writeMeta();
      if (this._hover && this._isHidden(this._hover.idx)) this._setHover(null);
    }

    setHighlight(idx) {
      const n = this._data ? this._data.n : 0;
      this._highlight = idx != null && idx >= 0 && idx < n ? idx | 0 : null;
      this._requestDraw();
    }

    setSelection(indices) {
      const d = this._data;
      if (!d) return;
      if (indices == null) {
        d.selected = null;
      } else {
        d.selected = new Uint8Array(d.n);
        for (const i of indices) if (i >= 0 && i < d.n) d.selected[i] = 1;
      }
      this._writeMeta();
    }

    _isHidden(i) { return this._hidden[this._data.colors[i]] === 1; }

    // ---- layers and playback ---------------------------------------------------------------

    setLayer(t) {
      if (!this._data) return;
      const v = clamp(+t || 0, 0, this._data.nLayers - 1);
      if (v === this._t) return;
      this._t = v;
      this._requestDraw();
    }

    getLayer() { return this._t; }

    _layerPair() {
      const L = this._data.nLayers;
      if (L === 1) return { lo: 0, hi: 0, mix: 0 };
      const lo = Math.min(Math.floor(this._t), L - 2);
      return { lo, hi: lo + 1, mix: this._t - lo };
    }

    play(options) {
      if (!this._data || this._data.nLayers < 2 || !this.gl) return;
      const o = options || {};
      const p = this._play;
      if (o.speed != null) p.speed = Math.max(1e-3, +o.speed);
      if (o.loop != null) {
        if (!['bounce', 'repeat', 'once'].includes(o.loop)) throw new Error('LayerScatter: unknown loop ' + o.loop);
        p.loop = o.loop;
      }
      if (p.loop === 'once' && this._t >= this._data.nLayers - 1) this._t = 0;
      if (p.loop !== 'bounce') p.dir = 1;
      p.last = null;
      if (!this._playing) {
        this._playing = true;
        if (this.opts.onPlayState) this.opts.onPlayState(true);
      }
      this._requestDraw();
    }

    pause() {
      if (!this._playing) return;
      this._playing = false;
      if (this.opts.onPlayState) this.opts.onPlayState(false);
    }

    isPlaying() { return this._playing; }

    _advance(now) {
      const p = this._play, end = this._data.nLayers - 1;
      // cap the step so returning to a background tab does not jump several layers
      const dt = p.last == null ? 0 : Math.min(0.1, (now - p.last) / 1000);
      p.last = now;
      let t = this._t + p.dir * p.speed * dt;
      if (p.loop === 'bounce') {
        while (t > end || t < 0) {
          if (t > end) { t = 2 * end - t; p.dir = -1; } else { t = -t; p.dir = 1; }
        }
      } else if (p.loop === 'repeat') {
        if (t > end) t %= end;
      } else if (t >= end) {
        t = end;
        this.pause();
      }
      this._t = t;
    }

    // ---- drawing -------------------------------------------------------------------------------

    _requestDraw() {
      if (!this._raf && this.gl) this._raf = requestAnimationFrame(this._tick);
    }

    _cancelFrame() {
      if (this._raf) cancelAnimationFrame(this._raf);
      this._raf = 0;
    }

    _tick(now) {
      this._raf = 0;
      const playing = this._playing && this._data;
      if (playing) this._advance(now);
      this._render();
      if (playing) {
        if (this.opts.onFrame) this.opts.onFrame(this._t);
        // the point under a still cursor changes while the layout moves
        if (this._pointer && !this._drag) this._hoverAt(this._pointer.x, this._pointer.y);
        if (this._playing) this._requestDraw();
      }
    }

    _pointSizeCss() {
      const n = Math.max(1, this._data ? this._data.n : 1);
      const base = this.opts.pointSize || clamp(30 / Math.pow(n, 0.22), 2, 9);
      // grow a little when zoomed in so clusters open up instead of staying specks
      return base * clamp(Math.sqrt(this._view.zoom), 1, 3);
    }

    // Thumbnails follow the zoom more than dots: zooming in is how one looks at the pictures.
    _thumbSizeCss() {
      const n = Math.max(1, this._data ? this._data.n : 1);
      const base = this.opts.thumbnailSize || clamp(100 / Math.pow(n, 0.3), 8, 64);
      const size = base * clamp(Math.pow(this._view.zoom, 0.8), 0.5, 12);
      return Math.min(size, 256, this._maxPoint / this._dpr);
    }

    _opacity() {
      if (this.opts.opacity != null) return this.opts.opacity;
      const n = Math.max(1, this._data ? this._data.n : 1);
      return clamp(1.0 - 0.07 * Math.log10(n), 0.45, 0.9);
    }

    // CSS px per data unit
    _scale() {
      return 0.5 * Math.min(this._w, this._h) * (1 - 2 * this.opts.padding) * this._view.zoom;
    }

    _render() {
      const gl = this.gl;
      if (!gl || gl.isContextLost()) return;
      const now = performance.now();
      this._frames++;
      this._frameTimes.push(now);
      while (this._frameTimes[0] < now - 1000) this._frameTimes.shift();

      gl.viewport(0, 0, this.canvas.width, this.canvas.height);
      // with software dots the canvas under this one holds the background; while they are
      // all there is, this one stays as the last frame left it: clear, and not re-sent
      const soft = this._softDotsOn();
      this._softDots.show(soft);
      const active = PASSES.filter((p) => p.active(this));
      const glIdle = soft && active.every((p) => p.draw);
      if (!(glIdle && this._glBlank)) {
        const bg = this.opts.background == null || soft ? [0, 0, 0, 0] : parseColor(this.opts.background);
        const ba = bg[3] / 255;
        gl.clearColor(bg[0] / 255 * ba, bg[1] / 255 * ba, bg[2] / 255 * ba, ba);
        gl.clear(gl.COLOR_BUFFER_BIT);
      }
      this._glBlank = glIdle;
      const d = this._data;
      if (!d || d.n === 0) return;
      if (glIdle) { active.forEach((p) => p.draw(this)); return; }

      // the two layers around t are two offsets into the one position buffer
      const { lo, hi, mix } = this._layerPair();
      // the frames around t, and the two either side that the trail passes read
      for (let l = Math.max(0, lo - 2); l <= Math.min(d.nLayers - 1, hi + 2); l++) this._ensureLayer(l);
      gl.bindBuffer(gl.ARRAY_BUFFER, this._posBuf);
      gl.vertexAttribPointer(0, 2, gl.UNSIGNED_SHORT, true, 0, lo * d.n * 4);
      gl.vertexAttribPointer(1, 2, gl.UNSIGNED_SHORT, true, 0, hi * d.n * 4);
      gl.bindBuffer(gl.ARRAY_BUFFER, this._metaBuf);
      gl.vertexAttribPointer(2, 4, gl.UNSIGNED_BYTE, true, 8, 0);
      gl.vertexAttribPointer(3, 4, gl.UNSIGNED_BYTE, false, 8, 4);
      gl.activeTexture(gl.TEXTURE0);
      gl.bindTexture(gl.TEXTURE_2D, this._atlasTex);

      const k = this._scale(), v = this._view;
      const sx = 2 * k / this._w, sy = 2 * k / this._h;
      for (const pass of active) {
        if (pass.draw) { pass.draw(this); continue; }
        const { prog, u } = this._programs[pass.program];
        gl.useProgram(prog);
        gl.uniform1f(u.u_mix, mix);
        gl.uniform2f(u.u_scale, sx, sy);
        gl.uniform2f(u.u_offset, -v.cx * sx, -v.cy * sy);
        gl.uniform1f(u.u_px, this._dpr);
        pass.set(gl, u, this);
        const [first, count] = pass.range(this);
        gl.drawArrays(gl.POINTS, first, count);
      }
    }

    stats() {
      const now = performance.now();
      const recent = this._frameTimes.filter((x) => x >= now - 1000).length;
      return { fps: recent, frames: this._frames, t: this._t, playing: this._playing,
        style: this._style, thumbnails: this._thumbnailsOn() };
    }

    resize() {
      if (!this.gl) return;
      const w = Math.max(1, this.container.clientWidth), h = Math.max(1, this.container.clientHeight);
      const dpr = window.devicePixelRatio || 1;
      const W = Math.round(w * dpr), H = Math.round(h * dpr);
      this._w = w; this._h = h; this._dpr = dpr;
      if (this.canvas.width !== W || this.canvas.height !== H) {
        this.canvas.width = this.overlay.width = W;
        this.canvas.height = this.overlay.height = H;
        // resizing clears the canvas; redraw now rather than next frame to avoid a blank flash
        this._render();
      }
    }

    destroy() {
      this.pause();
      this._cancelFrame();
      clearTimeout(this._uploading);
      if (this._resizeObserver) this._resizeObserver.disconnect();
      if (this._unwatchPixelRatio) this._unwatchPixelRatio();
      for (const [target, type, fn, opts] of this._listeners) target.removeEventListener(type, fn, opts);
      this._listeners = [];
      const gl = this.gl;
      if (gl && !gl.isContextLost()) {
        [this._posBuf, this._metaBuf].forEach((b) => gl.deleteBuffer(b));
        gl.deleteTexture(this._atlasTex);
        Object.values(this._programs).forEach((p) => gl.deleteProgram(p.prog));
      }
      this.gl = null;
      this._data = null;
      if (this._softDots) this._softDots.destroy();
      [this.canvas, this.overlay, this._message].forEach((el) => el && el.remove());
    }
  }

  // the methods of parts 4 and 5 (interaction and picking, PNG) are LayerScatter's own
  for (const part of [S.Interaction, S.Png]) {
    for (const name of Object.getOwnPropertyNames(part.prototype)) {
      if (name !== 'constructor') {
        Object.defineProperty(LayerScatter.prototype, name,
                              Object.getOwnPropertyDescriptor(part.prototype, name));
      }
    }
  }

  Deepling.LayerScatter = LayerScatter;
})();
