"""A server projects its first page's images at start-up, before anyone asks: a presenter's
first page load finds the animation ready instead of waiting for it."""

import time

import pytest

from tests.browser import running_app

pytestmark = pytest.mark.slow


def test_the_first_pages_projection_is_ready_without_a_visit(tmp_path):
    import diskcache

    from deepling.service.config import Config
    from deepling.service.projections import ProjectionService
    from deepling.service.selection import normalise
    from deepling.service.workspace import Workspace

    key = ProjectionService(Workspace(Config(cache=tmp_path))).key("demo", "default", normalise({}, 10))
    with running_app(env={"DEEPLING_CACHE": str(tmp_path)}):
        status = diskcache.Cache(str(tmp_path / "job-status"))
        deadline = time.time() + 180
        while (state := (status.get(key) or {}).get("state")) != "done":
            assert state != "error", status.get(key)
            assert time.time() < deadline, f"no finished warm-up projection, last state {state!r}"
            time.sleep(0.5)
