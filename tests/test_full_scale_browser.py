"""A first visit to every image of the data (``data=default@all``) in a real browser: the
images are loaded and predicted by a job the page follows, never inside the page's request,
and the animation then shows them.

The app runs on a tiny image folder with train/ and test/ (220 CIFAR-10 images).
"""

import diskcache
import pytest

from deepling.service.cache import cache_key
from tests.browser import console_errors, make_driver, quit_driver, running_app, wait_for
from tests.test_training_browser import tiny_folder  # noqa: F401 - the same tiny folder

pytestmark = pytest.mark.browser

DRAWN = """const v = window.Deepling && window.Deepling.animationView;
return !!(v && v.data && v.data.n === arguments[0] && v.scatter && v.scatter.stats().frames > 0);"""


def test_a_first_visit_to_every_image_predicts_in_a_job(tiny_folder, tmp_path):  # noqa: F811
    cache = tmp_path / "cache"
    with running_app("--data", str(tiny_folder), env={"DEEPLING_CACHE": str(cache)}) as url:
        d = make_driver()
        try:
            d.get(url + "/?data=default@all&mode=random&count=150&points=dots")
            wait_for(d, DRAWN.replace("arguments[0]", "150"), 180, "150 of the 220 images drawn")
            # The views were built after the predictions job the page started had finished.
            job = diskcache.Cache(str(cache / "job-status")).get(
                cache_key("page-predictions", "demo", "default@all"))
            assert job is not None and job["state"] == "done", job
            assert d.execute_script("return document.getElementById('page-status')") is None
            errors = console_errors(d)
            assert not errors, "\n".join(errors)
        finally:
            quit_driver(d)
