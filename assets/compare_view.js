/*
 * The comparison view in the browser: mounts Deepling.LinkedScatters (linked_scatter.js)
 * on the two models' payloads; one slider and one play button drive both. A click on a
 * point focuses that image for every view (dash_clientside.set_props), and the address
 * names both models (`compare=`), so it is the link to this comparison.
 */
(function () {
  'use strict';

  const D = (window.Deepling = window.Deepling || {});
  const state = (D.compareView = D.compareView || {linked: null});

  function el(id) { return document.getElementById(id); }

  function slider() {
    let s = el('cmp-slider');
    if (!s && el('cmp-slider-host')) {
      s = document.createElement('input');
      s.type = 'range';
      s.id = 'cmp-slider';
      s.className = 'form-range';
      s.value = '0';
      s.setAttribute('aria-label', 'relative depth');
      el('cmp-slider-host').appendChild(s);
    }
    return s;
  }

  function mount(payloads) {
    if (!payloads || !el('cmp-host-a') || !D.LinkedScatters) return window.dash_clientside.no_update;
    if (state.linked) state.linked.destroy();
    const [a, b] = [payloads.a, payloads.b];
    state.linked = new D.LinkedScatters([el('cmp-host-a'), el('cmp-host-b')], [a, b], {
      slider: slider(), playButton: el('cmp-play'),
      infos: [el('cmp-layer-a'), el('cmp-layer-b')], tooltips: [el('cmp-tip-a'), el('cmp-tip-b')],
      thumbnail: (k, di) => `/api/images/${k ? b.dataKey : a.dataKey}/${di}.png`,
      onClick: (di) => {
        if (window.dash_clientside.set_props) window.dash_clientside.set_props('focus', {data: di});
      },
    });
    const url = new URL(window.location.href);
    url.searchParams.set('model', payloads.model);
    url.searchParams.set('data', payloads.data);
    url.searchParams.set('compare', payloads.compare);
    window.history.replaceState(null, '', url.toString());
    return `${a.n} points, ${a.nLayers} and ${b.nLayers} layers`;
  }

  function focus(datasetIndex) {
    if (state.linked && datasetIndex !== null && datasetIndex !== undefined) state.linked.highlight(datasetIndex);
    return window.dash_clientside.no_update;
  }

  window.dash_clientside = Object.assign({}, window.dash_clientside);
  window.dash_clientside.deeplingCompare = {mount: mount, focus: focus};
})();
