"""deepling serve --runs in a real browser: a link to a run opened before the run exists shows
the run once its folder appears (charts, epoch bars, histograms), with no reload."""

import shutil

import pytest

from tests.browser import console_errors, make_driver, quit_driver, running_app, wait_for

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A tiny CNN's Monitor run folder (2 epochs of 2 batches)."""
    from deepling.keras import Monitor
    from tests.tiny_runs import tiny_cnn

    model, xs, ys = tiny_cnn()
    folder = tmp_path_factory.mktemp("made") / "late"
    model.fit(xs, ys, batch_size=16, epochs=2, verbose=0, validation_data=(xs, ys),
              callbacks=[Monitor(folder, probe=(xs, ys), probe_size=8, every=0)])
    return folder


def test_a_link_opened_before_its_run_exists_shows_the_run_when_it_appears(finished_run, tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    with running_app("--runs", str(runs)) as url:
        d = make_driver(window_size=(1400, 1400))
        try:
            d.get(f"{url}/?run=run:late")
            wait_for(d, "const s = document.getElementById('train-watch-status');"
                        "return s && /No run folder late/.test(s.textContent)", 240,
                     "the page saying the run is not there (yet)")
            shutil.copytree(finished_run, runs / ".late-copy")  # appears whole, as a run does
            (runs / ".late-copy").rename(runs / "late")
            wait_for(d, "return document.querySelectorAll('#train-epochs-chart .bars path').length"
                        " >= 2", 60, "both epochs' bars, without a reload",
                     state="document.getElementById('train-watch-status').textContent")
            wait_for(d, "const s = document.getElementById('train-status');"
                        "return s && /finished/.test(s.textContent)", 30, "the run's end")
            wait_for(d, "return document.querySelectorAll('#train-hist .scatterlayer .trace')"
                        ".length >= 3", 60, "the histograms' ridgelines (start, epochs 1, 2)")
            assert not [e for e in console_errors(d) if "favicon" not in e]
        finally:
            quit_driver(d)
