"""Polls that never drop their own answers: the next request only after the last answer.

A server callback fired straight by a ``dcc.Interval`` loses on a slow server: when the next
tick fires while the previous request is still running, Dash's renderer *drops* the running
request (an executing callback with the same inputs and outputs is superseded), so a poll
slower than its interval never lands a single answer — a live chart stays empty however long
one waits (seen: the Training card watching a run on a loaded 2-core machine).

A *paced* poll puts a small clientside step between the timer and the server: each tick of
the interval passes a new ``tick`` to the server callback only when the last one was
answered (the server callback writes the tick it answered into ``tock``), or when it has been
waiting for longer than :data:`STALL_MS` (a lost request). So requests never overlap, every
answer is applied, and the rate is the interval's or, on a slow server, as fast as it answers.

    body += paced_stores("train-poll")            # beside dcc.Interval(id="train-poll")
    paced_poll(app, "train-poll")
    @app.callback(..., Output("train-poll-tock", "data"), Input("train-poll-tick", "data"), ...)
    def poll(tick, ...):
        ...
        return ..., answered(tick)
"""

from __future__ import annotations

from dash import Input, Output, State, dcc

STALL_MS = 20_000   # a request unanswered this long is taken as lost: the next tick goes out


def tick_id(interval_id: str) -> str:
    return f"{interval_id}-tick"


def tock_id(interval_id: str) -> str:
    return f"{interval_id}-tock"


def paced_stores(interval_id: str) -> list:
    """The two stores a paced poll needs (put them in the layout beside the interval)."""
    return [dcc.Store(id=tick_id(interval_id)), dcc.Store(id=tock_id(interval_id))]


def paced_poll(app, interval_id: str, initial: bool = False) -> None:
    """Register the clientside step: the interval's ticks → ``<interval_id>-tick`` (``{"n",
    "t"}``), only when the previous tick was answered (``<interval_id>-tock`` holds its n).
    ``initial``: a first tick at page load too (else the interval's first tick is the first)."""
    app.clientside_callback(
        """function (_n, tick, tock) {
            const now = Date.now();
            if (tick && tick.n && tock !== tick.n && now - tick.t < %d) {
                return window.dash_clientside.no_update;   // the last request is still out
            }
            return {n: ((tick && tick.n) || 0) + 1, t: now};
        }""" % STALL_MS,
        Output(tick_id(interval_id), "data"), Input(interval_id, "n_intervals"),
        State(tick_id(interval_id), "data"), State(tock_id(interval_id), "data"),
        prevent_initial_call=not initial)


def answered(tick) -> int | None:
    """What the server callback writes into ``<interval_id>-tock``: the tick it answered."""
    return tick.get("n") if isinstance(tick, dict) else None
