"""Polls on a slow server (deepling/web/polling.py, assets/poll_gate.js): a callback that
answers slower than its Interval never shows an answer when wired straight to the
Interval (Dash drops the answer of a callback asked again while it runs: the "stays at
starting…" of a loaded machine), and does show its answers through the gate."""

import shutil
import threading
import time
from pathlib import Path

import pytest

from tests.browser import free_port, make_driver, quit_driver, wait_for

pytestmark = pytest.mark.browser

ASSETS = Path(__file__).resolve().parents[1] / "assets"
SLOW_S = 1.0       # each poll's answer takes this long
INTERVAL_MS = 250  # and the Interval ticks four times as often


@pytest.fixture(scope="module")
def slow_app(tmp_path_factory):
    from dash import Dash, Input, Output, html
    from werkzeug.serving import make_server

    from deepling.web import polling

    assets = tmp_path_factory.mktemp("assets")
    shutil.copy(ASSETS / "poll_gate.js", assets)
    app = Dash(__name__, assets_folder=str(assets))
    app.layout = html.Div([*polling.poll("gated-poll", INTERVAL_MS, disabled=False),
                           html.Div("start", id="gated"),
                           *polling.poll("raw-poll", INTERVAL_MS, disabled=False)[:1],
                           html.Div("start", id="raw")])

    @app.callback(Output("gated", "children"), polling.ticks(app, "gated-poll"),
                  prevent_initial_call=True)
    def gated(n):
        time.sleep(SLOW_S)
        return f"answer {n}"

    @app.callback(Output("raw", "children"), Input("raw-poll", "n_intervals"),
                  prevent_initial_call=True)
    def raw(n):
        time.sleep(SLOW_S)
        return f"answer {n}"

    port = free_port()
    server = make_server("127.0.0.1", port, app.server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()


def test_a_slow_poll_shows_its_answers_only_through_the_gate(slow_app):
    d = make_driver()
    try:
        d.get(slow_app)
        wait_for(d, "return document.getElementById('gated').textContent.startsWith('answer')", 30,
                 "the gated poll's first answer")
        first = d.find_element("id", "gated").text
        wait_for(d, f"return document.getElementById('gated').textContent !== {first!r}", 30,
                 "the gated poll's next answer")
        # the straight-wired poll is asked again every 250 ms and never shows an answer
        assert d.find_element("id", "raw").text == "start"
    finally:
        quit_driver(d)
