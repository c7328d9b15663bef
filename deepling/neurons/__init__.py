"""Neurons: every unit of the conv and dense layers, the images' paths through them, the
patterns those paths share, and the units laid out by what they respond to.

>>> from deepling.neurons import neuron_atlas
>>> atlas = neuron_atlas(model, images, labels)          # doctest: +SKIP
>>> best = atlas.patterns.recommend(images=[42])          # doctest: +SKIP
>>> atlas.patterns.items(best[0]), atlas.patterns.images(best[0])  # doctest: +SKIP
"""

from deepling.neurons.activations import UnitActivations, unit_activations, unit_layers
from deepling.neurons.atlas import LayerUnits, NeuronAtlas, neuron_atlas
from deepling.neurons.patterns import NeuralPatterns, mine_patterns
from deepling.neurons.projection import NeuronProjection

__all__ = ["LayerUnits", "NeuralPatterns", "NeuronAtlas", "NeuronProjection", "UnitActivations",
           "mine_patterns", "neuron_atlas", "unit_activations", "unit_layers"]
