"""``deepling report``: one HTML file that works from file:// with no server and no network."""

import re

import numpy as np
import pytest

from tests.browser import console_errors, drawn_pixels, make_driver, quit_driver, wait_for

pytestmark = pytest.mark.browser

@pytest.fixture(scope="module")
def report_file(tmp_path_factory, cifar_sample, demo_model):
    from deepling.service.config import Config
    from deepling.service.workspace import Workspace
    from deepling.web.report import write_report

    folder = tmp_path_factory.mktemp("report")
    npz = folder / "sample.npz"
    pick = np.concatenate([np.flatnonzero(cifar_sample.labels == k)[:6] for k in range(10)])
    np.savez(npz, x=cifar_sample.images[pick], y=cifar_sample.labels[pick],
             class_names=np.array(cifar_sample.class_names))
    workspace = Workspace(Config.from_env(data=str(npz)))
    out = folder / "report.html"
    seen = []
    size = write_report(out, workspace, choice={"count": 4}, robustness_size=20, ranking_size=4,
                        progress=lambda f, m: seen.append(f))
    assert seen[0] == 0.0 and seen[-1] == 1.0 and seen == sorted(seen)
    assert size == out.stat().st_size
    return out


def test_report_is_one_file_with_nothing_to_fetch(report_file):
    text = report_file.read_text(encoding="utf-8")
    # no script, style, image or link that would need the network or another file
    assert not re.search(r"""<(script|link|img|iframe)[^>]*\s(src|href)=["'](?!data:|\$\{)""", text)
    assert "LayerScatter" in text and "LinkedScatters" in text  # the renderer, inlined
    for section in ("animation", "confusion", "strips", "gradcam", "robustness", "attributions"):
        assert f'<section id="{section}">' in text
    assert text.count("<figure class=\"cam\">") >= 1 and "<polyline" in text
    assert text.count("<tr><td>") >= 12 and "Integrated Gradients" in text  # the methods ranked


def test_report_plays_from_file_url_without_a_server(report_file):
    driver = make_driver()
    try:
        driver.get(report_file.as_uri())
        wait_for(driver, "return window.deeplingReport && window.deeplingReport.scatters[0].webgl > 0",
                 timeout=60, message="the WebGL renderer")
        wait_for(driver, "return window.deeplingReport.scatters[0].stats().frames > 3",
                 timeout=60, message="the animation playing")
        assert driver.execute_script("return window.deeplingReport.playing")
        ink = drawn_pixels(driver, "window.deeplingReport.scatters[0]")
        assert ink > 200, f"the frame looks blank ({ink} drawn pixels)"

        # the slider moves the points (and pauses the play loop)
        before = driver.execute_script("return window.deeplingReport.scatters[0].screenPosition(0)")
        driver.execute_script("""const s = document.getElementById('slider');
            s.value = '1'; s.dispatchEvent(new Event('input'));""")
        state = driver.execute_script("""const r = window.deeplingReport;
            return [r.playing, r.t, r.scatters[0].getLayer(), r.scatters[0].screenPosition(0),
                    document.getElementById('layer-info').textContent]""")
        playing, t, layer, after, info = state
        assert not playing and t == 1 and layer == driver.execute_script(
            "return window.deeplingReport.data[0].nLayers - 1")
        assert np.hypot(after[0] - before[0], after[1] - before[1]) > 1, "the points did not move"
        assert "predictions" in info
        # nothing was fetched from anywhere: every resource is the file itself or inline
        fetched = driver.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)"
            ".filter(n => !n.startsWith('data:'))")
        assert fetched == []
        assert console_errors(driver) == []
    finally:
        quit_driver(driver)
