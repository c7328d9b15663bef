"""``deepling report``: what a presenter shows, in one HTML file that needs nothing else.

Everything is computed here (through the workspace and its disk cache, so a second report
or a running app reuses it) and written into the page: the layer animation's payload as
JSON (the same typed arrays the app sends, :mod:`deepling.web.wire`), thumbnails
as one JPEG atlas, pictures as PNG data URIs, the confusion matrix and curves as HTML and
SVG, and the WebGL renderer (``assets/layer_scatter_*.js``) with its slider wiring
(``assets/linked_scatter.js``) inlined. No request leaves the page, so it opens from
``file://`` on a laptop without network or Python.
"""

from __future__ import annotations

import base64
import html
import io
import json
import time

import numpy as np
from PIL import Image

from deepling.web.views.common import class_color

DEFAULT_CHOICE = {"mode": "classes", "count": 50}  # 50 images of every class
N_CONFUSIONS = 4        # strips for the most frequent confusions
N_GRADCAM = 6           # misclassified images explained
ROBUSTNESS_SIZE = 1000  # images in the robustness simulation (as the testing view: one cache entry)
RANKING_SIZE = 200  # images for the attribution methods' ranking (the testing view's default)


def build_report(workspace, model_id=None, data_id=None, *, choice=None,
                 robustness_size: int = ROBUSTNESS_SIZE, ranking_size: int = RANKING_SIZE,
                 compare=None, progress=None) -> str:
    """The report's HTML for a model and dataset of ``workspace``.

    ``compare``: a second model's id; the report then has the CKA heatmap of every layer
    of the model against every layer of that one. ``progress(fraction, message)`` is
    called as each part is computed.
    """
    from deepling.methods import adversarial_strip, gradcam
    from deepling.evaluation import confusion_matrix
    from deepling.service.attributions import ranking_from_arrays, run_ranking
    from deepling.service.robustness import run_robustness
    from deepling.web.views.testing import robustness_json
    from deepling.service.projections import ProjectionService
    from deepling.web.wire import sequence_payload

    report = progress or (lambda fraction, message: None)
    model_id, data_id = model_id or workspace.default_model_id, data_id or workspace.default_data_id
    report(0.0, "predicting every image")
    adapter, ds = workspace.model(model_id), workspace.dataset(model_id, data_id)
    preds = workspace.predictions(model_id, data_id)
    names = workspace.class_names(model_id, data_id)
    labelled = ds.labels >= 0
    if not labelled.any():
        raise ValueError("The data has no labels: a report needs labelled images (class folders, "
                         "or y in an .npz).")
    k = len(names)
    cm = confusion_matrix(ds.labels[labelled], preds.predicted[labelled], k)
    accuracy = float(np.trace(cm) / cm.sum())

    report(0.05, "projecting the layer animation")
    choice = {**DEFAULT_CHOICE, **(choice or {})}
    projection = ProjectionService(workspace).get_or_compute(
        model_id, data_id, choice, progress=lambda f, m: report(0.05 + 0.45 * f, m))
    indices, seq = projection.indices, projection.sequence
    payload = sequence_payload(seq, indices, ds.labels[indices], preds.predicted[indices],
                               preds.confidence[indices], names, "")

    strips = []
    confusions = _top_confusions(cm, N_CONFUSIONS)
    for n, (t, p) in enumerate(confusions):
        report(0.5 + 0.1 * n / max(len(confusions), 1), f"strip: {names[t]} → {names[p]}")
        i = _most_confident(ds.labels, preds, t, t)  # a clear {t}, pushed towards {p}
        if i is None:
            continue
        strip = adversarial_strip(adapter, ds.images[i], int(p), n_frames=8, steps=24)
        strips.append((t, p, int(cm[t, p]), i, strip))

    report(0.6, "Grad-CAM on misclassified images")
    wrong = np.flatnonzero(labelled & (preds.predicted != ds.labels))
    wrong = wrong[np.argsort(-preds.confidence[wrong], kind="stable")][:N_GRADCAM]
    cams = [(i, gradcam(adapter, ds.images[i]), gradcam(adapter, ds.images[i], target=int(ds.labels[i])))
            for i in wrong]

    robustness = robustness_json(run_robustness(
        workspace, model_id, data_id, robustness_size,
        progress=lambda f, m: report(0.65 + 0.18 * f, f"robustness: {m}")))
    ranking = ranking_from_arrays(run_ranking(
        workspace, model_id, data_id, ranking_size,
        progress=lambda f, m: report(0.84 + 0.14 * f, f"ranking the attribution methods: {m}")))
    similarity = None
    if compare:
        from deepling.service.similarity import compute_cka

        report(0.98, "CKA between the two models' layers")
        similarity = compute_cka(workspace, model_id, compare, data_id)
    report(0.98, "writing the page")
    page = _page(
        title=f"Deepling report: {adapter.name} on {ds.origin}",
        model=adapter.name, data=ds.origin, n=int(labelled.sum()), accuracy=accuracy,
        payload=payload, atlas=_atlas(ds.images[indices], len(indices)),
        cm=cm, names=names, strips=strips, cams=cams, images=ds.images, labels=ds.labels,
        preds=preds, robustness=robustness, ranking=ranking, similarity=similarity)
    report(1.0, "done")
    return page


def write_report(path, workspace, model_id=None, data_id=None, **kwargs) -> int:
    """Write the report to ``path``; returns its size in bytes."""
    text = build_report(workspace, model_id, data_id, **kwargs)
    data = text.encode("utf-8")
    with open(path, "wb") as f:
        f.write(data)
    return len(data)


# --- what goes in ---------------------------------------------------------------------------
def _top_confusions(cm: np.ndarray, n: int) -> list[tuple[int, int]]:
    off = cm.astype(np.int64).copy()
    np.fill_diagonal(off, 0)
    order = np.argsort(-off, axis=None, kind="stable")[:n]
    return [tuple(int(v) for v in np.unravel_index(o, off.shape)) for o in order if off.flat[o] > 0]


def _most_confident(labels, preds, true: int, predicted: int):
    cell = np.flatnonzero((labels == true) & (preds.predicted == predicted))
    return int(cell[np.argmax(preds.confidence[cell])]) if len(cell) else None


def _png(image: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(image if image.shape[-1] == 3 else image[..., 0]).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _atlas(images: np.ndarray, n: int) -> str:
    """The points' thumbnails as one JPEG atlas in draw order (the payload contract's
    :func:`~deepling.web.wire.thumbnail_atlas`): tooltips and the pictures mode."""
    from deepling.web.wire import draw_order, thumbnail_atlas

    buf = io.BytesIO()
    Image.fromarray(thumbnail_atlas(images[draw_order(n)])).save(buf, format="JPEG", quality=88)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


# --- the page -------------------------------------------------------------------------------
def _page(*, title, model, data, n, accuracy, payload, atlas, cm, names,
          strips, cams, images, labels, preds, robustness, ranking=None, similarity=None) -> str:
    from deepling.web.app import ASSETS
    from deepling.web.views.heatmaps import strip_picture
    from deepling.web.views.testing import overlay

    e = html.escape
    strip_html = "".join(
        f'<figure><figcaption><b>{e(names[t])}</b> taken for <b>{e(names[p])}</b> {c:,} times: '
        f'a clear {e(names[t])} (#{i}) pushed towards {e(names[p])}</figcaption>'
        f'<img src="data:image/png;base64,{base64.b64encode(strip_picture(s, names, f"towards {names[p]}")).decode()}" '
        f'alt="strip"></figure>'
        for t, p, c, i, s in strips) or "<p>No confusions: every image is classified correctly.</p>"
    cam_html = "".join(
        f'<figure class="cam"><img src="{_png(overlay(images[i], a.heatmap, "gradcam")[0])}" alt="">'
        f'<img src="{_png(overlay(images[i], b.heatmap, "gradcam")[0])}" alt="">'
        f'<figcaption>#{i}: true <b>{e(names[labels[i]])}</b>, predicted '
        f'<b class="bad">{e(names[preds.predicted[i]])}</b> {preds.confidence[i]:.0%}<br>'
        f'<span class="muted">left: evidence for {e(names[preds.predicted[i]])} · right: for '
        f'{e(names[labels[i]])} ({e(a.layer)})</span></figcaption></figure>'
        for i, a, b in cams)
    legend = "".join(f'<span class="chip"><i style="background:{class_color(k)}"></i>{e(c)}</span>'
                     for k, c in enumerate(names))
    data_json = json.dumps({"payload": payload, "atlas": atlas}).replace("</", "<\\/")
    renderer = sorted(ASSETS.glob("layer_scatter*.js")) + [ASSETS / "linked_scatter.js"]  # Dash's order
    scripts = "\n".join(f.read_text(encoding="utf-8").replace("</script", "<\\/script") for f in renderer)
    # Only these two inline scripts may run (a <meta> CSP with their hashes): markup that an
    # escaping slip let in cannot become script, and nothing loads from the network.
    from deepling.web.security import report_csp

    return _TEMPLATE.format(
        csp=e(report_csp([scripts, _GLUE])), title=e(title), model=e(model), data=e(data), n=f"{n:,}", accuracy=f"{accuracy:.1%}",
        generated=time.strftime("%Y-%m-%d %H:%M"), n_points=payload["n"], n_layers=payload["nLayers"],
        legend=legend, confusion=_confusion_table(cm, names), per_class=_per_class(cm, names),
        strips=strip_html, cams=cam_html, robustness=_robustness_svg(robustness),
        robustness_n=robustness["n"], ranking=_ranking_table(ranking), cka=_cka_table(similarity),
        data_json=data_json, scripts=scripts, style=_STYLE, glue=_GLUE)


def _cka_table(result) -> str:
    """Linear CKA of every layer pair as a coloured table (no script: it prints too)."""
    if result is None:
        return ""
    e = html.escape

    def colour(v):
        if v != v:
            return "#eee"
        v = min(max(float(v), 0.0), 1.0)
        return f"rgb({round(247 - 200 * v)},{round(251 - 150 * v)},{round(255 - 100 * v)})"

    head = "".join(f'<th class="rot"><span>{e(b)}</span></th>' for b in result.names_b)
    rows = "".join(
        f'<tr><th>{e(a)}</th>' + "".join(
            f'<td style="background:{colour(v)};color:{"#fff" if v == v and v > 0.6 else "#222"}" '
            f'title="{e(a)} · {e(b)}: {v:.2f}">{"" if v != v else f"{v:.2f}"[1:] if v < 1 else "1"}</td>'
            for b, v in zip(result.names_b, row)) + "</tr>"
        for a, row in zip(result.names_a, result.matrix))
    return (f'<section id="cka"><h2>Which layers represent the same thing: linear CKA, '
            f'{result.n_images:,} images</h2><p class="muted">rows: {e(result.model_a)} · columns: '
            f'{e(result.model_b)} · 1 = the same representation up to rotation and scale</p>'
            f'<table class="cm cka"><tr><th></th>{head}</tr>{rows}</table></section>')


def _ranking_table(ranking) -> str:
    """The attribution methods ranked by insertion − deletion AUC, as an HTML section."""
    if ranking is None:
        return ""
    e = html.escape
    n = np.sqrt(max(1, ranking.n_images))
    rows = "".join(
        f'<tr><td>{k + 1}</td><td>{e(r["label"])}</td>'
        f'<td>{r["insertion"]:.3f} ± {r["insertion_sd"] / n:.3f}</td>'
        f'<td>{r["deletion"]:.3f} ± {r["deletion_sd"] / n:.3f}</td>'
        f'<td>{r["difference"]:.3f} ± {r["difference_se"]:.3f}</td></tr>'
        for k, r in enumerate(ranking.table()))
    return (f'<section id="attributions"><h2>Which explanation to trust: {ranking.n_images} images</h2>'
            '<p class="muted">Each attribution method explains the predicted class of a stratified '
            'sample. Deletion: the most important pixels turn black first (a faithful map makes the '
            'probability fall fast: lower area is better). Insertion: pixels go back into a blurred '
            'copy, most important first (higher is better). ± is the standard error.</p>'
            '<table class="cm"><tr><th>#</th><th>method</th><th>insertion ↑</th><th>deletion ↓</th>'
            f'<th>insertion − deletion</th></tr>{rows}</table></section>')


def _confusion_table(cm: np.ndarray, names) -> str:
    e = html.escape
    top = max(int(cm.max()), 1)
    rows = []
    for t in range(len(names)):
        cells = []
        for p in range(len(names)):
            v = int(cm[t, p])
            a = (v / top) ** 0.5
            color = f"rgba(46,125,50,{a:.2f})" if t == p else f"rgba(198,40,40,{min(1, 3 * a):.2f})"
            ink = "#fff" if (a > 0.55 if t == p else 3 * a > 0.55) else "#222"
            cells.append(f'<td style="background:{color};color:{ink}" title="true {e(names[t])}, '
                         f'predicted {e(names[p])}: {v}">{v}</td>')
        rows.append(f"<tr><th>{e(names[t])}</th>{''.join(cells)}</tr>")
    head = "".join(f"<th class='rot'><span>{e(c)}</span></th>" for c in names)
    return (f'<table class="cm"><tr><th class="corner">true ↓ predicted →</th>{head}</tr>'
            f'{"".join(rows)}</table>')


def _per_class(cm: np.ndarray, names) -> str:
    e = html.escape
    rows = []
    for k, c in enumerate(names):
        total = int(cm[k].sum())
        acc = cm[k, k] / total if total else float("nan")
        bar = f'<span class="bar" style="width:{0 if not total else acc * 100:.0f}%"></span>'
        rows.append(f"<tr><td>{e(c)}</td><td class='barcell'>{bar}</td>"
                    f"<td>{'–' if not total else f'{acc:.0%}'}</td></tr>")
    return f'<table class="pc">{"".join(rows)}</table>'


def _robustness_svg(rob: dict, width: int = 260, height: int = 170) -> str:
    """One small chart per augmentation: accuracy (solid) and mean true-class probability
    (dotted) against magnitude."""
    out = []
    pad_l, pad_b, pad_t = 30, 28, 18
    for aug in rob["augs"]:
        m = np.asarray(aug["magnitudes"], dtype=float)
        lo, hi = float(m.min()), float(m.max()) or 1.0
        span = hi - lo or 1.0

        def xy(values):
            v = np.asarray([np.nan if x is None else x for x in values], dtype=float)
            pts = [(pad_l + (mi - lo) / span * (width - pad_l - 8),
                    pad_t + (1 - vi) * (height - pad_t - pad_b)) for mi, vi in zip(m, v) if np.isfinite(vi)]
            return " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)

        grid = "".join(f'<line x1="{pad_l}" x2="{width - 8}" y1="{pad_t + (1 - g) * (height - pad_t - pad_b):.1f}" '
                       f'y2="{pad_t + (1 - g) * (height - pad_t - pad_b):.1f}" class="grid"/>'
                       f'<text x="{pad_l - 4}" y="{pad_t + (1 - g) * (height - pad_t - pad_b) + 3:.1f}" '
                       f'text-anchor="end">{g:.1f}</text>' for g in (0, 0.5, 1))
        out.append(
            f'<figure class="rob"><svg width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
            f'<text x="{pad_l}" y="12" class="t">{html.escape(aug["label"])}</text>{grid}'
            f'<polyline points="{xy(aug["accuracy"])}" class="acc"/>'
            f'<polyline points="{xy(aug["mean"])}" class="mean"/>'
            f'<text x="{pad_l}" y="{height - 6}">{lo:g}</text>'
            f'<text x="{width - 8}" y="{height - 6}" text-anchor="end">{hi:g} · {html.escape(aug["unit"])}</text>'
            f'</svg></figure>')
    return "".join(out)


_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#222;background:#f6f7f9}
header{background:#212529;color:#fff;padding:14px 24px}header h1{font-size:20px;margin:0}
header .sub{color:#adb5bd;font-size:13px}main{max-width:1180px;margin:0 auto;padding:16px}
section{background:#fff;border:1px solid #e3e6ea;border-radius:8px;padding:14px 18px;margin-bottom:16px}
h2{font-size:16px;margin:0 0 10px}.muted,.text-muted{color:#6c757d}.bad,.text-danger{color:#c62828}
.row{display:flex;gap:18px;flex-wrap:wrap;align-items:flex-start}
.dl-scatter-wrap{position:relative;flex:1 1 640px}.dl-scatter{height:520px;border:1px solid #eceef1;border-radius:6px}
.dl-tooltip{position:absolute;z-index:10;display:flex;gap:8px;align-items:center;background:rgba(255,255,255,.96);
border:1px solid #dde1e6;border-radius:6px;padding:6px 8px;font-size:12px;box-shadow:0 2px 8px rgba(0,0,0,.12);pointer-events:none}
.dl-pixelated{image-rendering:pixelated;border-radius:3px}
.player{display:flex;gap:10px;align-items:center;margin-top:8px}.player input{flex:1}
button{border:1px solid #0d6efd;background:#fff;color:#0d6efd;border-radius:5px;padding:2px 12px;font-size:15px;cursor:pointer}
.chip{display:inline-flex;align-items:center;gap:4px;margin:0 8px 4px 0;font-size:12px}
.chip i{width:10px;height:10px;border-radius:50%;display:inline-block}
table.cm{border-collapse:collapse;font-size:12px}table.cka td{width:26px;height:18px;font-size:9px}table.cm td{width:40px;height:30px;text-align:center;border:1px solid #fff}
table.cm th{font-weight:500;text-align:right;padding-right:6px}th.rot{height:70px;vertical-align:bottom;text-align:left}
th.rot span{display:inline-block;transform:rotate(-45deg);transform-origin:left bottom;white-space:nowrap;width:30px}
th.corner{font-size:11px;color:#6c757d;vertical-align:bottom}
table.pc td{padding:1px 6px;font-size:12px}.barcell{width:160px}.bar{display:block;height:10px;background:#4e79a7;border-radius:2px}
figure{margin:0 0 12px}figure img{max-width:100%;image-rendering:pixelated}
figure.cam{display:inline-block;width:360px;vertical-align:top}figure.cam img{width:128px;height:128px;margin-right:4px}
figure.rob{display:inline-block;margin-right:8px}svg text{font-size:10px;fill:#555}svg .t{font-size:12px;fill:#222;font-weight:600}
svg .grid{stroke:#e5e7ea}svg .acc{fill:none;stroke:#222;stroke-width:2}svg .mean{fill:none;stroke:#4e79a7;stroke-width:2;stroke-dasharray:3 3}
"""

# Wires the inlined renderer to the slider; thumbnails come from the atlas (no server).
_GLUE = """
(function(){
  const R = JSON.parse(document.getElementById('report-data').textContent);
  const spec = R.payload.atlas, atlas = new Image(), cut = new Map();
  const linked = new Deepling.LinkedScatters([document.getElementById('scatter')], [R.payload], {
    slider: document.getElementById('slider'), playButton: document.getElementById('play'),
    infos: [document.getElementById('layer-info')], tooltips: [document.getElementById('tooltip')],
    thumbnail: thumbnail,
  });
  // a tooltip's image: point i's tile of the atlas, cut out once
  function thumbnail(panel, d, i) {
    if (!spec || !atlas.complete) return null;
    if (!cut.has(i)) {
      const c = document.createElement('canvas'), t = spec.tile;
      c.width = c.height = t;
      c.getContext('2d').drawImage(atlas, (i % spec.columns) * t, Math.floor(i / spec.columns) * t, t, t, 0, 0, t, t);
      cut.set(i, c.toDataURL());
    }
    return cut.get(i);
  }
  const scatter = linked.scatters[0], style = document.getElementById('style');
  if (spec) {
    atlas.onload = () => scatter.setAtlas({image: atlas, tile: spec.tile, columns: spec.columns});
    atlas.src = R.atlas;
  } else style.hidden = true;
  style.addEventListener('click', () => {
    const pictures = scatter.getStyle() !== 'thumbnails';
    scatter.setStyle(pictures ? 'thumbnails' : 'dots');
    style.textContent = pictures ? 'dots' : 'pictures';
  });
  window.deeplingReport = linked;
  linked.play(0.6);
})();
"""

_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{style}</style></head>
<body>
<header><h1>Deepling report</h1>
<div class="sub">{model} · {data} · accuracy <b>{accuracy}</b> on {n} images · generated {generated}</div></header>
<main>
<section id="animation"><h2>Layer by layer: {n_points} images through {n_layers} layers</h2>
<p class="muted">Each point is an image, placed by its activations at one layer (Pivot MDS), each layout turned
onto the previous one (Procrustes). Drag the slider or press play; hover a point to see the image; a dark rim marks
a misclassified image.</p>
<div>{legend}</div>
<div class="dl-scatter-wrap"><div id="scatter" class="dl-scatter"></div>
<div id="tooltip" class="dl-tooltip" hidden></div></div>
<div class="player"><button id="play" title="play / pause">▶</button>
<input id="slider" type="range" aria-label="layer"><span id="layer-info" class="muted"></span>
<button id="style" title="draw each point as its image, or as a dot">pictures</button></div>
</section>
<section id="confusion"><h2>Confusion matrix</h2><div class="row">{confusion}
<div><h2>Accuracy per class</h2>{per_class}</div></div></section>
<section id="strips"><h2>The most frequent confusions, as adversarial strips</h2>
<p class="muted">An image the model gets right, changed step by step (gradient ascent on the other class's
log-probability) until the model takes it for the class it most often confuses it with; beneath each frame the
change, on one shared scale.</p>{strips}</section>
<section id="gradcam"><h2>Grad-CAM on the most confidently misclassified images</h2>{cams}</section>
{cka}
<section id="robustness"><h2>Robustness on {robustness_n} images</h2>
<p class="muted">Accuracy (solid) and mean probability of the true class (dotted) as each augmentation grows.</p>
{robustness}</section>
{ranking}
</main>
<script id="report-data" type="application/json">{data_json}</script>
<script>{scripts}</script>
<script>{glue}</script>
</body></html>
"""
