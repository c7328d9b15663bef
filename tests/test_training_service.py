"""The shared run store: one run per session, a bounded number per server, control and
deltas through diskcache (what a Celery worker and the web process share)."""

import os

import pytest

from deepling.service.training import RunStore, TrainingBusy


def test_one_run_per_session_and_a_bounded_number_per_server(tmp_path):
    store = RunStore(tmp_path)
    run = store.create("alice", {"model": "demo"}, max_runs=1)
    with pytest.raises(TrainingBusy, match="already has a run"):
        store.create("alice", {}, max_runs=1)
    with pytest.raises(TrainingBusy, match="server is busy"):
        store.create("bob", {}, max_runs=1)
    assert store.create("bob", {}, max_runs=2) != run
    store.update_meta(run, state="stopped")
    store.create("alice", {}, max_runs=2)  # alice's old run is over


def test_a_run_whose_process_is_gone_does_not_hold_the_server(tmp_path):
    store = RunStore(tmp_path)
    run = store.create("alice", {}, max_runs=1)
    store.update_meta(run, state="running", pid=2 ** 22 + 12345, host=os.uname().nodename)
    store.create("bob", {}, max_runs=1)


def test_control_and_deltas_travel_through_the_store(tmp_path):
    page, job = RunStore(tmp_path), RunStore(tmp_path)  # two handles, as two processes
    run = page.create("alice", {}, max_runs=1)
    page.command(run, frozen=["conv1a", "conv1a", "conv1b"])
    page.command(run, "pause")
    assert job.get(run, "control") == {"command": "pause", "frozen": ["conv1a", "conv1b"]}
    for k in range(5):
        job.publish(run, {"batches": {"step": [k]}})
    head, deltas = page.since(run, 0, limit=3)
    assert head == 3 and [d["batches"]["step"] for d in deltas] == [[0], [1], [2]]
    head, deltas = page.since(run, head)
    assert head == 5 and [d["batches"]["step"] for d in deltas] == [[3], [4]]
    assert page.since(run, 5) == (5, [])
