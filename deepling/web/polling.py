"""Polls that show their answers on a loaded server: one request at a time per poll.

A ``dcc.Interval`` wired straight to a server callback breaks when the callback answers
slower than the interval (a loaded machine, a busy server process): each tick asks again,
Dash drops the answer of a callback asked again while it runs, and the page never updates —
a progress bar stays at "starting…" although the job finished long ago
(``tests/test_polling_browser.py`` shows both). Here the Interval ticks a Store through a
clientside gate (``assets/poll_gate.js``) that lets a tick through only once the poll's
previous request has been answered::

    layout:    *polling.poll("cmp-cka-poll", 500)          # the Interval and its tick Store
    callback:  @app.callback(..., polling.ticks(app, "cmp-cka-poll"), State(...))

The Interval is enabled and disabled as before (``Output("cmp-cka-poll", "disabled")``).
"""

from __future__ import annotations

from dash import Input, Output, dcc

GATE = ("function (n) {{ var D = window.Deepling; "
        "return D && D.pollGate ? D.pollGate({tick!r}, n) : n; }}")


def tick_id(poll_id: str) -> str:
    return f"{poll_id}-tick"


def poll(poll_id: str, interval: int, disabled: bool = True) -> list:
    """The Interval ``poll_id`` and the Store its gated ticks go to (put both in the layout)."""
    return [dcc.Interval(id=poll_id, interval=interval, disabled=disabled),
            dcc.Store(id=tick_id(poll_id))]


def ticks(app, poll_id: str) -> Input:
    """Gate ``poll_id``'s ticks (one request at a time) and return the Input to poll on."""
    app.clientside_callback(GATE.format(tick=tick_id(poll_id)), Output(tick_id(poll_id), "data"),
                            Input(poll_id, "n_intervals"), prevent_initial_call=True)
    return Input(tick_id(poll_id), "data")
