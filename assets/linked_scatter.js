/*
 * Deepling.LinkedScatters — one or more layer animations driven by one slider and one play
 * button, each model's layers matched by relative depth (slider 0 = every model's input,
 * 1 = every model's output). Used by the comparison view (two models side by side) and by
 * the offline report (`deepling report`, where it runs from file:// with no server).
 * Only the public Deepling.LayerScatter API (layer_scatter_*.js) is used.
 *
 *   const linked = new Deepling.LinkedScatters([hostA, hostB], [payloadA, payloadB], {
 *     slider,            // an <input type=range>; made min 0, max 1
 *     playButton,        // toggles play / pause (optional)
 *     infos,             // one element per panel for the layer's name (optional)
 *     thumbnail(panel, datasetIndex, point) -> image URL or null (hover tooltips; optional)
 *     tooltips,          // one element per panel for the hover tooltip (optional)
 *     onClick(datasetIndex) {},  // a point clicked (in any panel)
 *   });
 *   linked.setDepth(t); linked.play(); linked.pause(); linked.scatters; linked.destroy()
 *
 * Payloads are read with Deepling.unpack (the payload contract, layer_scatter_2_payload.js).
 */
(function () {
  'use strict';

  // The play button's icon is drawn in CSS (.dl-play-icon), not a glyph a font may lack.
  function setPlaying(button, playing) {
    button.classList.toggle('dl-playing', playing);
    button.setAttribute('aria-label', playing ? 'pause' : 'play');
  }

  const D = (window.Deepling = window.Deepling || {});

  class LinkedScatters {
    constructor(hosts, payloads, options) {
      const o = (this.options = options || {});
      this.data = payloads.map(D.unpack);
      this.t = 0;
      this.playing = false;
      this._raf = null;
      this.scatters = hosts.map((host, k) => {
        const d = this.data[k];
        const s = new D.LayerScatter(host, {
          background: '#ffffff',
          onHover: (idx, x, y) => this._tooltip(k, idx, x, y),
          onClick: (idx) => {
            if (idx === null) return;
            this.highlight(d.indices[idx]);
            if (o.onClick) o.onClick(d.indices[idx]);
          },
          onPlayState: (playing) => { if (!playing && this.playing) this.pause(); },
        });
        s.setData({n: d.n, nLayers: d.nLayers, positions: d.positions, colors: d.labels,
          palette: d.palette});
        s.setMarks(d.errors);
        return s;
      });
      if (o.slider) {
        o.slider.min = '0'; o.slider.max = '1'; o.slider.step = '0.001';
        this._onSlide = () => { this.pause(); this.setDepth(parseFloat(o.slider.value)); };
        o.slider.addEventListener('input', this._onSlide);
      }
      if (o.playButton) {
        this._onPlay = () => (this.playing ? this.pause() : this.play());
        o.playButton.addEventListener('click', this._onPlay);
      }
      this.setDepth(0);
    }

    // Relative depth t in [0, 1] → each model's fractional layer index.
    setDepth(t) {
      this.t = Math.max(0, Math.min(1, t));
      this.scatters.forEach((s, k) => s.setLayer(this.t * (this.data[k].nLayers - 1)));
      const o = this.options;
      if (o.slider && parseFloat(o.slider.value) !== this.t) o.slider.value = String(this.t);
      (o.infos || []).forEach((el, k) => {
        if (!el) return;
        const d = this.data[k];
        const i = Math.round(this.t * (d.nLayers - 1));
        const L = d.layers[i];
        el.textContent = `${i}/${d.nLayers - 1} · ${L.name} (${L.type})`;
      });
    }

    // Each panel at a layer of its own, by name (a CKA cell: layer a of A beside layer b of
    // B); a name a panel lacks leaves it at the slider's depth. The slider follows panel 0.
    showLayers(...names) {
      this.pause();
      const o = this.options;
      this.scatters.forEach((s, k) => {
        const d = this.data[k];
        let i = d.layers.findIndex((L) => L.name === names[k]);
        if (i < 0) i = Math.round(this.t * (d.nLayers - 1));
        s.setLayer(i);
        if (k === 0) {
          this.t = d.nLayers > 1 ? i / (d.nLayers - 1) : 0;
          if (o.slider) o.slider.value = String(this.t);
        }
        const el = (o.infos || [])[k];
        if (el) el.textContent = `${i}/${d.nLayers - 1} · ${d.layers[i].name} (${d.layers[i].type})`;
      });
    }

    play(speed) {
      // one pass over the deepest model's layers at ~1 layer per second, back and forth
      const n = Math.max(...this.data.map((d) => d.nLayers)) - 1 || 1;
      const perMs = (speed || 1) / (1000 * n);
      let dir = this.t >= 1 ? -1 : 1, last = null;
      this.playing = true;
      if (this.options.playButton) setPlaying(this.options.playButton, true);
      const step = (now) => {
        if (!this.playing) return;
        if (last !== null) {
          let t = this.t + dir * perMs * (now - last);
          if (t >= 1 || t <= 0) { dir = -dir; t = Math.max(0, Math.min(1, t)); }
          this.setDepth(t);
        }
        last = now;
        this._raf = requestAnimationFrame(step);
      };
      this._raf = requestAnimationFrame(step);
    }

    pause() {
      this.playing = false;
      if (this._raf !== null) cancelAnimationFrame(this._raf);
      this._raf = null;
      if (this.options.playButton) setPlaying(this.options.playButton, false);
    }

    // The same image highlighted in every panel.
    highlight(datasetIndex) {
      this.scatters.forEach((s, k) => {
        const at = this.data[k].indices.indexOf(datasetIndex);
        s.setHighlight(at >= 0 ? at : null);
      });
    }

    _tooltip(k, idx, x, y) {
      const tip = (this.options.tooltips || [])[k];
      if (!tip) return;
      const d = this.data[k];
      if (idx === null) { tip.hidden = true; return; }
      const di = d.indices[idx];
      const t = d.classNames[d.labels[idx]] || 'unknown', p = d.classNames[d.predicted[idx]] || '?';
      const src = this.options.thumbnail ? this.options.thumbnail(k, di, idx) : null;
      const wrong = d.labels[idx] !== d.predicted[idx];
      // built as nodes: class names come from uploads and must stay text
      const img = src ? document.createElement('img') : null;
      if (img) {
        img.className = 'dl-pixelated'; img.width = 64; img.height = 64; img.alt = ''; img.src = src;
      }
      const line = (cls, ...parts) => {
        const div = document.createElement('div');
        if (cls) div.className = cls;
        parts.forEach(([bold, text]) => {
          const node = bold ? document.createElement('b') : document.createTextNode(text);
          if (bold) node.textContent = text;
          div.appendChild(node);
        });
        return div;
      };
      const body = document.createElement('div');
      body.append(line('text-muted', [false, `#${di}`]), line(null, [false, 'true '], [true, t]),
        line(wrong ? 'text-danger' : null, [false, 'predicted '], [true, p],
          [false, ` ${Math.round(d.confidence[idx] * 100)}%`]));
      tip.replaceChildren(...(img ? [img, body] : [body]));
      const box = tip.parentElement.getBoundingClientRect();
      tip.style.left = `${Math.min(x - box.left + 14, box.width - 170)}px`;
      tip.style.top = `${Math.max(y - box.top - 30, 0)}px`;
      tip.hidden = false;
    }

    destroy() {
      this.pause();
      const o = this.options;
      if (o.slider && this._onSlide) o.slider.removeEventListener('input', this._onSlide);
      if (o.playButton && this._onPlay) o.playButton.removeEventListener('click', this._onPlay);
      this.scatters.forEach((s) => s.destroy());
      this.scatters = [];
    }
  }

  D.LinkedScatters = LinkedScatters;
})();
