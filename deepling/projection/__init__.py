"""Layer projections: where the images sit, layer by layer, in two dimensions.

:class:`PivotMDS` lays out points from their distances to a few pivots,
:func:`procrustes_align` turns one layout onto another, and :func:`layer_sequence` streams
images through a model once and returns one aligned layout per layer
(:func:`layer_sequences`: several image sets sharing one pass).
"""

from deepling.projection.activations import penultimate_layer, pivot_products, select_layers
from deepling.projection.pivot_mds import PivotMDS, maxmin_pivots
from deepling.projection.procrustes import Alignment, procrustes_align
from deepling.projection.sequence import LayerSequence, SharedSequences, layer_sequence, layer_sequences

__all__ = ["Alignment", "LayerSequence", "PivotMDS", "SharedSequences", "layer_sequence",
           "layer_sequences", "maxmin_pivots",
           "penultimate_layer", "pivot_products", "procrustes_align", "select_layers"]
