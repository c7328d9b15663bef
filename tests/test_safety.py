"""Model files that must not load, and proof that none of their code ran.

Each hostile file tries to create a marker file when its code runs. The refusal must be
Deepling's own (:class:`UnsafeModelError`, raised by inspection before Keras reads the
file): Keras 3.15 blocks several of these itself, so a test that accepted any error would
pass even with the inspection removed.
"""

import os
import zipfile

import pytest

from deepling.data.limits import UploadLimits
from deepling.models import ModelError, load_model_file
from deepling.models.isolation import WorkerError, load_in_worker
from deepling.models.safety import UnsafeModelError, check_config, inspect_model_file
from tests import hostile


@pytest.fixture(scope="module")
def real_keras(tmp_path_factory):
    """A small genuine .keras file saved by Keras."""
    import keras
    from keras import layers

    path = tmp_path_factory.mktemp("real") / "tiny.keras"
    model = keras.Sequential([keras.Input((8, 8, 3)), layers.Conv2D(2, 3, activation="relu"),
                              layers.Flatten(), layers.Dense(2, activation="softmax")])
    model.save(path)
    return path


@pytest.fixture(scope="module")
def ops_keras(tmp_path_factory):
    """A functional model that calls keras.ops and slices tensors between layers."""
    import keras
    from keras import layers, ops

    inputs = keras.Input((8, 8, 3))
    x = layers.Conv2D(4, 3)(inputs)
    x = ops.add(ops.mean(x, axis=(1, 2)), 1.0)[:, :3]
    model = keras.Model(inputs, layers.Dense(2, activation="softmax")(x))
    path = tmp_path_factory.mktemp("ops") / "ops.keras"
    model.save(path)
    return path


# --- files that are not models -------------------------------------------------------------

def test_not_model_files_are_refused_clearly(tmp_path, real_keras):
    empty = tmp_path / "empty.keras"
    empty.write_bytes(b"")
    noise = tmp_path / "noise.keras"
    noise.write_bytes(os.urandom(4096))
    noise_h5 = tmp_path / "noise.h5"
    noise_h5.write_bytes(os.urandom(4096))
    truncated = tmp_path / "truncated.keras"
    truncated.write_bytes(real_keras.read_bytes()[: real_keras.stat().st_size // 2])
    h5_named_keras = hostile.write_h5(tmp_path / "model.keras", hostile.sequential())
    zip_named_h5 = tmp_path / "model.h5"
    zip_named_h5.write_bytes(real_keras.read_bytes())
    pickle_file = tmp_path / "model.pkl"
    pickle_file.write_bytes(b"\x80\x04K\x01.")

    cases = [
        (empty, "is empty"),
        (noise, "is not a Keras model file"),
        (noise_h5, "is not a Keras model file"),
        (truncated, "truncated"),
        (h5_named_keras, "Rename it to model.h5"),
        (zip_named_h5, "Rename it to model.keras"),
        (pickle_file, "expected a .keras or .h5"),
        (tmp_path / "missing.keras", "No model file"),
    ]
    for path, message in cases:
        with pytest.raises(ModelError, match=message):
            load_model_file(path)


def test_truncated_h5_is_refused_without_keras(tmp_path):
    good = hostile.write_h5(tmp_path / "good.h5", hostile.sequential())
    bad = tmp_path / "bad.h5"
    bad.write_bytes(good.read_bytes()[:600])
    with pytest.raises(ModelError, match="not a readable HDF5"):
        inspect_model_file(bad)


# --- hostile .keras files: refused by inspection, before any worker --------------------------

def _cases(marker):
    """(label, config, words the message must contain)."""
    seq = hostile.sequential
    deep = {"k": None}
    for _ in range(400):
        deep = {"k": [deep]}
    custom_dense = hostile.dense("mine")
    custom_dense["registered_name"] = "my_package>Dense"
    return [
        ("CVE-2024-3660 Lambda bytecode", seq(hostile.lambda_layer(marker)),
         ["'evil_lambda'", "Lambda", "replace the lambda layer"]),
        ("bytecode as an activation", seq(hostile.lambda_in_activation(marker)),
         ["'sneaky'", "__lambda__", "bytecode"]),
        ("CVE-2025-1550 os.system", hostile.foreign_call_functional(marker, "os", "system"),
         ["'evil'", "'os.system'"]),
        ("CVE-2025-1550 subprocess", hostile.foreign_call_functional(marker, "subprocess", "getoutput"),
         ["'subprocess.getoutput'"]),
        ("CVE-2025-1550 builtins.exec", hostile.foreign_call_functional(marker, "builtins", "exec"),
         ["'builtins.exec'"]),
        ("activation = os.system",
         seq(hostile.dense("act", activation=hostile.function_ref("os", "system"))),
         ["layer 'act' (Dense)", "'os.system'"]),
        ("activation = builtins.eval",
         seq(hostile.dense("act", activation=hostile.function_ref("builtins", "eval"))),
         ["builtins.eval", "only keras' activation"]),
        ("activation given as a dotted path", seq(hostile.dense("act", activation="os.system")),
         ["'os.system'", "not the name of a keras function"]),
        ("CVE-2025-9906 enable_unsafe_deserialization",
         seq(hostile.dense("act", activation=hostile.function_ref(
             "keras.config", "enable_unsafe_deserialization"))),
         ["enable_unsafe_deserialization"]),
        ("CVE-2025-9906 as a Lambda before bytecode", hostile.unsafe_switch_config(marker),
         ["switch_off_safe_mode", "Lambda"]),
        ("CVE-2025-8747 keras.utils.get_file", hostile.keras_gadget_config(marker),
         ["keras.utils.get_file"]),
        ("safe_mode argument", seq(hostile.layer("Dense", "d", units=2, safe_mode=False)),
         ["'safe_mode'"]),
        ("custom registered name", seq(custom_dense), ["my_package>Dense", "custom object"]),
        ("unknown class", seq(hostile.layer("EvilLayer", "evil")), ["'EvilLayer'", "not a built-in"]),
        ("module prefix trick", seq(hostile.layer("Dense", "d", module="keras_evil", units=2)),
         ["'keras_evil'"]),
        ("keras-internal module", seq(hostile.layer(
            "Dense", "d", module="keras.src.saving.serialization_lib", units=2)),
         ["keras.src.saving.serialization_lib"]),
        ("TFSMLayer", seq(hostile.layer("TFSMLayer", "saved", filepath="/etc")),
         ["TFSMLayer", "SavedModel"]),
        ("typespec", seq(hostile.layer("Dense", "d", units={"class_name": "__typespec__",
                                                         "spec_name": "X", "module": "keras",
                                                         "config": []})),
         ["__typespec__"]),
        ("control-flow operation", seq(hostile.layer("Cond", "c", module="keras.src.ops.core")),
         ["keras.src.ops.core.Cond", "takes python functions"]),
        ("unknown operation", seq(hostile.layer("System", "s", module="keras.src.ops.numpy")),
         ["keras.src.ops.numpy.System"]),
        ("nesting bomb", seq(hostile.layer("Dense", "d", units=2, extra=deep)), ["nested"]),
    ]


def test_hostile_keras_configs_are_refused_and_run_nothing(tmp_path):
    marker = tmp_path / "marker"
    for i, (label, config, words) in enumerate(_cases(marker)):
        path = hostile.write_keras(tmp_path / f"hostile{i}.keras", config)
        with pytest.raises(UnsafeModelError) as err:
            load_model_file(path)
        message = str(err.value).lower()
        missing = [w for w in words if w.lower() not in message]
        assert not missing, f"{label}: {missing} not in {err.value}"
        assert not marker.exists(), f"{label}: code from the file ran"


def test_hostile_archive_structure_is_refused(tmp_path, real_keras):
    traversal = hostile.write_keras(tmp_path / "t.keras", hostile.sequential(),
                                    extra={"../../evil.txt": b"x"})
    with pytest.raises(UnsafeModelError, match=r"outside the archive"):
        load_model_file(traversal)
    # Two config.json entries: a checker and a loader could read different ones.
    doubled = tmp_path / "d.keras"
    with zipfile.ZipFile(real_keras) as zin, zipfile.ZipFile(doubled, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info, zin.read(info))
        with pytest.warns(UserWarning, match="Duplicate name"):
            zout.writestr("config.json", b"{}")
    with pytest.raises(UnsafeModelError, match="appears twice"):
        load_model_file(doubled)
    assert not (tmp_path.parent / "evil.txt").exists()


def test_keras_zip_bomb_is_refused(tmp_path):
    bomb = tmp_path / "bomb.keras"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("config.json", "{}")
        zf.writestr("model.weights.h5", bytes(16 << 20))
    assert bomb.stat().st_size < 100_000
    with pytest.raises(ModelError, match="zip bomb"):
        load_model_file(bomb, limits=UploadLimits(max_uncompressed_bytes=4 << 20))
    with pytest.raises(ModelError, match="accepts model files up to"):
        load_model_file(bomb, limits=UploadLimits(max_upload_bytes=1000))


# --- hostile .h5 files ---------------------------------------------------------------------

def test_hostile_h5_configs_are_refused_by_inspection(tmp_path):
    marker = tmp_path / "marker"
    cases = [
        (hostile.sequential(hostile.legacy_lambda_layer(marker)), "Lambda"),
        (hostile.sequential(hostile.lambda_layer(marker)), "Lambda"),
        (hostile.foreign_call_functional(marker, "os", "system"), "'os.system'"),
        # CVE-2025-9905 follow-up: a "module" key flips legacy loading to the new deserializer.
        (hostile.sequential(hostile.dense("act", activation=hostile.function_ref(
            "subprocess", "getoutput"))), "subprocess"),
    ]
    for i, (config, word) in enumerate(cases):
        path = hostile.write_h5(tmp_path / f"h{i}.h5", config)
        with pytest.raises(UnsafeModelError, match=word):
            inspect_model_file(path)
    weights_only = tmp_path / "w.h5"
    import h5py

    with h5py.File(weights_only, "w") as h5:
        h5.attrs["layer_names"] = [b"dense"]
    with pytest.raises(ModelError, match="weights-only"):
        inspect_model_file(weights_only)
    assert not marker.exists()


def test_h5_reading_other_files_is_refused(tmp_path):
    """HDF5 external storage and external links make h5py read any file on the server."""
    import h5py

    secret = tmp_path / "secret.key"
    secret.write_bytes(b"TOP-SECRET-KEY")
    stored = hostile.add_external_storage(
        hostile.write_h5(tmp_path / "stored.h5", hostile.sequential()), secret)
    with h5py.File(stored) as h5:  # the fixture is live: h5py reads the secret through it
        assert bytes(h5["model_weights/out/vars/0"][()]) == b"TOP-SECRET-KEY"
    with pytest.raises(UnsafeModelError, match="takes its data from other files"):
        inspect_model_file(stored)
    linked = hostile.add_external_storage(
        hostile.write_h5(tmp_path / "linked.h5", hostile.sequential()), secret, link=True)
    with pytest.raises(UnsafeModelError, match="links to another file"):
        inspect_model_file(linked)


def test_keras_weights_reading_other_files_are_refused_in_the_worker(tmp_path, real_keras):
    secret = tmp_path / "secret.key"
    secret.write_bytes(b"TOP-SECRET-KEY")
    weights = tmp_path / "weights.h5"
    with zipfile.ZipFile(real_keras) as zf:
        weights.write_bytes(zf.read("model.weights.h5"))
    hostile.add_external_storage(weights, secret)
    path = hostile.replace_weights(real_keras, tmp_path / "leaky.keras", weights)
    inspect_model_file(path)  # the server's own check reads no HDF5 ...
    with pytest.raises(UnsafeModelError, match=r"model.weights.h5.*other files"):
        load_model_file(path)  # ... the worker's does, before Keras


def test_h5_lambda_is_refused_through_the_worker(tmp_path):
    """The whole upload path for .h5: the worker inspects first, so the server process never
    parses an unvetted HDF5 file, and the refusal keeps its type and message."""
    marker = tmp_path / "marker"
    path = hostile.write_h5(tmp_path / "lambda.h5",
                            hostile.sequential(hostile.legacy_lambda_layer(marker)))
    with pytest.raises(UnsafeModelError, match="'evil_lambda'.*Lambda"):
        load_model_file(path)
    assert not marker.exists()


def test_hostile_fixtures_do_run_code_when_loaded_unsafely(tmp_path):
    """Without safe mode Keras runs the fixtures' code: the marker checks above mean something."""
    import keras

    for i, build in enumerate([
        lambda m: hostile.write_keras(tmp_path / "l.keras", hostile.sequential(hostile.lambda_layer(m))),
        lambda m: hostile.write_h5(tmp_path / "l.h5", hostile.sequential(hostile.legacy_lambda_layer(m))),
    ]):
        marker = tmp_path / f"marker{i}"
        path = build(marker)
        try:  # the placeholder weights fail to load, after the code has run
            keras.saving.load_model(path, compile=False, safe_mode=False)
        except Exception:
            pass
        assert marker.read_text() == "ran"


# --- what inspection lets through ----------------------------------------------------------

def test_benign_configs_pass(tmp_path, real_keras, ops_keras):
    inspection = inspect_model_file(real_keras)
    assert inspection.format == "keras" and inspection.model_class == "Sequential"
    assert [t for _, t in inspection.layers] == ["InputLayer", "Conv2D", "Flatten", "Dense"]
    assert inspection.to_dict()["n_layers"] == 4
    assert inspect_model_file(ops_keras).model_class == "Functional"  # Mean, Add, GetItem ops

    # A TF 2.x era .h5: no module keys, "Custom>Adam" optimizer, metric wrappers.
    config, training = hostile.keras2_h5_config()
    legacy = hostile.write_h5(tmp_path / "k2.h5", config, keras_version="2.15.0",
                              training_config=training)
    inspection = inspect_model_file(legacy)
    assert inspection.keras_version == "2.15.0"
    assert [t for _, t in inspection.layers] == ["InputLayer", "Conv2D", "Flatten", "Dense"]

    # Compile settings written by Keras 3: optimizers, schedules, loss functions by name.
    compile_config = {
        "optimizer": {"module": "keras.optimizers", "class_name": "Adam", "registered_name": None,
                      "config": {"learning_rate": {
                          "module": "keras.optimizers.schedules", "class_name": "CosineDecay",
                          "registered_name": None, "config": {"initial_learning_rate": 0.01,
                                                              "decay_steps": 10}}}},
        "loss": hostile.function_ref("builtins", "sparse_categorical_crossentropy"),
        "metrics": ["accuracy", hostile.function_ref("builtins", "sparse_categorical_accuracy")],
    }
    check_config(dict(hostile.sequential(), compile_config=compile_config))


def test_custom_loss_in_compile_settings_is_refused_with_advice():
    config = dict(hostile.sequential(), compile_config={
        "loss": {"module": None, "class_name": "FocalLoss", "registered_name": "mine>FocalLoss",
                 "config": {"name": "focal"}}})
    with pytest.raises(UnsafeModelError, match="training settings"):
        check_config(config)


# --- the worker's limits -------------------------------------------------------------------

def test_worker_time_and_memory_limits(real_keras):
    with pytest.raises(WorkerError, match="longer than 1 s"):
        load_in_worker(real_keras, timeout_s=1)
    with pytest.raises(WorkerError, match="memory"):
        load_in_worker(real_keras, memory_bytes=256 << 20)


def test_upload_limits_from_environment():
    limits = UploadLimits.from_env({"DEEPLING_MAX_UPLOAD_MB": "10", "DEEPLING_LOAD_TIMEOUT_S": "7.5"})
    assert limits.max_upload_bytes == 10 << 20 and limits.load_timeout_s == 7.5
    assert limits.max_members == UploadLimits().max_members
    with pytest.raises(ValueError, match="DEEPLING_MAX_ZIP_MEMBERS"):
        UploadLimits.from_env({"DEEPLING_MAX_ZIP_MEMBERS": "lots"})
    with pytest.raises(ValueError, match="positive"):
        UploadLimits(max_ratio=0)
