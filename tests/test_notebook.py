"""The example notebook runs top to bottom in a headless kernel, and deepling.show serves the
app from inside it."""

import urllib.request

import pytest

from tests.browser import REPO, free_port

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK = REPO / "examples" / "deepling_tour.ipynb"


def test_example_notebook_runs_and_shows_the_app_inline(monkeypatch):
    port = free_port()
    monkeypatch.setenv("DEEPLING_PORT", str(port))
    monkeypatch.setenv("PYTHONPATH", str(REPO))  # the kernel imports this checkout's deepling
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(REPO)}})
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)  # raises CellExecutionError with the traceback
        # while the kernel lives, the app it started answers (Dash's Jupyter server thread)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30) as r:
            assert r.status == 200 and b"Deepling" in r.read()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=30) as r:
            assert r.status == 200

    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    figures = [o for o in outputs if "application/vnd.plotly.v1+json" in o.get("data", {})]
    assert len(figures) == 5  # strip, Grad-CAM, one layer, all layers, robustness
    frames = [o for o in outputs if f":{port}/" in str(o.get("data", {}).get("text/html", ""))]
    assert frames and "<iframe" in frames[0]["data"]["text/html"]  # the app, inline
