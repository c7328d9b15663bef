/*
 * Deepling.LayerScatter, part 2 of 6: the payload (what deepling/web/wire.py sends):
 * Deepling.unpack and Deepling.loadPayload.
 */
(function () {
  'use strict';

  const Deepling = (window.Deepling = window.Deepling || {});
  const S = (Deepling.scatterParts = Deepling.scatterParts || {});  // the renderer's parts, shared
  const { Q } = S;

  // ---- the payload: what deepling/web/wire.py sends -------------------------------

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
})();
