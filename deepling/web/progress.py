"""The one way a job's status becomes a progress bar (every poll callback uses it).

    bar = progress_bar(services.poll(KIND, key))
    return bar.value, bar.text, bar.css("flex-grow-1"), not bar.polling

States: ``queued``/``running``/``unknown`` are *busy* (the bar shows, the poll goes on;
"unknown" is a job just submitted whose status is not written yet), ``error`` and
``cancelled`` *failed* (the bar shows in red, the poll stops, the text starts with ⚠),
``done`` finished (the bar hides, the poll stops).
"""

from __future__ import annotations

from dataclasses import dataclass

BUSY = ("queued", "running", "unknown")
FAILED = ("error", "cancelled")


@dataclass(frozen=True)
class Bar:
    state: str
    value: int   # 0..100
    text: str

    @property
    def busy(self) -> bool:
        return self.state in BUSY

    @property
    def failed(self) -> bool:
        return self.state in FAILED

    @property
    def done(self) -> bool:
        return self.state == "done"

    @property
    def polling(self) -> bool:
        """Whether the poll interval keeps running."""
        return self.busy

    def css(self, base: str, hidden: str = " dl-idle", error: str = " dl-error") -> str:
        """``base``, plus ``hidden`` unless the bar has something to show, plus ``error``."""
        return base + ("" if self.busy or self.failed else hidden) + (error if self.failed else "")


def combined(statuses: list[dict]) -> dict:
    """Several jobs behind one bar: the first failure, else the first still going with the
    mean progress of all, else done."""
    failed = [s for s in statuses if s.get("state") in FAILED]
    going = [s for s in statuses if s.get("state") != "done"]
    if not (failed or going):
        return {"state": "done", "progress": 1.0, "message": "done"}
    mean = sum(1.0 if s.get("state") == "done" else float(s.get("progress") or 0.0)
               for s in statuses) / len(statuses)
    return {**(failed or going)[0], "progress": mean}


def progress_bar(status: dict, waiting: str = "waiting", done: str = "") -> Bar:
    """A job's status (``{"state", "progress", "message"}``) as a :class:`Bar`."""
    state = status.get("state", "unknown")
    message = status.get("message") or ""
    if state in BUSY:
        return Bar(state, round(100 * float(status.get("progress") or 0.0)), message or waiting)
    if state in FAILED:
        return Bar(state, 100, f"⚠ {message or state}")
    return Bar("done", 100, done)
