"""Linear CKA between layers (deepling/projection/cka.py): the streamed minibatch estimate
against a full-batch reference, its invariances, and CKA across snapshots."""

import numpy as np
import pytest

from deepling.projection.cka import cka, cka_across_training, linear_cka, unbiased_hsic

LAYERS = ["pool2", "pool3", "fc1", "fc2", "predictions"]


@pytest.fixture(scope="module")
def images(cifar_test):
    """1,000 test images of every class (every 10th: the local split may be sorted by class)."""
    return cifar_test.images[::10][:1000]


@pytest.fixture(scope="module")
def twin(demo_model):
    """The demo CNN again, as a separate model with the same weights."""
    import keras

    clone = keras.models.clone_model(demo_model.model)
    clone.set_weights(demo_model.model.get_weights())
    return clone


def _reference(model, images, layers):
    import keras

    adapter = model
    sub = keras.Model(adapter.model.inputs[0], [adapter.model.get_layer(n).output for n in layers])
    acts = [np.asarray(a).reshape(len(images), -1)
            for a in sub.predict(adapter.preprocess(images), batch_size=200, verbose=0)]
    grams = []
    for a in acts:  # centred Gram matrices, once per layer, float64
        a = a.astype(np.float64) - a.mean(0)
        grams.append(a @ a.T)
    h = np.array([[unbiased_hsic(k, l) for l in grams] for k in grams])
    return h / np.sqrt(np.outer(np.diag(h), np.diag(h)))


def test_linear_cka_invariances():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 40))
    y = np.tanh(x @ rng.normal(size=(40, 30))) + 0.3 * rng.normal(size=(300, 30))
    q, _ = np.linalg.qr(rng.normal(size=(30, 30)))
    assert linear_cka(x, x) == pytest.approx(1.0, abs=1e-12)
    base = linear_cka(x, y)
    assert 0.2 < base < 0.95
    assert linear_cka(x, y @ q) == pytest.approx(base, abs=1e-10)        # orthogonal
    assert linear_cka(x, 7.5 * y) == pytest.approx(base, abs=1e-10)      # isotropic scaling
    assert linear_cka(x, y + 3.0) == pytest.approx(base, abs=1e-10)      # translation
    # not invariant to an arbitrary linear map (what makes it a similarity of representations)
    assert abs(linear_cka(x, y * np.linspace(0.1, 10, 30)) - base) > 0.01


def test_streamed_estimate_matches_full_batch(demo_model, cifar_test):
    """One pass with 64-image blocks in random order, against the full-batch unbiased
    estimate on 4,000 random test images (every class; their Gram matrices still fit in
    memory). The two estimates differ by sampling noise, which shrinks with the sample:
    measured largest-pair deviation 0.0095-0.0118 at 1,000 images, 0.006-0.011 at 2,000 and
    0.0056 / 0.0093 / 0.0070 at 4,000 for block orders 0 / 1 / 2. (Blocks taken in index
    order on class-sorted data were one class each: 0.17 off.)"""
    pick = np.sort(np.random.default_rng(0).choice(len(cifar_test.images), 4000, replace=False))
    images = cifar_test.images[pick]
    result = cka(demo_model, None, images, layers_a=LAYERS, n_images=4000)
    reference = _reference(demo_model, images, LAYERS)
    assert result.matrix.shape == (5, 5) and result.n_images == 4000
    deviation = np.abs(result.matrix - reference)
    assert deviation.max() < 0.01 and deviation.mean() < 0.005
    assert np.allclose(np.diag(result.matrix), 1.0)


def test_two_models_same_weights_and_transformed_layer(demo_model, twin, images):
    """Model B = the demo's twin plus a layer that turns fc2 by an orthogonal matrix and
    scales it: the diagonal is 1 across two passes, and that layer matches fc2 exactly."""
    import keras

    rng = np.random.default_rng(1)
    q, _ = np.linalg.qr(rng.normal(size=(128, 128)))
    turned = keras.layers.Dense(128, use_bias=False, name="turned")
    out = turned(twin.get_layer("fc2").output)
    turned.set_weights([(3.0 * q).astype(np.float32)])
    model_b = keras.Model(twin.inputs[0], [out, twin.outputs[0]])
    model_b = keras.Model(twin.inputs[0], out)
    result = cka(demo_model, model_b, images[:300], layers_a=["pool3", "fc1", "fc2"],
                 layers_b=["pool3", "fc1", "fc2", "turned"])
    m = result.matrix
    assert result.names_b == ("pool3", "fc1", "fc2", "turned")
    assert np.allclose(np.diag(m[:, :3]), 1.0, atol=1e-4)
    assert m[2, 3] == pytest.approx(1.0, abs=1e-4)                   # CKA(fc2, Q·3·fc2) = 1
    assert m[1, 3] == pytest.approx(m[1, 2], abs=1e-4)               # invariance seen from fc1
    assert list(result.best_match) == [0, 1, 2, 2]
    fig = result.plot()
    assert fig.data[0].z.shape == (3, 4)
    # the report's table when two models are compared (cached arrays → the same result)
    from deepling.projection.cka import CKAResult
    from deepling.web.report import _cka_table

    page = _cka_table(CKAResult.from_arrays(result.to_arrays()))
    assert page.count("<tr>") == 4 and 'title="fc2 · turned: 1.00"' in page


def test_across_training(demo_model, twin, images):
    """Epoch × epoch for one layer: identical snapshots at 1, an untrained one far off."""
    from deepling.models.demo import build_demo_model

    fresh = build_demo_model(seed=7)
    result = cka_across_training([demo_model, twin, fresh], images[:256], "fc2",
                                 labels=["epoch 24", "epoch 24 again", "untrained"])
    m = result.matrix
    assert m.shape == (3, 3)
    assert m[0, 1] == pytest.approx(1.0, abs=1e-4)
    assert m[0, 2] < 0.9 and m[0, 2] == pytest.approx(m[2, 0])


def test_refuses_unusable_input(demo_model, images):
    with pytest.raises(ValueError, match="uint8"):
        cka(demo_model, None, images.astype(np.float32) / 255)
    with pytest.raises(ValueError, match="at least 4"):
        cka(demo_model, None, images, block_size=2)
