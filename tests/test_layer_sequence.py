"""layer_sequence: one finite, aligned layout per layer, streamed, with clear errors (and
cached by the service)."""

import itertools
import warnings

import numpy as np
import pytest
from scipy.spatial import procrustes
from sklearn.metrics.pairwise import euclidean_distances

from deepling.service.cache import ArrayCache
from deepling.service.projections import cached_sequence
from deepling.models import ModelAdapter
from deepling.projection import LayerSequence, landmark_products, layer_sequence
from deepling.projection.activations import N_LANDMARKS


@pytest.fixture(scope="module")
def sample100(cifar_sample):
    return cifar_sample.images[::2]  # 100 images, 10 per class


@pytest.fixture(scope="module")
def demo_run(demo_model, sample100):
    calls = []
    seq = layer_sequence(demo_model, sample100,
                         progress=lambda f, msg: calls.append((f, msg)))
    return seq, calls


def small_images(n, size=16, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def branching_adapter():
    """A functional model with two branches joined by Add, then Concatenate."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(0)
    inp = keras.Input((16, 16, 3), name="pixels")
    x = layers.Rescaling(1 / 255, name="scale")(inp)
    stem = layers.Conv2D(8, 3, padding="same", activation="relu", name="stem")(x)
    left = layers.Conv2D(8, 3, padding="same", activation="relu", name="left")(stem)
    right = layers.Conv2D(8, 1, activation="tanh", name="right")(stem)
    added = layers.Add(name="add")([left, right])
    joined = layers.Concatenate(name="concat")([added, stem])
    pooled = layers.GlobalAveragePooling2D(name="gap")(joined)
    out = layers.Dense(4, activation="softmax", name="probs")(pooled)
    return ModelAdapter.from_model(keras.Model(inp, out), "branching test model", "branch-v1")


def constant_adapter():
    """A model with a layer that ignores its input (constant) and a dead ReLU layer."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(0)
    inp = keras.Input((16, 16, 3), name="pixels")
    x = layers.Rescaling(1 / 255, name="scale")(inp)
    gap = layers.GlobalAveragePooling2D(name="gap")(x)
    const = layers.Dense(5, kernel_initializer="zeros", bias_initializer="ones", name="const")(gap)
    dead = layers.Dense(5, activation="relu", bias_initializer=keras.initializers.Constant(-100.0),
                        name="dead")(gap)
    joined = layers.Concatenate(name="concat")([gap, const, dead])
    out = layers.Dense(3, activation="softmax", name="probs")(joined)
    return ModelAdapter.from_model(keras.Model(inp, out), "constant test model", "const-v1")


def test_demo_model_gives_one_finite_layout_per_layer(demo_run, sample100, demo_model):
    seq, _ = demo_run
    n_layers = len(seq)
    assert seq.names[0] == demo_model.model.inputs[0]._keras_history.operation.name
    assert seq.types[0] == "InputLayer"
    assert {"conv1a", "pool3", "fc2", "predictions"} <= set(seq.names)
    assert "Dropout" not in seq.types and any("dropout1" in s for s in seq.skipped)
    assert seq.shapes[seq.names.index("conv1a")] == (32, 32, 32)
    assert seq.layouts.shape == (n_layers, len(sample100), 2)
    assert seq.layouts.dtype == np.float32
    assert np.isfinite(seq.layouts).all()
    radius = np.sqrt((seq.layouts.astype(np.float64) ** 2).sum(axis=2))
    assert radius.max() == pytest.approx(1.0, abs=1e-6)  # one shared viewport
    assert not seq.collapsed.any() and seq.warnings == ()
    assert (seq.n_landmarks, seq.n_directions) == (len(sample100), 8)  # all are landmarks


def test_demo_model_diagnostics(demo_run):
    seq, _ = demo_run
    for name in ("mirrored", "rotation_deg", "residual_before", "residual_after",
                 "residual_alternative"):
        assert getattr(seq, name).shape == (len(seq) - 1,), name
    assert seq.mirrored.dtype == bool
    assert np.isfinite(seq.residual_after).all()
    # Turning never makes a frame fit worse than leaving it, nor worse than the other hand.
    assert (seq.residual_after <= seq.residual_before + 1e-9).all()
    assert (seq.residual_after <= seq.residual_alternative + 1e-9).all()
    # A layer that only rescales its input lays out identically: nothing moves.
    rescale = seq.names.index("rescale")
    assert seq.residual_after[rescale - 1] < 1e-5
    np.testing.assert_allclose(seq.layouts[rescale], seq.layouts[rescale - 1], atol=1e-5)


def test_progress_rises_from_zero_to_one(demo_run):
    _, calls = demo_run
    fractions = [f for f, _ in calls]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0
    assert all(b >= a for a, b in itertools.pairwise(fractions))
    assert all(isinstance(msg, str) and msg for _, msg in calls)


def test_alignment_only_turns_frames(demo_model, sample100, demo_run):
    seq, _ = demo_run
    raw = layer_sequence(demo_model, sample100, align=False)
    assert not raw.aligned and seq.aligned
    for aligned, unaligned in zip(seq.layouts, raw.layouts):
        assert procrustes(aligned, unaligned)[2] < 1e-6  # same shape, other orientation
    def travel(s):
        return np.linalg.norm(np.diff(s.layouts, axis=0), axis=2).mean()

    assert travel(seq) < travel(raw)


def test_second_call_hits_the_services_cache(tmp_path):
    """The service caches the library's result (the library itself keeps nothing)."""
    adapter, images = branching_adapter(), small_images(30)
    store = ArrayCache("projections", root=tmp_path)
    first = cached_sequence(store, adapter, images, n_directions=4)
    calls = []
    second = cached_sequence(store, adapter, images, n_directions=4,
                             progress=lambda f, msg: calls.append((f, msg)))
    assert not first.from_cache and second.from_cache
    assert calls == [(1.0, "Layer projections loaded from the cache")]
    np.testing.assert_array_equal(first.layouts, second.layouts)
    assert (second.names, second.shapes, second.skipped) == (first.names, first.shapes, first.skipped)
    np.testing.assert_array_equal(first.residual_after, second.residual_after)
    # Other parameters, other images or no fixed seed: computed afresh.
    assert not cached_sequence(store, adapter, images, n_directions=5).from_cache
    assert not cached_sequence(store, adapter, images[::-1], n_directions=4).from_cache
    assert not cached_sequence(store, adapter, images, n_directions=4, random_state=None).from_cache
    assert len(list(store.dir.glob("*.npz"))) == 3


def test_arrays_round_trip():
    seq = layer_sequence(branching_adapter(), small_images(12), n_directions=4)
    back = LayerSequence.from_arrays(seq.to_arrays())
    for name in ("names", "types", "shapes", "warnings", "skipped", "aligned", "n_landmarks",
                 "n_directions"):
        assert getattr(back, name) == getattr(seq, name), name
    np.testing.assert_array_equal(back.layouts, seq.layouts)
    with pytest.raises(ValueError, match="another version"):
        LayerSequence.from_arrays({**seq.to_arrays(), "format": np.array(-1)})
    with pytest.raises(ValueError):
        seq.layouts[0, 0, 0] = 5.0  # read-only: the result is frozen


def test_functional_model_with_branches():
    seq = layer_sequence(branching_adapter(), small_images(40), n_landmarks=10)
    assert seq.names == ("pixels", "scale", "stem", "left", "right", "add", "concat", "gap", "probs")
    assert seq.shapes[seq.names.index("concat")] == (16, 16, 16)
    assert seq.shapes[seq.names.index("gap")] == (16,)
    assert np.isfinite(seq.layouts).all() and not seq.collapsed.any()


def test_open_spatial_size_takes_shapes_from_the_images():
    import keras
    from keras import layers

    inp = keras.Input((None, None, 3), name="pixels")
    x = layers.Conv2D(4, 3, padding="same", name="conv")(inp)
    out = layers.Dense(2, name="head")(layers.GlobalAveragePooling2D(name="gap")(x))
    adapter = ModelAdapter.from_model(keras.Model(inp, out), "fully convolutional", "fcn-v1")
    seq = layer_sequence(adapter, small_images(12, size=10), n_directions=4)
    assert seq.shapes == ((10, 10, 3), (10, 10, 4), (4,), (2,))


def test_shared_layer_is_skipped_with_a_reason():
    import keras
    from keras import layers

    inp = keras.Input((8, 8, 3), name="pixels")
    flat = layers.Flatten(name="flat")(inp)
    shared = layers.Dense(4, name="shared")
    out = layers.Add(name="sum")([shared(flat), shared(layers.Dense(192, name="pre")(flat))])
    adapter = ModelAdapter.from_model(keras.Model(inp, out), "shared layer model", "shared-v1")
    seq = layer_sequence(adapter, small_images(10, size=8), n_directions=4)
    assert seq.names == ("pixels", "flat", "pre", "sum")
    assert seq.skipped == ("shared (Dense): used at several places in the graph",)
    with pytest.raises(ValueError, match="Cannot project shared \\(Dense\\): used at several"):
        layer_sequence(adapter, small_images(10, size=8), ["shared"])


def test_sequential_model_and_explicit_layers():
    import keras
    from keras import layers

    model = keras.Sequential([keras.Input((16, 16, 3)), layers.Rescaling(1 / 255, name="r"),
                              layers.Flatten(name="flat"), layers.Dropout(0.5, name="drop"),
                              layers.Dense(6, activation="softmax", name="out")])
    adapter = ModelAdapter.from_model(model, "sequential test model", "seq-v1")
    images = small_images(20)
    default = layer_sequence(adapter, images, n_directions=5)
    assert default.names[1:] == ("r", "flat", "out") and default.types[0] == "InputLayer"
    chosen = layer_sequence(adapter, images, ["out", "drop"], n_directions=5)
    assert chosen.names == ("drop", "out")  # topological order; named identity layers kept


def test_constant_layers_warn_instead_of_nan():
    seq = layer_sequence(constant_adapter(), small_images(25), n_landmarks=12)
    collapsed = {name for name, c in zip(seq.names, seq.collapsed) if c}
    assert collapsed == {"const", "dead"}
    assert np.isfinite(seq.layouts).all()
    for name in ("const", "dead"):
        np.testing.assert_array_equal(seq.layout(name), 0.0)
        assert any(w.startswith(f"{name} (Dense)") for w in seq.warnings)
    assert np.isfinite(seq.residual_after).all()
    # The frame after a collapsed one is aligned to the last frame with spread.
    assert seq.residual_after[seq.names.index("concat") - 1] < 1.0


def test_non_finite_layer_warns_instead_of_nan():
    import keras
    from keras import layers

    inp = keras.Input((8, 8, 3), name="pixels")
    flat = layers.Flatten(name="flat")(inp)
    huge = layers.Rescaling(1e38, name="huge")(flat)  # overflows float32 to inf
    out = layers.Dense(3, name="head")(layers.Concatenate(name="cat")([flat, huge]))
    adapter = ModelAdapter.from_model(keras.Model(inp, out), "overflowing model", "inf-v1")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # handled, not leaked as overflow noise
        seq = layer_sequence(adapter, small_images(10, size=8), n_landmarks=6)
    assert np.isfinite(seq.layouts).all()
    assert seq.collapsed.tolist() == [False, False, True, True, True]
    assert any(w.startswith("huge (Rescaling): gives NaN or infinite") for w in seq.warnings)


def test_fewer_images_than_landmarks():
    seq = layer_sequence(branching_adapter(), small_images(7), n_landmarks=50)
    assert (seq.n_landmarks, seq.n_directions) == (7, 6) and seq.layouts.shape[1] == 7
    assert np.isfinite(seq.layouts).all()


def test_streamed_products_are_exact_and_batch_independent():
    import keras

    adapter, images = branching_adapter(), small_images(300, seed=1)
    assert len(images) > N_LANDMARKS  # some images are streamed, not landmarks
    # batch 17 streams in many batches and a remainder, batch 300 in one
    big = landmark_products(adapter, images, n_directions=5, batch_size=300, random_state=3)
    small = landmark_products(adapter, images, n_directions=5, batch_size=17, random_state=3)
    np.testing.assert_array_equal(big.landmarks, small.landmarks)
    assert len(big.landmarks) == N_LANDMARKS
    model = adapter.model
    outputs = [model.inputs[0]] + [model.get_layer(n).output for n in big.names[1:]]
    acts = keras.Model(model.inputs[0], outputs)(adapter.preprocess(images), training=False)
    for name, act, a, b, var in zip(big.names, acts, big.products, small.products, big.variances):
        act = np.asarray(act, dtype=np.float64).reshape(len(images), -1)
        np.testing.assert_allclose(a, b, atol=1e-5 * np.abs(a).max(), err_msg=name)
        # What the products stand for: every image's coordinates along the landmarks'
        # leading principal directions (right singular vectors, each up to its sign).
        marks = act[big.landmarks] - act[big.landmarks].mean(axis=0)
        _, sv, vt = np.linalg.svd(marks, full_matrices=False)
        r = min(5, len(vt))  # a 4-unit layer has 4 directions; the fifth column is zero
        exact = (act - act.mean(axis=0)) @ vt[:r].T
        got = a[:, :r] - a[:, :r].mean(axis=0)
        got = got * np.sign((got * exact).sum(axis=0))
        np.testing.assert_allclose(got, exact, atol=1e-4 * np.abs(exact).max(), err_msg=name)
        np.testing.assert_array_equal(a[:, r:], 0.0)
        np.testing.assert_allclose(var[:r], sv[:r] ** 2 / len(marks), rtol=1e-4, atol=1e-6 * var[0],
                                   err_msg=name)


def test_with_every_image_a_landmark_the_layout_is_classical_mds():
    """Few images: the landmarks are all of them, so each layer's layout is exactly the top
    two principal axes of its activations (classical MDS), up to turning."""
    import keras

    adapter, images = branching_adapter(), small_images(60, seed=2)
    seq = layer_sequence(adapter, images, align=False)
    assert seq.n_landmarks == 60
    model = adapter.model
    for name in ("stem", "concat", "gap"):
        act = np.asarray(keras.Model(model.inputs[0], model.get_layer(name).output)(
            adapter.preprocess(images)), np.float64).reshape(len(images), -1)
        u, s, _ = np.linalg.svd(act - act.mean(axis=0), full_matrices=False)
        assert procrustes(u[:, :2] * s[:2], seq.layout(name))[2] < 1e-8, name


def test_streamed_layout_shows_about_as_much_as_classical_mds(demo_model, cifar_sample):
    """More images than landmarks: the layouts of the streamed images still show nearly the
    variance classical MDS shows, in the widest and in a dense layer."""
    import keras

    images = cifar_sample.images  # 200 images, 48 landmarks
    seq = layer_sequence(demo_model, images, ["conv1b", "fc1"], n_landmarks=48, align=False)
    model = demo_model.model
    for name in ("conv1b", "fc1"):
        act = np.asarray(keras.Model(model.inputs[0], model.get_layer(name).output)(
            demo_model.preprocess(images)), np.float64).reshape(len(images), -1)
        act -= act.mean(axis=0)
        best = (np.linalg.svd(act, compute_uv=False)[:2] ** 2).sum()
        basis, _ = np.linalg.qr(seq.layout(name) - seq.layout(name).mean(axis=0))
        assert ((act.T @ basis) ** 2).sum() >= 0.85 * best, name


def test_deterministic_for_fixed_random_state():
    adapter, images = branching_adapter(), small_images(30)
    a = layer_sequence(adapter, images, n_landmarks=12, random_state=5)
    b = layer_sequence(adapter, images, n_landmarks=12, random_state=5)
    np.testing.assert_array_equal(a.layouts, b.layouts)


def test_bad_inputs_raise_clear_errors(demo_model, sample100):
    with pytest.raises(ValueError, match=r"28×28×1 but .* takes 32×32×3.*fit_dataset"):
        layer_sequence(demo_model, np.zeros((4, 28, 28, 1), np.uint8))
    with pytest.raises(ValueError, match="No images selected"):
        layer_sequence(demo_model, sample100[:0])
    with pytest.raises(ValueError, match="Only one image"):
        layer_sequence(demo_model, sample100[:1])
    with pytest.raises(ValueError, match="uint8"):
        layer_sequence(demo_model, sample100[:4].astype(np.float32))
    with pytest.raises(ValueError, match="No layer named 'conv9'.*conv1a"):
        layer_sequence(demo_model, sample100[:4], ["conv1a", "conv9"])
    with pytest.raises(ValueError, match="layers is empty"):
        layer_sequence(demo_model, sample100[:4], [])
    with pytest.raises(ValueError, match="n_landmarks must be a positive integer"):
        layer_sequence(demo_model, sample100[:4], n_landmarks=0)
    with pytest.raises(ValueError, match="n_directions must be a positive integer"):
        layer_sequence(demo_model, sample100[:4], n_directions=2.5)


def test_model_without_projectable_layers():
    import keras
    from keras import layers

    inp = keras.Input((8, 8, 3), name="pixels")
    adapter = ModelAdapter.from_model(keras.Model(inp, layers.Dropout(0.5, name="d")(inp)),
                                      "dropout only", "drop-v1")
    with pytest.raises(ValueError, match="no layer to project.*d \\(Dropout\\): identity"):
        layer_sequence(adapter, small_images(4, size=8))


def test_a_second_projection_on_the_same_model_is_not_traced_again():
    """The compiled functions take images and bases as arguments: other images, other
    landmarks and directions and other batch sizes reuse the one trace kept on the adapter."""
    adapter = branching_adapter()
    landmark_products(adapter, small_images(300, seed=1), n_landmarks=40, batch_size=64,
                      random_state=3)
    functions = adapter.__dict__["_deepling_projection_functions"]
    traces = {key: fn.experimental_get_tracing_count() for key, fn in functions.items()}
    assert {key[0] for key in traces} == {"sketch", "products"}
    assert all(count == 1 for count in traces.values())
    landmark_products(adapter, small_images(260, seed=2), n_landmarks=30, n_directions=5,
                      batch_size=50, random_state=4)
    assert {key: fn.experimental_get_tracing_count() for key, fn in functions.items()} == traces
