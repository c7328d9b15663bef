"""Shared fixtures: the real demo model and a small real CIFAR-10 sample.

CIFAR-10 is read from ``$DEEPLING_CIFAR10`` (CI sets it to ../shared/data/cifar10); the
cache goes to a per-run temporary folder so tests never depend on a developer's cache.
"""

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    old = os.environ.get("DEEPLING_CACHE")
    os.environ["DEEPLING_CACHE"] = str(tmp_path_factory.mktemp("deepling-cache"))
    yield
    if old is None:
        os.environ.pop("DEEPLING_CACHE", None)
    else:
        os.environ["DEEPLING_CACHE"] = old


@pytest.fixture(scope="session")
def cifar_test():
    """The CIFAR-10 test split (10,000 images): the local copy named by $DEEPLING_CIFAR10,
    else the Keras cache/download, as the app itself does."""
    from deepling.data import load_cifar10

    return load_cifar10("test")


@pytest.fixture(scope="session")
def cifar_sample(cifar_test):
    """200 test images, 20 per class, fixed seed."""
    rng = np.random.default_rng(0)
    idx = np.concatenate([rng.choice(np.flatnonzero(cifar_test.labels == k), 20, replace=False)
                          for k in range(10)])
    return cifar_test.subset(np.sort(idx))


@pytest.fixture(scope="session")
def demo_model():
    """The committed demo CNN, loaded the way the app loads it."""
    from deepling.models import load_demo_model

    return load_demo_model()


@pytest.fixture(scope="session")
def app_url():
    """The real app (``python run.py``) on the demo model, shared by the browser tests.

    ``DEEPLING_TEST_APP_ARGS`` may add flags (e.g. another ``--model``) when developing.
    """
    from tests.browser import running_app

    args = os.environ.get("DEEPLING_TEST_APP_ARGS", "").split()
    with running_app(*args) as url:
        yield url


@pytest.fixture(scope="module")
def driver():
    from tests.browser import make_driver, quit_driver

    d = make_driver()
    yield d
    quit_driver(d)


@pytest.fixture(scope="session")
def tiny_cam_model():
    """8×8 pixels: rescaling → 3×3 conv (4 ReLU channels, 'same') → global average → 3 logits."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(3)
    inputs = keras.Input((8, 8, 3))
    x = layers.Rescaling(1 / 255)(inputs)
    x = layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(x)
    x = layers.GlobalAveragePooling2D()(x)
    out = layers.Dense(3, name="logits")(x)
    model = keras.Model(inputs, out)
    conv = model.get_layer("conv")
    kernel, bias = conv.get_weights()
    conv.set_weights([kernel * 3, bias + 0.2])  # most units active
    from deepling.models import ModelAdapter

    return ModelAdapter.from_model(model, "cam model")
