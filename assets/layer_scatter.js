/*
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
 * Mount on a container with a Python payload (deepling/web/views/payload.py):
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

  const PALETTE_SIZE = 65536;     // colours are Uint8 or Uint16 indices (a class per colour, any number)
  const DIM_ALPHA = 0.2;          // unselected points while a selection is active: faint context
  const DRAG_PX = 4;              // movement before a press becomes a drag instead of a click
  const ZOOM_MIN = 0.2, ZOOM_MAX = 500;
  const UNSET_GREY = 160;         // palette entries nobody set (unknown classes)
  const Q = 65535;                // uint16 positions: x = q * 2/Q - 1
  const MAX_TILES = 65536;        // the tile index travels in two bytes
  const UPLOAD_MS = 8;            // time per task for sending layer positions to the GPU

  // Shaders are written in GLSL ES 1.00 for WebGL1; toGLSL3() adapts them for WebGL2.
  // Varyings are declared `flat varying` (one value for the whole point: cheaper for
  // software rasterisers, which interpolate every varying per fragment) or plain `varying`
  // (interpolated); WebGL1 has no flat, so there every varying is smooth, which gives the
  // same picture for a point sprite. Software rasterisers (SwiftShader on machines without
  // a GPU) spend most of a frame in the fragment shader, so fragment shaders are kept free of
  // branches, discard and sqrt; everything per point is worked out in the vertex shader.
  // Every program reads the same vertex layout (ATTRIBUTES), at fixed locations.
  const ATTRIBUTES = ['a_from', 'a_to', 'a_color', 'a_meta'];
  const VERTEX_COMMON = `
precision highp float;
attribute vec2 a_from;       // layer lo, uint16 normalised to 0..1
attribute vec2 a_to;         // layer lo + 1
attribute vec4 a_color;      // class colour, alpha 0 = class hidden (normalised bytes)
attribute vec4 a_meta;       // flags (1 mark + 2 dimmed), tile low byte, tile high byte, unused
uniform float u_mix;
uniform vec2 u_scale;
uniform vec2 u_offset;
uniform mediump float u_px;  // device px per CSS px (mediump: fragment shaders share it)
vec4 classColor() { return a_color; }
vec4 position() { return vec4((mix(a_from, a_to, u_mix) * 2.0 - 1.0) * u_scale + u_offset, 0.0, 1.0); }
float isMarked() { return mod(a_meta.x, 2.0); }
float isDimmed() { return step(1.5, a_meta.x); }
`;

  const DOT_VERT = VERTEX_COMMON + `
uniform float u_size;        // diameter, device px
uniform float u_alpha;
uniform float u_dim;
flat varying vec4 v_color;   // core colour, opacity
flat varying vec3 v_shape;   // edge slope, rim start and rim slope in units of q = (r/R)^2
void main() {
  vec4 pal = classColor();
  gl_Position = position();
  float mark = isMarked();
  // misclassified points are a little bigger so their dark rim stays visible
  float size = u_size * (1.0 + 0.25 * mark) + mark * u_px;
  if (pal.a < 0.5) { gl_Position = vec4(2.0, 2.0, 2.0, 1.0); size = 1.0; }  // hidden: clipped away
  gl_PointSize = size;
  float R = 0.5 * size;
  float inner = max(R - max(u_px, 0.3 * R), 0.1 * R);
  // near the edge R - r ~ (R/2)(1 - q) and r - inner ~ (q - qi) R^2 / (2 inner): both in pixels
  v_shape = vec3(0.5 * R, mark > 0.5 ? (inner * inner) / (R * R) : 8.0, R * R / (2.0 * inner));
  v_color = vec4(mix(pal.rgb, vec3(1.0), 0.4 * mark), u_alpha * mix(1.0, u_dim, isDimmed()));
}`;

  const DOT_FRAG = `
precision mediump float;
flat varying vec4 v_color;
flat varying vec3 v_shape;
void main() {
  vec2 d = gl_PointCoord - 0.5;
  float q = 4.0 * dot(d, d);
  float cover = clamp(v_shape.x * (1.0 - q) + 0.5, 0.0, 1.0);       // 1-px anti-aliased edge
  float rim = clamp((q - v_shape.y) * v_shape.z + 0.5, 0.0, 1.0);  // 0 unless marked
  // the rim is the class colour at half brightness; undo the core's 40 % lightening to get it
  vec3 col = mix(v_color.rgb, (v_color.rgb - 0.4) / 1.2, rim);
  float a = v_color.a * cover;
  gl_FragColor = vec4(col * a, a);                                  // premultiplied alpha
}`;

  // The highlighted dot: drawn alone, on top, opaque, even if its class is hidden.
  const RING_VERT = VERTEX_COMMON + `
uniform mediump float u_size; // shared with the fragment shader, so the precisions must match
flat varying vec3 v_rgb;
void main() {
  gl_Position = position();
  gl_PointSize = u_size;
  v_rgb = classColor().rgb;
}`;

  const RING_FRAG = `
precision mediump float;
uniform mediump float u_size;
uniform mediump float u_px;
flat varying vec3 v_rgb;
void main() {
  float R = 0.5 * u_size;
  float r = length(gl_PointCoord - 0.5) * u_size;
  float cover = clamp(R - r + 0.5, 0.0, 1.0);
  // class-coloured core, white gap, near-black outline
  float inGap = clamp(r - (R - 4.0 * u_px) + 0.5, 0.0, 1.0);
  float inOutline = clamp(r - (R - 2.0 * u_px) + 0.5, 0.0, 1.0);
  vec3 col = mix(mix(v_rgb, vec3(1.0), inGap), vec3(0.11, 0.12, 0.14), inOutline);
  gl_FragColor = vec4(col, 1.0) * cover;
}`;

  // Thumbnails: each point a square sprite of its atlas tile, framed in its class colour.
  // The highlighted one is the same program drawn again, bigger, with a dark frame.
  const THUMB_VERT = VERTEX_COMMON + `
uniform float u_size;        // side, device px
uniform float u_dim;
uniform float u_border;      // frame width, device px (doubled for errors)
uniform float u_highlight;   // 1: the highlighted point (dark frame, never dimmed or hidden)
uniform vec2 u_grid;         // atlas columns, tile side in atlas px
flat varying vec4 v_frame;   // frame colour, frame width as a fraction of the side
flat varying vec4 v_tile;    // tile origin in atlas px, mark, opacity
void main() {
  vec4 pal = classColor();
  gl_Position = position();
  float mark = isMarked();
  float size = u_size;
  if (pal.a < 0.5 && u_highlight < 0.5) { gl_Position = vec4(2.0, 2.0, 2.0, 1.0); size = 1.0; }
  gl_PointSize = size;
  float tile = a_meta.y + 256.0 * a_meta.z;
  float row = floor((tile + 0.5) / u_grid.x);
  v_tile = vec4((tile - row * u_grid.x) * u_grid.y, row * u_grid.y, mark,
                mix(mix(1.0, u_dim, isDimmed()), 1.0, u_highlight));
  vec3 frame = mix(pal.rgb, vec3(0.11, 0.12, 0.14), u_highlight);
  v_frame = vec4(frame, u_border * (1.0 + mark + u_highlight) / size);
}`;

  const THUMB_FRAG = `
precision highp float;       // atlas coordinates of 10,000 tiles need more than mediump
uniform sampler2D u_atlas;
uniform vec2 u_grid;
uniform vec2 u_atlasSize;    // atlas width, height in px
flat varying vec4 v_frame;
flat varying vec4 v_tile;
void main() {
  vec2 pc = gl_PointCoord;
  // stay half a texel inside the tile so rounding never reads the neighbour
  vec2 texel = v_tile.xy + clamp(pc * u_grid.y, 0.5, u_grid.y - 0.5);
  vec3 img = texture2D(u_atlas, texel / u_atlasSize).rgb;
  vec2 e = min(pc, 1.0 - pc);
  float frame = step(min(e.x, e.y), v_frame.w);
  // errors: a dark red corner flag, top right
  float flag = v_tile.z * step(0.62, pc.x - pc.y);
  vec3 col = mix(mix(img, v_frame.rgb, frame), vec3(0.72, 0.07, 0.09), flag);
  gl_FragColor = vec4(col * v_tile.w, v_tile.w);                    // premultiplied alpha
}`;

  // Trails (one pass per sample, drawn before the dots): each point's position a little
  // earlier along its path, as a smaller, fainter dot. The path is read straight from the one
  // position buffer: a_from/a_to are the frames around t, a_back1/a_back2 the two frames
  // before them (after them while playing backwards), so a trail reaches up to two frames
  // back with no upload and no per-point work on the CPU. Fragment shader: DOT_FRAG.
  const TRAIL_VERT = VERTEX_COMMON + `
attribute vec2 a_back1;
attribute vec2 a_back2;
uniform float u_at;          // the sample's time in frames after the first of the four frames
uniform float u_order;       // 1: back2, back1, from, to (forwards); 0: from, to, back1, back2
uniform float u_size;
uniform float u_alpha;
uniform float u_dim;
flat varying vec4 v_color;
flat varying vec3 v_shape;
void main() {
  vec4 pal = classColor();
  bool fwd = u_order > 0.5;
  vec2 p0 = fwd ? a_back2 : a_from, p1 = fwd ? a_back1 : a_to;
  vec2 p2 = fwd ? a_from : a_back1, p3 = fwd ? a_to : a_back2;
  float s = clamp(u_at, 0.0, 3.0);
  vec2 q = s < 1.0 ? mix(p0, p1, s) : (s < 2.0 ? mix(p1, p2, s - 1.0) : mix(p2, p3, s - 2.0));
  gl_Position = vec4((q * 2.0 - 1.0) * u_scale + u_offset, 0.0, 1.0);
  float size = u_size;
  if (pal.a < 0.5) { gl_Position = vec4(2.0, 2.0, 2.0, 1.0); size = 1.0; }
  gl_PointSize = size;
  v_shape = vec3(0.25 * size, 8.0, 1.0);   // plain disc, no rim
  v_color = vec4(pal.rgb, u_alpha * mix(1.0, u_dim, isDimmed()));
}`;

  const COMMON_UNIFORMS = ['u_mix', 'u_scale', 'u_offset', 'u_px'];

  // What a frame draws, in order. program: key into PROGRAMS; active(s): whether it draws
  // now; range(s): [first, count] of points; set(gl, u, s): its own uniforms; pick: how
  // the cursor finds a point when this pass is the front one (shape and radius in CSS px).
  const PROGRAMS = {
    dot: { vert: DOT_VERT, frag: DOT_FRAG, uniforms: ['u_size', 'u_alpha', 'u_dim'] },
    ring: { vert: RING_VERT, frag: RING_FRAG, uniforms: ['u_size'] },
    thumb: { vert: THUMB_VERT, frag: THUMB_FRAG, uniforms: ['u_size', 'u_dim', 'u_border', 'u_highlight',
      'u_grid', 'u_atlas', 'u_atlasSize'] },
    trail: { vert: TRAIL_VERT, frag: DOT_FRAG, uniforms: ['u_at', 'u_order', 'u_size', 'u_alpha', 'u_dim'] },
  };

  // Trails: setTrails(true) draws TRAIL_STEPS samples over the last TRAIL_SPAN frames of each
  // point's path (behind the direction of play), the oldest smallest and faintest. Every
  // sample costs a software rasteriser about as much as the dots themselves, so at most
  // TRAIL_POINTS points get a trail: all of them up to that many, beyond it the first ones
  // in buffer order, which the payload's fixed shuffle makes a random sample.
  const TRAIL_STEPS = 6, TRAIL_SPAN = 1.2, TRAIL_POINTS = 2000;
  const TRAIL_ATTRIBUTES = ['a_back1', 'a_back2'];

  function trailsOn(s) {
    if (s._trails && s._data && s._data.nLayers > 1) return true;
    // off: the extra attribute arrays must not stay enabled with offsets into stale data
    const p = s.gl && s._programs && s._programs.trail;
    if (p && p.back) { p.back.forEach((loc) => loc >= 0 && s.gl.disableVertexAttribArray(loc)); p.back = null; }
    return false;
  }

  function trailUniforms(gl, u, s, k) {
    const d = s._data, L = d.nLayers, p = s._programs.trail;
    const dir = s._playing ? s._play.dir : 1;
    const { lo } = s._layerPair();
    const at = clamp(s._t - dir * TRAIL_SPAN * k / TRAIL_STEPS, 0, L - 1);
    // forwards the four frames are lo-2 … lo+1, backwards lo … lo+3 (clamped at the ends)
    const base = dir > 0 ? lo - 2 : lo;
    const back = dir > 0 ? [lo - 1, lo - 2] : [lo + 2, lo + 3];
    if (!p.back) p.back = TRAIL_ATTRIBUTES.map((name) => gl.getAttribLocation(p.prog, name));
    gl.bindBuffer(gl.ARRAY_BUFFER, s._posBuf);
    p.back.forEach((loc, j) => {
      if (loc < 0) return;
      gl.enableVertexAttribArray(loc);
      gl.vertexAttribPointer(loc, 2, gl.UNSIGNED_SHORT, true, 0, clamp(back[j], 0, L - 1) * d.n * 4);
    });
    gl.uniform1f(u.u_at, at - base);
    gl.uniform1f(u.u_order, dir > 0 ? 1 : 0);
    const f = 1 - k / (TRAIL_STEPS + 1);            // 1 near the point, → 0 at the oldest sample
    const size = Math.min(s._pointSizeCss() * s._dpr, s._maxPoint);
    gl.uniform1f(u.u_size, Math.max(1.5 * s._dpr, size * (0.35 + 0.5 * f)));
    gl.uniform1f(u.u_alpha, s._opacity() * 0.55 * f);
    gl.uniform1f(u.u_dim, DIM_ALPHA);
  }

  function thumbUniforms(gl, u, s, highlight) {
    const a = s._atlas;
    const size = s._thumbSizeCss() * s._dpr;
    gl.uniform1f(u.u_size, Math.min(highlight ? size * 1.5 + 8 * s._dpr : size, s._maxPoint));
    gl.uniform1f(u.u_dim, DIM_ALPHA);
    gl.uniform1f(u.u_border, Math.max(1, Math.min(2, size / 16)) * s._dpr);
    gl.uniform1f(u.u_highlight, highlight ? 1 : 0);
    gl.uniform2f(u.u_grid, a.columns, a.tile);
    gl.uniform1i(u.u_atlas, 0);
    gl.uniform2f(u.u_atlasSize, a.width, a.height);
  }

  const DOT_PICK = { shape: 'disc', radius: (s) => Math.max(5, s._pointSizeCss() / 2 + 3) };

  // A pass draws with its program, or, with draw(s), by itself (the software dots).
  const PASSES = [
    // oldest sample first, so the nearer ones lie on top
    ...Array.from({ length: TRAIL_STEPS }, (_, j) => ({
      name: `trail ${TRAIL_STEPS - j}`, program: 'trail',
      active: trailsOn,
      range: (s) => [0, Math.min(s._data.n, TRAIL_POINTS)],
      set: (gl, u, s) => trailUniforms(gl, u, s, TRAIL_STEPS - j),
    })),
    {
      name: 'dots', program: 'dot',
      active: (s) => !s._thumbnailsOn() && !s._softDotsOn(),
      range: (s) => [0, s._data.n],
      set(gl, u, s) {
        gl.uniform1f(u.u_size, Math.min(s._pointSizeCss() * s._dpr, s._maxPoint));
        gl.uniform1f(u.u_alpha, s._opacity());
        gl.uniform1f(u.u_dim, DIM_ALPHA);
      },
      pick: DOT_PICK,
    },
    {
      name: 'dots (software)', // many small dots where WebGL itself runs on the CPU: SoftDots
      active: (s) => s._softDotsOn(),
      draw: (s) => s._softDots.draw(s),
      pick: DOT_PICK,
    },
    {
      name: 'thumbnails', program: 'thumb',
      active: (s) => s._thumbnailsOn(),
      range: (s) => [0, s._data.n],
      set: (gl, u, s) => thumbUniforms(gl, u, s, false),
      pick: { shape: 'square', radius: (s) => Math.max(4, s._thumbSizeCss() / 2) },
    },
    {
      name: 'highlight dot', program: 'ring',
      active: (s) => s._highlight != null && !s._thumbnailsOn(),
      range: (s) => [s._highlight, 1],
      set(gl, u, s) {
        const size = Math.min(s._pointSizeCss() * s._dpr, s._maxPoint);
        gl.uniform1f(u.u_size, Math.min(size * 1.6 + 10 * s._dpr, s._maxPoint));
      },
    },
    {
      name: 'highlight thumbnail', program: 'thumb',
      active: (s) => s._highlight != null && s._thumbnailsOn(),
      range: (s) => [s._highlight, 1],
      set: (gl, u, s) => thumbUniforms(gl, u, s, true),
    },
  ];

  function clamp(x, lo, hi) { return x < lo ? lo : x > hi ? hi : x; }

  function parseColor(c) {
    if (Array.isArray(c) || ArrayBuffer.isView(c)) {
      return [c[0] | 0, c[1] | 0, c[2] | 0, c.length > 3 ? c[3] | 0 : 255];
    }
    const s = String(c).trim();
    let m = /^#([0-9a-f]{3})$/i.exec(s);
    if (m) return [0, 1, 2].map((i) => parseInt(m[1][i] + m[1][i], 16)).concat(255);
    m = /^#([0-9a-f]{6})$/i.exec(s);
    if (m) return [0, 2, 4].map((i) => parseInt(m[1].substr(i, 2), 16)).concat(255);
    m = /^rgba?\(([^)]+)\)$/i.exec(s);
    if (m) {
      const p = m[1].split(',').map(Number);
      return [p[0] | 0, p[1] | 0, p[2] | 0, p.length > 3 ? Math.round(p[3] * 255) : 255];
    }
    throw new Error('LayerScatter: cannot parse colour ' + s);
  }

  function toTyped(a, Type, name, length) {
    if (a == null) return null;
    const out = a instanceof Type ? a : Type.from(a);
    if (length != null && out.length !== length) {
      throw new Error(`LayerScatter: ${name} has ${out.length} values, expected ${length}`);
    }
    return out;
  }

  // Class colours index a palette: bytes for up to 256 classes, uint16 beyond (plain arrays
  // from JSON become uint16, so no index is ever cut to a byte).
  function toColors(a, length) {
    if (a == null) return null;
    const out = (a instanceof Uint8Array || a instanceof Uint16Array) ? a : Uint16Array.from(a);
    if (out.length !== length) throw new Error(`LayerScatter: colors has ${out.length} values, expected ${length}`);
    return out;
  }

  // Positions are kept as uint16 (the payload's encoding; half the memory of floats, and the
  // GPU reads them normalised). Floats are quantised once; 1/65535 of the view is far below a pixel.
  function toPositions(p, length) {
    if (p instanceof Uint16Array) return toTyped(p, Uint16Array, 'positions', length);
    const f = toTyped(p, Float32Array, 'positions', length);
    const q = new Uint16Array(f.length);
    for (let i = 0; i < f.length; i++) q[i] = Math.round((clamp(f[i], -1, 1) + 1) * (Q / 2));
    return q;
  }

  function toGLSL3(src, stage) {
    const vertex = stage === 'vertex';
    let out = '#version 300 es\n' + src
      .replace(/\battribute\b/g, 'in')
      .replace(/\bflat varying\b/g, vertex ? 'flat out' : 'flat in')
      .replace(/\bvarying\b/g, vertex ? 'out' : 'in')
      .replace(/\btexture2D\b/g, 'texture');
    if (!vertex) {
      out = out.replace(/\bgl_FragColor\b/g, 'fragColor')
        .replace(/(precision \w+ float;)/, '$1\nout vec4 fragColor;');
    }
    return out;
  }

  function toGLSL1(src) { return src.replace(/\bflat varying\b/g, 'varying'); }

  function link(gl, spec) {
    const webgl2 = typeof WebGL2RenderingContext !== 'undefined' && gl instanceof WebGL2RenderingContext;
    const vert = webgl2 ? toGLSL3(spec.vert, 'vertex') : toGLSL1(spec.vert);
    const frag = webgl2 ? toGLSL3(spec.frag, 'fragment') : toGLSL1(spec.frag);
    const prog = gl.createProgram();
    gl.attachShader(prog, compile(gl, gl.VERTEX_SHADER, vert));
    gl.attachShader(prog, compile(gl, gl.FRAGMENT_SHADER, frag));
    // the same fixed locations in every program, so one set of attribute pointers serves all;
    // a_from on 0 keeps attribute 0 enabled, which WebGL1 drivers require
    ATTRIBUTES.forEach((name, i) => gl.bindAttribLocation(prog, i, name));
    gl.linkProgram(prog);
    if (!gl.getProgramParameter(prog, gl.LINK_STATUS) && !gl.isContextLost()) {
      throw new Error('LayerScatter program: ' + gl.getProgramInfoLog(prog));
    }
    const u = {};
    for (const name of COMMON_UNIFORMS.concat(spec.uniforms)) u[name] = gl.getUniformLocation(prog, name);
    return { prog, u };
  }

  function compile(gl, type, src) {
    const sh = gl.createShader(type);
    gl.shaderSource(sh, src);
    gl.compileShader(sh);
    if (!gl.getShaderParameter(sh, gl.COMPILE_STATUS) && !gl.isContextLost()) {
      throw new Error('LayerScatter shader: ' + gl.getShaderInfoLog(sh));
    }
    return sh;
  }

  // ---- the payload: what deepling/web/views/payload.py sends -------------------------------

  const DTYPES = { uint8: Uint8Array, uint16: Uint16Array, int32: Int32Array, float32: Float32Array };

  function fromBase64(b64, Type) {
    const bin = atob(b64);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return new Type(bytes.buffer);
  }

  /*
   * Deepling.unpack(payload, body) -> the payload with its arrays decoded, plus:
   *   positions  Uint16Array as the renderer takes it (or Float32Array if another encoding)
   *   labels, predicted  Uint16Array; the payload's `unknown` code (65535) where not known
   *   known      Uint8Array: 1 where the true label is known
   *   errors     Uint8Array: 1 where true and predicted are known and differ
   *   confidence Float32Array 0..1, indices Int32Array (dataset index of each point)
   * Every dtype, scale and code comes from payload.encoding, which Python defines. Arrays
   * travel base64 in the payload, or in one binary body (payload.binary: its url and each
   * array's [byte offset, count]), given here as an ArrayBuffer and viewed without a copy.
   */
  function unpack(payload, body) {
    const enc = payload.encoding;
    if (!enc) throw new Error('Deepling.unpack: the payload has no encoding (an old server?)');
    const out = Object.assign({}, payload);
    const where = payload.binary ? payload.binary.arrays : {};
    for (const [name, e] of Object.entries(enc)) {
      const Type = DTYPES[e.dtype];
      if (typeof payload[name] === 'string') {
        if (!Type) throw new Error(`Deepling.unpack: unknown dtype ${e.dtype} for ${name}`);
        out[name] = fromBase64(payload[name], Type);
      } else if (where[name]) {
        if (!Type) throw new Error(`Deepling.unpack: unknown dtype ${e.dtype} for ${name}`);
        if (!(body instanceof ArrayBuffer)) throw new Error('Deepling.unpack: this payload\'s arrays are in a binary body (Deepling.loadPayload fetches it)');
        const [offset, count] = where[name];
        if (offset + count * Type.BYTES_PER_ELEMENT > body.byteLength) {
          throw new Error(`Deepling.unpack: the binary body is too short for ${name}`);
        }
        out[name] = new Type(body, offset, count);
      }
    }
    const pe = enc.positions;
    if (!(pe.dtype === 'uint16' && pe.offset === -1 && Math.abs(pe.scale * Q - 2) < 1e-9)) {
      const q = out.positions, f = new Float32Array(q.length);
      for (let i = 0; i < q.length; i++) f[i] = q[i] * pe.scale + pe.offset;
      out.positions = f;
    }
    if (out.confidence && enc.confidence && enc.confidence.scale) {
      const c = out.confidence, f = new Float32Array(c.length), k = enc.confidence.scale;
      for (let i = 0; i < c.length; i++) f[i] = c[i] * k;
      out.confidence = f;
    }
    const unknown = enc.labels.unknown, n = out.labels.length;
    out.known = new Uint8Array(n);
    out.errors = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const l = out.labels[i], p = out.predicted[i];
      out.known[i] = l !== unknown ? 1 : 0;
      out.errors[i] = l !== unknown && p !== unknown && l !== p ? 1 : 0;
    }
    return out;
  }

  // Deepling.loadPayload(payload) -> Promise of unpack(payload, body), fetching the binary
  // body first when the arrays travel apart (the network and the body stay off the main thread).
  async function loadPayload(payload) {
    if (!payload.binary) return unpack(payload);
    const r = await fetch(payload.binary.url, { credentials: 'same-origin' });
    if (!r.ok) throw new Error(`The layer animation's points could not be loaded (HTTP ${r.status}); press Project again.`);
    return unpack(payload, await r.arrayBuffer());
  }

  Deepling.unpack = unpack;
  Deepling.loadPayload = loadPayload;

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

    toPNG(options) {
      const o = Object.assign({ background: '#ffffff' }, options || {});
      if (!this.gl) return null;
      // the drawing buffer is not preserved, so draw and read it back in the same task
      this._render();
      const soft = this._softDotsOn();
      if (o.background == null && !soft) return this.canvas.toDataURL('image/png');
      const c = document.createElement('canvas');
      c.width = this.canvas.width;
      c.height = this.canvas.height;
      const ctx = c.getContext('2d');
      if (o.background != null) {
        const bg = parseColor(o.background);
        ctx.fillStyle = `rgba(${bg[0]},${bg[1]},${bg[2]},${bg[3] / 255})`;
        ctx.fillRect(0, 0, c.width, c.height);
      }
      if (soft) ctx.drawImage(this._softDots.canvas, 0, 0);
      ctx.drawImage(this.canvas, 0, 0);
      return c.toDataURL('image/png');
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

  Deepling.LayerScatter = LayerScatter;
})();
