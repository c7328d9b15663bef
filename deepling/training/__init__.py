"""Training that can be watched and steered: per-filter amounts, freezing, snapshots.

:class:`MonitoredStep` is one compiled step that measures every filter's activation and
gradient and leaves frozen layers untouched; :func:`train` runs epochs of it under a
``control`` callable (pause, stop, freeze) and ``publish``-es small deltas;
:func:`retrain_on_selection` pushes a model on picked images; :func:`filter_embedding` lays
a conv layer's filters out by their weights. No Dash, no service: a notebook can use them on
a plain ``keras.Model``.
"""

from deepling.training.across import projection_across_training
from deepling.training.filters import filter_embedding
from deepling.training.loop import TrainingConfig, train
from deepling.training.retrain import retrain_on_selection
from deepling.training.step import MonitoredStep, filter_layers, make_optimizer

__all__ = ["MonitoredStep", "TrainingConfig", "filter_embedding", "filter_layers",
           "make_optimizer", "projection_across_training", "retrain_on_selection", "train"]
