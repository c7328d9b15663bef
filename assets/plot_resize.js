/*
 * Every Plotly figure on the page fits the box it is in, whenever that box changes size:
 * a figure first drawn in a hidden tab (Plotly then falls back to 700 px wide), a window
 * resize, a column that grows as the views beside it fill in. dcc.Graph resizes by
 * itself only for figures without a fixed height; most of ours fix their height.
 * One ResizeObserver watches each graph's box (dcc.Graph's div, .dash-graph).
 */
(function () {
  'use strict';

  if (!window.ResizeObserver || !window.MutationObserver) return;
  const watched = new WeakSet();

  function fit(box) {
    const gd = box.querySelector('.js-plotly-plot');
    const layout = gd && gd._fullLayout;
    if (!layout || !window.Plotly || box.offsetParent === null) return;  // hidden: once shown
    if (gd.layout && gd.layout.width) return;  // a figure that asks for its own width keeps it
    const width = Math.floor(box.getBoundingClientRect().width);
    if (width > 0 && Math.abs(width - layout.width) > 1) window.Plotly.Plots.resize(gd);
  }

  const observer = new ResizeObserver((entries) => { for (const e of entries) fit(e.target); });

  function watch(node) {
    const boxes = node.classList.contains('dash-graph') ? [node] : node.querySelectorAll('.dash-graph');
    for (const box of boxes) {
      if (watched.has(box)) continue;
      watched.add(box);
      observer.observe(box);
    }
  }

  new MutationObserver((records) => {
    for (const r of records) {
      for (const n of r.addedNodes) if (n.nodeType === 1 && !(n instanceof SVGElement)) watch(n);
    }
  }).observe(document.documentElement, {childList: true, subtree: true});
})();
