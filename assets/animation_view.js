/*
 * The layer animation view in the browser: wires Deepling.LayerScatter (layer_scatter_*.js)
 * to the Dash controls. Everything here runs without the server: slider, play loop,
 * speed, legend, colour mode, hover tooltips, PNG export, and the URL's `layer=`.
 * The server is told only about choices that other views follow: the image in focus
 * (click) and the picked subset (box/lasso), through dash_clientside.set_props.
 *
 * Across training (payload.across === 'training') the frames are a run's epochs for one
 * layer instead of the layers: the slider and the play loop run over epochs, the link keeps
 * `epoch=` instead of `layer=`, the layer store is left alone, and trails are drawn unless
 * switched off (`trails=off` in the link).
 */
(function () {
  'use strict';

  const D = (window.Deepling = window.Deepling || {});
  const view = (D.animationView = D.animationView || {scatter: null, data: null});

  const UNKNOWN_NAME = 'unknown';
  // Thumbnails by default up to this many images, dots above; the user's choice wins and
  // is kept in the link (?points=thumbnails|dots).
  const THUMBNAILS_UP_TO = 300;
  const STYLES = ['thumbnails', 'dots'];
  // The URL keys that name which images are shown (deepling/service/selection.py).
  // A second click within this long makes a double-click (zoom reset), not two focus clicks.
  const DOUBLE_CLICK_MS = 300;
  const CHOICE_KEYS = ['mode', 'count', 'classes', 'true', 'predicted', 'indices', 'seed'];

  function className(d, k) { return k < d.classNames.length ? d.classNames[k] : UNKNOWN_NAME; }

  function el(id) { return document.getElementById(id); }

  // A DOM node from trusted structure and untrusted text: strings become text nodes, never
  // HTML, so a class or layer name from an upload cannot turn into markup or script.
  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => {
      if (v == null || v === false) return;
      if (k === 'className') node.className = v;
      else if (k === 'style') Object.assign(node.style, v);
      else node.setAttribute(k, String(v));
    });
    children.flat().forEach((c) => {
      if (c == null || c === false) return;
      node.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
    });
    return node;
  }

  function setFocus(datasetIndex) {
    if (window.dash_clientside && window.dash_clientside.set_props) {
      window.dash_clientside.set_props('focus', {data: datasetIndex});
    }
  }

  function setSubset(indices) {
    if (window.dash_clientside && window.dash_clientside.set_props) {
      window.dash_clientside.set_props('subset', {data: indices});
    }
  }

  function ensureSlider() {
    let slider = el('anim-slider');
    const host = el('anim-slider-host');
    if (!slider && host) {
      slider = document.createElement('input');
      slider.type = 'range';
      slider.id = 'anim-slider';
      slider.className = 'form-range';
      slider.min = '0';
      slider.step = '0.001';
      slider.value = '0';
      slider.setAttribute('aria-label', 'layer');
      host.appendChild(slider);
      slider.addEventListener('input', () => {
        if (!view.scatter) return;
        view.scatter.pause();
        view.scatter.setLayer(parseFloat(slider.value));
        showLayer(parseFloat(slider.value));
      });
      // When the user settles on a layer, the other views (architecture) follow it.
      slider.addEventListener('change', () => publishLayer(parseFloat(slider.value)));
    }
    return slider;
  }

  function acrossTraining() { return !!view.data && view.data.across === 'training'; }

  function trailsWanted() {
    if (view.trails == null) view.trails = new URL(window.location.href).searchParams.get('trails') !== 'off';
    return view.trails;
  }

  function applyTrails() {
    const b = el('anim-trails');
    const on = trailsWanted();
    if (b) b.classList.toggle('active', on);
    if (view.scatter) view.scatter.setTrails(on && acrossTraining());
  }

  function toggleTrails() {
    view.trails = !trailsWanted();
    applyTrails();
    const url = new URL(window.location.href);
    if (view.trails) url.searchParams.delete('trails'); else url.searchParams.set('trails', 'off');
    window.history.replaceState(null, '', url.toString());
  }

  function publishLayer(t) {
    const d = view.data;
    // across training every frame is the same layer: the other views keep theirs
    if (!d || acrossTraining() || !window.dash_clientside || !window.dash_clientside.set_props) return;
    const name = d.layers[Math.max(0, Math.min(d.nLayers - 1, Math.round(t)))].name;
    if (name !== view.publishedLayer) {
      view.publishedLayer = name;
      window.dash_clientside.set_props('layer', {data: name});
    }
  }

  function fmtShape(shape) { return shape && shape.length ? shape.join('×') : 'scalar'; }

  // The layer name, shape and how it was aligned, for the nearest layer to t.
  function showLayer(t) {
    const d = view.data;
    const info = el('anim-layer-info');
    if (!d || !info) return;
    const i = Math.max(0, Math.min(d.nLayers - 1, Math.round(t)));
    const L = d.layers[i];
    const training = acrossTraining();
    const parts = training
      ? [h('b', null, L.name), ' ', h('span', {className: 'text-muted'},
          `(${i + 1} of ${d.nLayers} snapshots) · ${L.layer} ${L.type} · ${fmtShape(L.shape)}`),
        L.accuracy != null ? [' · ', h('span', {title: 'of these images, by the model at this epoch'},
          `${Math.round(L.accuracy * 100)}% right`)] : null]
      : [h('b', null, `${i}/${d.nLayers - 1} · ${L.name}`), ' ',
        h('span', {className: 'text-muted'}, `${L.type} · ${fmtShape(L.shape)}`)];
    if (!training && d.snapshot) parts.push(' ', h('span', {className: 'badge text-bg-info'}, d.snapshot));
    if (i > 0 && L.residualAfter !== null && L.residualAfter !== undefined) {
      parts.push(training ? ' · ' : ' ', h('span', {
        className: 'dl-diag',
        title: `Procrustes alignment onto the previous ${training ? 'epoch' : 'layer'}: ` +
          'residual before → after turning (0 = identical layouts)'},
      L.mirrored ? [h('span', {className: 'badge text-bg-warning'}, 'mirrored'), ' '] : null,
      `turned ${L.rotation}° · residual ${L.residualBefore.toFixed(2)} → ${L.residualAfter.toFixed(2)}`));
    }
    if (L.collapsed) parts.push(' ', h('span', {className: 'badge text-bg-secondary'}, 'collapsed'));
    info.replaceChildren(...parts.flat().filter((c) => c != null));
    if (view.lastUrlLayer !== i) {
      view.lastUrlLayer = i;
      const url = new URL(window.location.href);
      if (training) url.searchParams.set('epoch', L.name.replace(/^epoch /, ''));
      else url.searchParams.set('layer', L.name);
      window.history.replaceState(null, '', url.toString());
    }
  }

  // With many classes (an ImageNet head) the legend lists the most frequent ones among the
  // points, plus any hidden one, and a search box finds the rest by name.
  const LEGEND_TOP = 12;
  const LEGEND_MATCHES = 40;

  function renderLegend() {
    const d = view.data;
    const host = el('scatter-legend');
    if (!d || !host) return;
    // the classes, then the payload's unknown code (drawn grey) if any point has it
    const unknown = d.encoding.labels.unknown;
    const counts = new Map();
    const source = view.colorMode === 'predicted' ? d.predicted : d.labels;
    for (let i = 0; i < source.length; i++) counts.set(source[i], (counts.get(source[i]) || 0) + 1);
    let present = d.classNames.map((_, k) => k).concat([unknown]).filter((k) => counts.get(k));
    const many = present.length > LEGEND_TOP + 2;
    let search = host.querySelector('.dl-legend-search');
    if (many && !search) {
      search = document.createElement('input');
      search.type = 'search';
      search.className = 'dl-legend-search form-control form-control-sm';
      search.placeholder = `${present.length} classes: find…`;
      search.addEventListener('input', () => { view.legendQuery = search.value; renderLegend(); });
    }
    // everything but the search box is redrawn: removing the box would take its focus
    [...host.children].forEach((c) => { if (c !== search || !many) c.remove(); });
    let more = 0;
    if (many) {
      search.placeholder = `${present.length} classes: find…`;
      if (search.value !== (view.legendQuery || '')) search.value = view.legendQuery || '';
      if (search.parentNode !== host) host.prepend(search);
      const q = (view.legendQuery || '').trim().toLowerCase();
      const byCount = present.slice().sort((a, b) => counts.get(b) - counts.get(a) || a - b);
      const shown = q ? byCount.filter((k) => className(d, k).toLowerCase().includes(q)).slice(0, LEGEND_MATCHES)
        : byCount.slice(0, LEGEND_TOP);
      const hidden = byCount.filter((k) => d.hidden.has(k) && !shown.includes(k));
      more = present.length - shown.length - hidden.length;
      present = shown.concat(hidden);
    }
    present.forEach((k) => {
      const b = document.createElement('button');
      b.className = 'dl-legend-item' + (d.hidden.has(k) ? ' dl-off' : '');
      b.dataset.cls = k;
      b.title = 'click: show/hide · double-click: only this class';
      const [r, g, bl] = k < d.palette.length ? d.palette[k] : [160, 160, 160];
      b.append(h('span', {className: 'dl-dot', style: {background: `rgb(${r},${g},${bl})`}}),
        className(d, k), ' ', h('span', {className: 'text-muted'}, String(counts.get(k))));
      host.appendChild(b);
    });
    if (more > 0) {
      const note = document.createElement('div');
      note.className = 'dl-legend-more text-muted';
      note.textContent = `+ ${more} more classes${view.legendQuery ? '' : ' (type to find one)'}`;
      host.appendChild(note);
    }
  }

  function applyColors() {
    const d = view.data, s = view.scatter;
    if (!d || !s) return;
    const mode = view.colorMode || 'true';
    s.setColors(mode === 'predicted' ? d.predicted : d.labels);
    s.setMarks(view.markErrors ? d.errors : null);
    s.setHiddenClasses(Array.from(d.hidden));
    renderLegend();
  }

  function tooltip(idx, x, y) {
    const tip = el('scatter-tooltip');
    const d = view.data;
    if (!tip) return;
    if (idx === null || !d) { tip.hidden = true; return; }
    const di = d.indices[idx];
    const t = className(d, d.labels[idx]), p = className(d, d.predicted[idx]);
    const conf = Math.round(d.confidence[idx] * 100);
    const wrong = d.errors[idx] === 1;
    tip.replaceChildren(
      h('img', {className: 'dl-pixelated', width: 64, height: 64, alt: '',
        src: `/api/images/${d.dataKey}/${di}.png`}),
      h('div', null, h('div', {className: 'text-muted'}, `#${di}`), h('div', null, 'true ', h('b', null, t)),
        h('div', {className: wrong ? 'text-danger' : null}, 'predicted ', h('b', null, p), ` ${conf}%`)));
    const box = el('scatter-host').getBoundingClientRect();
    tip.style.left = `${Math.min(x - box.left + 14, box.width - 170)}px`;
    tip.style.top = `${Math.max(y - box.top - 30, 0)}px`;
    tip.hidden = false;
  }

  function currentStyle() {
    const d = view.data;
    let style = view.style;
    if (!STYLES.includes(style)) {
      const asked = new URL(window.location.href).searchParams.get('points');
      style = STYLES.includes(asked) ? asked : d.n <= THUMBNAILS_UP_TO ? 'thumbnails' : 'dots';
    }
    return style === 'thumbnails' && !d.atlas ? 'dots' : style;   // no atlas past 65,536 images
  }

  // The atlas of this image set is fetched once, when thumbnails are first shown.
  function applyStyle() {
    const d = view.data, s = view.scatter;
    if (!d || !s) return;
    const style = currentStyle();
    s.setStyle(style);
    if (style === 'thumbnails' && view.atlasFor !== d.key) {
      view.atlasFor = d.key;
      s.setAtlas(null);
      const img = new Image();
      img.onload = () => {
        if (view.data === d) s.setAtlas({image: img, tile: d.atlas.tile, columns: d.atlas.columns});
      };
      img.onerror = () => { if (view.data === d) view.atlasFor = null; };
      img.src = `/api/atlas/${d.dataKey}/${d.key}.jpg`;
    }
    const b = el('anim-style');
    if (b) {
      b.textContent = style === 'thumbnails' ? 'dots' : 'pictures';
      b.title = style === 'thumbnails' ? 'draw the images as dots' : 'draw each image itself';
      b.disabled = !d.atlas;
    }
  }

  function toggleStyle() {
    if (!view.data || !view.scatter) return;
    view.style = currentStyle() === 'thumbnails' ? 'dots' : 'thumbnails';
    applyStyle();
    const url = new URL(window.location.href);
    url.searchParams.set('points', view.style);
    window.history.replaceState(null, '', url.toString());
  }

  // The payload's arrays may come apart, as binary (Deepling.loadPayload): the callback
  // resolves once they are in and drawn; a newer payload arriving meanwhile wins.
  async function mount(payload) {
    const host = el('scatter-host');
    if (!payload || !host || !D.LayerScatter) return window.dash_clientside.no_update;
    const ticket = (view.ticket = (view.ticket || 0) + 1);
    let data;
    try {
      data = await D.loadPayload(payload);
    } catch (e) {
      const status = el('anim-status');
      if (status && ticket === view.ticket) status.textContent = `⚠ ${e.message}`;
      return window.dash_clientside.no_update;
    }
    if (ticket !== view.ticket) return window.dash_clientside.no_update;
    const keepHidden = view.data ? view.data.hidden : new Set();
    // The layer shown now: new images (a confusion cell, a pattern, Project) keep it.
    const shownLayer = view.data && view.scatter ? (view.data.layers[Math.round(view.scatter.getLayer())] || {}).name : null;
    data.hidden = keepHidden;
    view.data = data;
    const slider = ensureSlider();
    if (!view.scatter) {
      view.scatter = new D.LayerScatter(host, {
        background: '#ffffff',
        onHover: tooltip,
        // A click focuses its image once it is not the first half of a double-click
        // (which resets the zoom, and nothing else).
        onClick: (idx) => {
          clearTimeout(view.clickTimer);
          if (idx === null) return;
          view.clickTimer = setTimeout(() => { setFocus(view.data.indices[idx]); view.scatter.setHighlight(idx); },
            DOUBLE_CLICK_MS);
        },
        onSelect: (sel) => {
          view.scatter.setSelection(sel);
          setSubset(sel ? Array.from(sel, (i) => view.data.indices[i]) : null);
        },
        onFrame: (t) => { if (slider) slider.value = String(t); showLayer(t); },
        onPlayState: (playing) => {
          const b = el('anim-play');
          if (b) {  // the icon is CSS (.dl-play-icon): no glyph a font may lack
            b.classList.toggle('dl-playing', playing);
            b.setAttribute('aria-label', playing ? 'pause' : 'play');
          }
          if (!playing) publishLayer(view.scatter.getLayer());
        },
      });
    }
    if (!host.dataset.dblclick) {
      host.dataset.dblclick = '1';
      host.addEventListener('dblclick', () => clearTimeout(view.clickTimer));
    }
    const wasPlaying = view.scatter.isPlaying();
    view.scatter.setData({n: data.n, nLayers: data.nLayers, positions: data.positions,
      colors: data.labels, palette: data.palette}, {keepView: false});
    slider.max = String(data.nLayers - 1);
    slider.setAttribute('aria-label', acrossTraining() ? 'epoch' : 'layer');
    applyTrails();
    // A layer asked for before the data arrived (architecture click) wins over the URL's.
    let start = 0;
    for (const wanted of [view.pendingLayer, payload.startLayer, shownLayer]) {
      const i = wanted ? data.layers.findIndex((L) => L.name === wanted) : -1;
      if (i >= 0) { start = i; break; }
    }
    view.pendingLayer = null;
    view.scatter.setLayer(start);
    slider.value = String(start);
    view.lastUrlLayer = null;
    showLayer(start);
    if (view.atlasFor !== data.key) { view.atlasFor = null; view.scatter.setAtlas(null); }
    applyStyle();
    applyColors();
    if (wasPlaying) view.scatter.play({speed: speed(), loop: 'bounce'});
    const url = new URL(window.location.href);
    const c = payload.choice;
    // The address is the link to this view: model, data, the images, the layer.
    url.searchParams.set('model', payload.model);
    url.searchParams.set('data', payload.data);
    // Every key of the choice shown, as the server writes it (selection.to_query: the
    // images listed in indices mode, the seed, a confusion cell), none left from before.
    for (const key of CHOICE_KEYS) url.searchParams.delete(key);
    for (const [key, value] of new URLSearchParams(payload.query || '')) url.searchParams.set(key, value);
    // across training, and which snapshot is shown across layers, are view state too
    if (acrossTraining()) {
      url.searchParams.set('across', 'training');
      url.searchParams.set('along', payload.along);
    } else {
      url.searchParams.delete('across');
      url.searchParams.delete('epoch');
    }
    const epoch = !acrossTraining() && payload.snapshot ? payload.snapshot.replace(/^epoch /, '') : null;
    if (epoch) url.searchParams.set('snapshot', epoch); else url.searchParams.delete('snapshot');
    window.history.replaceState(null, '', url.toString());
    return `${data.n} points, ${data.nLayers} ${acrossTraining() ? 'epochs' : 'layers'}`;
  }

  function speed() {
    const s = el('anim-speed');
    return s ? parseFloat(s.value) || 1 : 1;
  }

  function togglePlay() {
    const s = view.scatter;
    if (!s) return;
    if (s.isPlaying()) s.pause();
    else s.play({speed: speed(), loop: 'bounce'});
  }

  function gotoLayer(name) {
    const d = view.data, s = view.scatter;
    if (!name) return window.dash_clientside.no_update;
    if (acrossTraining()) {
      // another layer chosen elsewhere (architecture): across training, show that layer's epochs
      const along = el('anim-along');
      const known = along && Array.from(along.options).some((o) => o.value === name);
      if (known && name !== view.data.along && name !== view.publishedLayer) {
        window.dash_clientside.set_props('anim-along', {value: name});
      }
      return window.dash_clientside.no_update;
    }
    if (!d || !s) { view.pendingLayer = name; return window.dash_clientside.no_update; }
    view.publishedLayer = name;
    const i = d.layers.findIndex((L) => L.name === name);
    if (i < 0) {
      const info = el('anim-layer-info');
      if (info) info.append(' ', h('span', {className: 'text-muted'}, `· ${name} is not in the animation ` +
        '(layers that are the identity at inference, such as Dropout, are left out)'));
      return window.dash_clientside.no_update;
    }
    if (Math.abs(s.getLayer() - i) < 1e-6) return window.dash_clientside.no_update;
    s.pause();
    s.setLayer(i);
    const slider = el('anim-slider');
    if (slider) slider.value = String(i);
    showLayer(i);
    return window.dash_clientside.no_update;
  }

  function focusPoint(datasetIndex) {
    const d = view.data, s = view.scatter;
    if (!d || !s) return window.dash_clientside.no_update;
    let idx = null;
    for (let i = 0; i < d.indices.length; i++) if (d.indices[i] === datasetIndex) { idx = i; break; }
    s.setHighlight(idx);
    return window.dash_clientside.no_update;
  }

  // Controls rendered by Dash are found by id at event time (they may re-render).
  document.addEventListener('click', (ev) => {
    const t = ev.target;
    if (!(t instanceof Element)) return;
    if (t.closest('#anim-play')) togglePlay();
    else if (t.closest('#anim-style')) toggleStyle();
    else if (t.closest('#anim-trails')) toggleTrails();
    else if (t.closest('#train-across-open') && window.dash_clientside.set_props) {
      // the Training card's way in: the animation switches to its epochs
      window.dash_clientside.set_props('anim-across', {value: 'training'});
      const card = el('animation-card');
      if (card) card.scrollIntoView({behavior: 'smooth', block: 'start'});
    }
    else if (t.closest('#anim-png') && view.scatter) {
      const a = document.createElement('a');
      const name = view.data ? view.data.layers[Math.round(view.scatter.getLayer())].name : 'layer';
      a.href = view.scatter.toPNG({background: '#ffffff'});
      a.download = `deepling-${name}.png`;
      a.click();
    } else {
      const item = t.closest('.dl-legend-item');
      if (item && view.data) {
        const k = parseInt(item.dataset.cls, 10);
        if (view.data.hidden.has(k)) view.data.hidden.delete(k); else view.data.hidden.add(k);
        applyColors();
      }
    }
  });
  document.addEventListener('dblclick', (ev) => {
    const item = ev.target instanceof Element && ev.target.closest('.dl-legend-item');
    if (!item || !view.data) return;
    const k = parseInt(item.dataset.cls, 10);
    view.data.hidden = new Set(view.data.classNames.map((_, j) => j).filter((j) => j !== k));
    applyColors();
  });
  document.addEventListener('change', (ev) => {
    if (ev.target && ev.target.id === 'anim-split') {
      // another split is other data: the whole page follows, through the link
      const url = new URL(window.location.href);
      const split = ev.target.value;
      url.searchParams.set('data', split === 'test' ? 'default' : `default@${split}`);
      url.searchParams.delete('layer');
      window.location.assign(url.toString());
      return;
    }
    if (ev.target && ev.target.id === 'anim-speed' && view.scatter && view.scatter.isPlaying()) {
      view.scatter.play({speed: speed(), loop: 'bounce'});
    }
  });
  document.addEventListener('keydown', (ev) => {
    const tag = (ev.target && ev.target.tagName) || '';
    if (ev.code === 'Space' && !/INPUT|TEXTAREA|SELECT|BUTTON/.test(tag) && view.scatter) {
      ev.preventDefault();
      togglePlay();
    }
  });

  window.dash_clientside = Object.assign({}, window.dash_clientside);
  window.dash_clientside.deepling = Object.assign({}, window.dash_clientside.deepling, {
    mount: mount,
    recolor: function (mode) { view.colorMode = mode; applyColors(); return window.dash_clientside.no_update; },
    // "mark errors" goes with either colouring (a check box, not a third colour mode)
    markErrors: function (value) {
      view.markErrors = (value || []).includes('errors');
      applyColors();
      return window.dash_clientside.no_update;
    },
    gotoLayer: gotoLayer,
    focusPoint: focusPoint,
    // which pickers the mode needs: the snapshot across layers; the layer and trails across training
    acrossRow: function (mode) {
      return 'd-flex flex-wrap gap-2 align-items-center mb-2 dl-training-row dl-across-' + (mode || 'layers');
    },
  });
})();
