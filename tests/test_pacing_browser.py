"""A paced poll (deepling/web/pacing.py) lands every answer of a server slower than its
interval, and never has two requests out at once.

Why: Dash's renderer drops a running callback request when the same callback fires again,
so a server callback fired straight by a ``dcc.Interval`` faster than the server answers
never applies one answer (a watched run's charts stayed empty in the browser on a loaded
machine). A small Dash app in a thread (no model, no TensorFlow), headless Chromium.
"""

import threading
import time

import pytest

from tests.browser import make_driver, quit_driver, wait_for

pytestmark = pytest.mark.browser

SERVER_SECONDS = 0.4   # each answer takes this long …
INTERVAL_MS = 100      # … and the interval ticks four times meanwhile


def _serve(paced: bool):
    import dash
    from dash import Input, Output, dcc, html
    from werkzeug.serving import make_server

    from deepling.web.pacing import answered, paced_poll, paced_stores, tick_id, tock_id

    state = {"calls": 0, "running": 0, "most": 0}
    lock = threading.Lock()

    def slow():
        with lock:
            state["calls"] += 1
            state["running"] += 1
            state["most"] = max(state["most"], state["running"])
        time.sleep(SERVER_SECONDS)
        with lock:
            state["running"] -= 1
            return str(state["calls"])

    app = dash.Dash(__name__)
    app.layout = html.Div([dcc.Interval(id="poll", interval=INTERVAL_MS), *paced_stores("poll"),
                           html.Div("none", id="out")])
    if paced:
        paced_poll(app, "poll")

        @app.callback(Output("out", "children"), Output(tock_id("poll"), "data"),
                      Input(tick_id("poll"), "data"), prevent_initial_call=True)
        def poll(tick):
            return slow(), answered(tick)
    else:
        @app.callback(Output("out", "children"), Input("poll", "n_intervals"),
                      prevent_initial_call=True)
        def poll(_n):
            return slow()

    httpd = make_server("127.0.0.1", 0, app.server, threaded=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_port}", state


@pytest.fixture(scope="module")
def driver():
    d = make_driver(window_size=(600, 400))
    yield d
    quit_driver(d)


def test_a_paced_poll_applies_every_slow_answer_and_never_overlaps(driver):
    httpd, url, state = _serve(paced=True)
    try:
        driver.get(url)
        wait_for(driver, "const e = document.getElementById('out');"
                         "return e && e.textContent !== 'none' && Number(e.textContent) >= 4", 30,
                 "four answers of a server slower than the interval applied",
                 state="(document.getElementById('out') || {}).textContent")
        assert state["most"] == 1  # never two requests out at once
    finally:
        httpd.shutdown()


def test_an_unpaced_poll_slower_than_its_interval_shows_nothing(driver):
    """The failure pacing prevents, as Dash 4 behaves: every answer superseded and dropped
    (if a Dash release keeps answers, this test says so; pacing stays harmless)."""
    httpd, url, state = _serve(paced=False)
    try:
        driver.get(url)
        deadline = time.monotonic() + 30
        while state["calls"] < 6 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert state["calls"] >= 6 and state["most"] > 1  # requests overlapped …
        assert driver.execute_script("return document.getElementById('out').textContent") == "none"
    finally:                                               # … and none was applied
        httpd.shutdown()
