"""Across training: one layer projected at every snapshot of a real (tiny) run.

The demo CNN is trained for two short epochs on 96 CIFAR-10 images, keeping a snapshot per
epoch; the projection service projects fc2 at each snapshot and the payload carries them.
Each frame must be the snapshot's own projection (``layer_sequence`` of that snapshot alone),
turned onto the frame before by the animation's Procrustes alignment: nothing interpolated.
"""

import numpy as np
import pytest

from deepling.projection import layer_sequence, procrustes_align
from deepling.service.config import Config
from deepling.service.projections import ProjectionService
from deepling.service.workspace import Workspace
from deepling.web.views.animation import epochs_payload
from deepling.web.wire import decode, draw_order, fit_view

CHOICE = {"mode": "classes", "count": 4}  # 40 images
LAYER = "fc2"


@pytest.fixture(scope="module")
def run(cifar_sample, tmp_path_factory):
    """(workspace, [(label, path)]): snapshots of epochs 0, 1, 2 of a real run."""
    from deepling.models.demo import build_demo_model
    from deepling.training import TrainingConfig, train

    root = tmp_path_factory.mktemp("across")
    data = root / "sample.npz"
    np.savez(data, x=cifar_sample.images, y=cifar_sample.labels,
             class_names=np.array(cifar_sample.class_names))
    workspace = Workspace(Config(data=str(data), cache=str(root / "cache")))
    record = train(build_demo_model(), cifar_sample.images[:96], cifar_sample.labels[:96],
                   config=TrainingConfig(epochs=2, batch_size=32, learning_rate=3e-3),
                   snapshot_dir=root / "snapshots")
    return workspace, [(f"epoch {k}", p) for k, p in enumerate(record["snapshots"])]


def test_each_frame_is_its_snapshots_own_projection_aligned_on_the_one_before(run):
    import keras

    workspace, snapshots = run
    service = ProjectionService(workspace)
    result = service.compute_epochs("demo", "default", CHOICE, LAYER, snapshots)
    seq = result.sequence
    assert seq.names == ("epoch 0", "epoch 1", "epoch 2") and seq.layouts.shape == (3, 40, 2)
    images = workspace.dataset("demo", "default").images[result.indices]
    direct = [layer_sequence(keras.models.load_model(p, compile=False), images, [LAYER], align=False)
              .layouts[0].astype(np.float64) for _, p in snapshots]
    frames = seq.layouts.astype(np.float64)
    # Frame 0 is snapshot 0's layout, only scaled (one factor for all frames).
    factor = np.linalg.norm(frames[0]) / np.linalg.norm(direct[0])
    np.testing.assert_allclose(frames[0], factor * direct[0], atol=2e-6)
    for k in (1, 2):
        # The shared alignment (with its mirror test) turns snapshot k onto frame k - 1.
        a = procrustes_align(frames[k - 1], direct[k], scaling="match_rms")
        np.testing.assert_allclose(frames[k], a.layout, atol=2e-5)
        assert seq.mirrored[k - 1] == a.mirrored
        assert not np.allclose(frames[k], frames[k - 1], atol=1e-3)  # the model changed
    # Each snapshot's own predictions are kept with it.
    assert result.predicted.shape == (3, 40)

    # Stored by content: the same run, images and layer are read back, not recomputed.
    choice, _ = service.choose("demo", "default", CHOICE)
    key = service.epochs_key("demo", "default", choice, LAYER, snapshots)
    assert service.store.get(key) is not None


def test_the_payload_carries_one_frame_per_epoch_in_the_animation_contract(run):
    workspace, snapshots = run
    service = ProjectionService(workspace)
    result = service.compute_epochs("demo", "default", CHOICE, LAYER, snapshots)
    ds = workspace.dataset("demo", "default")
    labels = ds.labels[result.indices]
    payload = epochs_payload(result, labels, ds.class_names, "demo/default", LAYER)
    assert payload["nLayers"] == 3 and payload["across"] == "training" and payload["along"] == LAYER
    assert [f["name"] for f in payload["layers"]] == ["epoch 0", "epoch 1", "epoch 2"]
    positions = decode(payload, "positions").reshape(3, 40, 2)
    expected = fit_view(result.sequence.layouts)[:, draw_order(40)]
    np.testing.assert_allclose(positions, expected, atol=2 / 65535)
    accuracy = [(result.predicted[k] == labels).mean() for k in range(3)]
    assert [f["accuracy"] for f in payload["layers"]] == pytest.approx(accuracy, abs=1e-4)
