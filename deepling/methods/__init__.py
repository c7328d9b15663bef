"""Interpretability methods: one call each, pixel space in and out.

Every method is ``method(model, image(s), target=…)``: ``model`` a plain ``keras.Model`` or
a :class:`~deepling.models.ModelAdapter` (wrapped on the way in by
:func:`~deepling.models.as_adapter`); pixels in 0..255 (uint8 or float, H×W×C or a batch,
already fitted to the model; floats in 0..1 are refused with a hint); ``target`` a class
index or a :class:`Channel`; long work reports ``progress(fraction, message)``. Gradients
flow through the model's own input scaling. Compiled TF functions are kept per adapter (see :class:`ModelProbe`), so only the
first call on a model pays for tracing.
"""

from deepling.methods._probe import ModelProbe
from deepling.methods._targets import Channel, resolve_target
from deepling.methods.adversarial import Strip, adversarial_strip, live_target, target_gradient
from deepling.methods.attributions import ATTRIBUTIONS, AttributionMethod, attribute
from deepling.methods.class_image import ClassImage, class_image, class_images
from deepling.methods.edits import (
    EDIT_ORDER,
    add_noise,
    apply_edits,
    blur,
    brightness,
    flip,
    hue,
    occlude,
    rotate,
)
from deepling.methods.feature_maps import (
    activation_histogram,
    channel_means,
    feature_maps,
    top_activating,
    weight_histogram,
)
from deepling.methods.fgsm import fgsm
from deepling.methods.gradcam import default_gradcam_layer, gradcam, spatial_layers
from deepling.methods.gradcam_plus import gradcam_plus
from deepling.methods.gradient_input import gradient_x_input
from deepling.methods.guided_backprop import guided_backprop
from deepling.methods.integrated_gradients import integrated_gradients
from deepling.methods.layer_cam import layer_cam
from deepling.methods.occlusion import occlusion_sensitivity
from deepling.methods.robustness import (
    AUGMENTATIONS,
    Augmentation,
    RobustnessCurves,
    robustness_curves,
)
from deepling.methods.rise import rise
from deepling.methods.saliency import Attribution, saliency
from deepling.methods.score_cam import score_cam
from deepling.methods.smoothgrad import smoothgrad, vargrad

__all__ = [
    "ATTRIBUTIONS",
    "AUGMENTATIONS",
    "EDIT_ORDER",
    "Attribution",
    "AttributionMethod",
    "attribute",
    "gradcam_plus",
    "gradient_x_input",
    "guided_backprop",
    "integrated_gradients",
    "layer_cam",
    "rise",
    "score_cam",
    "smoothgrad",
    "vargrad",
    "Augmentation",
    "Channel",
    "ClassImage",
    "ModelProbe",
    "RobustnessCurves",
    "Strip",
    "activation_histogram",
    "add_noise",
    "adversarial_strip",
    "live_target",
    "target_gradient",
    "apply_edits",
    "blur",
    "class_image",
    "class_images",
    "brightness",
    "channel_means",
    "default_gradcam_layer",
    "feature_maps",
    "fgsm",
    "flip",
    "gradcam",
    "hue",
    "occlude",
    "occlusion_sensitivity",
    "resolve_target",
    "robustness_curves",
    "rotate",
    "saliency",
    "spatial_layers",
    "top_activating",
    "weight_histogram",
]
