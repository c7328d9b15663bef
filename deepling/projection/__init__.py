"""Layer projections: where the images sit, layer by layer, in two dimensions.

:func:`layer_sequence` streams images through a model once, keeping each image's
coordinates in every layer's landmark subspace (:func:`landmark_products`), and returns one
aligned layout per layer (:func:`layer_sequences`: several image sets sharing one pass);
:func:`procrustes_align` turns one layout onto another, and
:class:`PivotMDS` lays out points from their distances to a few pivots (for point sets
held in memory: filters, neurons, snapshots).
"""

from deepling.projection.activations import landmark_products, penultimate_layer, select_layers
from deepling.projection.pivot_mds import PivotMDS, maxmin_pivots
from deepling.projection.procrustes import Alignment, procrustes_align
from deepling.projection.sequence import LayerSequence, SharedSequences, layer_sequence, layer_sequences

__all__ = ["Alignment", "LayerSequence", "PivotMDS", "SharedSequences", "landmark_products",
           "layer_sequence", "layer_sequences", "maxmin_pivots", "penultimate_layer",
           "procrustes_align", "select_layers"]
