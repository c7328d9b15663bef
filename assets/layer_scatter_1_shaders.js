/*
 * Deepling.LayerScatter, part 1 of 6: constants, the GLSL programs, the render passes and the
 * GL and value helpers every other part uses. The renderer is six plain scripts, no build
 * step: Dash serves assets/ in alphabetical order, so layer_scatter_1 … layer_scatter_6 load
 * in this order; each adds its part to Deepling.scatterParts, and part 6 assembles the
 * class (the full API is described there).
 */
(function () {
  'use strict';

  const Deepling = (window.Deepling = window.Deepling || {});
  const S = (Deepling.scatterParts = Deepling.scatterParts || {});  // the renderer's parts, shared

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

  Object.assign(S, { PALETTE_SIZE, DIM_ALPHA, DRAG_PX, ZOOM_MIN, ZOOM_MAX, UNSET_GREY, Q, MAX_TILES, UPLOAD_MS, ATTRIBUTES, PROGRAMS, PASSES, clamp, parseColor, toTyped, toColors, toPositions, link });
})();
