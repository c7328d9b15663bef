"""The one status → progress bar helper every poll callback uses (deepling/web/progress.py)."""

from deepling.web.progress import combined, progress_bar


def test_each_state_becomes_one_bar():
    running = progress_bar({"state": "running", "progress": 0.426, "message": "layer 3 of 9"})
    assert (running.value, running.text, running.polling, running.done) == (43, "layer 3 of 9", True, False)
    assert running.css("row") == "row"  # shown
    waiting = progress_bar({"state": "unknown", "progress": 0.0, "message": ""})  # just submitted
    assert (waiting.value, waiting.text, waiting.polling) == (0, "waiting", True)
    queued = progress_bar({"state": "queued", "progress": 0.0, "message": "waiting in the queue: place 2 of 3"})
    assert queued.text == "waiting in the queue: place 2 of 3" and queued.polling
    failed = progress_bar({"state": "error", "progress": 1.0, "message": "out of memory"})
    assert (failed.value, failed.text, failed.polling, failed.failed) == (100, "⚠ out of memory", False, True)
    assert failed.css("row") == "row dl-error"
    cancelled = progress_bar({"state": "cancelled", "progress": 1.0, "message": "cancelled"})
    assert cancelled.failed and not cancelled.polling and cancelled.text == "⚠ cancelled"
    done = progress_bar({"state": "done", "progress": 1.0, "message": "done"}, done="ready")
    assert (done.value, done.text, done.polling, done.done) == (100, "ready", False, True)
    assert done.css("row", hidden=" gone") == "row gone"


def test_two_jobs_behind_one_bar():
    a = {"state": "done", "progress": 1.0, "message": "done"}
    b = {"state": "running", "progress": 0.5, "message": "streaming"}
    assert combined([a, b]) == {"state": "running", "progress": 0.75, "message": "streaming"}
    bad = {"state": "error", "progress": 1.0, "message": "no"}
    assert combined([b, bad])["state"] == "error"
    assert progress_bar(combined([a, a])).done
