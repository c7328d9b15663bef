"""``keras.applications`` architectures: their names, smallest inputs and preprocessing.

What Deepling needs to know about the networks Keras ships: which names exist, the
smallest square input each builds at, and how each expects its pixels
(``keras.applications.<family>.preprocess_input``), so a model built from one, or a file
saved from one, is fed the way it was trained.
"""

from __future__ import annotations

# Every architecture keras.applications exports (Keras 3), in families.
APPLICATIONS = (
    "ConvNeXtTiny", "ConvNeXtSmall", "ConvNeXtBase", "ConvNeXtLarge", "ConvNeXtXLarge",
    "DenseNet121", "DenseNet169", "DenseNet201",
    "EfficientNetB0", "EfficientNetB1", "EfficientNetB2", "EfficientNetB3", "EfficientNetB4",
    "EfficientNetB5", "EfficientNetB6", "EfficientNetB7",
    "EfficientNetV2B0", "EfficientNetV2B1", "EfficientNetV2B2", "EfficientNetV2B3",
    "EfficientNetV2S", "EfficientNetV2M", "EfficientNetV2L",
    "InceptionResNetV2", "InceptionV3",
    "MobileNet", "MobileNetV2", "MobileNetV3Small", "MobileNetV3Large",
    "NASNetMobile", "NASNetLarge",
    "ResNet50", "ResNet101", "ResNet152", "ResNet50V2", "ResNet101V2", "ResNet152V2",
    "VGG16", "VGG19", "Xception",
)
# Smallest square input each builds at with its classifier (weights=None); 32 otherwise.
_SMALLEST = {"InceptionV3": 75, "InceptionResNetV2": 75, "Xception": 71,
             "NASNetMobile": 224, "NASNetLarge": 331}


def smallest_input(name: str) -> int:
    """The smallest square input size ``keras.applications.<name>`` builds at."""
    check_name(name)
    return _SMALLEST.get(name, 32)


def check_name(name: str) -> str:
    """``name`` if keras.applications has it, else ValueError listing the names."""
    if name not in APPLICATIONS:
        raise ValueError(f"keras.applications has no {name!r}; choose one of: "
                         f"{', '.join(APPLICATIONS)}.")
    return name


# How each family expects its pixels (keras.applications.<family>.preprocess_input).
# "caffe": RGB→BGR, minus the ImageNet mean per channel; "tf": -1..1; "torch": 0..1, then
# the ImageNet mean and standard deviation per channel; "raw": 0..255 (the model
# preprocesses inside: EfficientNet, EfficientNetV2, ConvNeXt, MobileNetV3).
PREPROCESSING = {
    "caffe": ("VGG16", "VGG19", "ResNet50", "ResNet101", "ResNet152"),
    "tf": ("MobileNet", "MobileNetV2", "ResNet50V2", "ResNet101V2", "ResNet152V2",
           "InceptionV3", "InceptionResNetV2", "Xception", "NASNetMobile", "NASNetLarge"),
    "torch": ("DenseNet121", "DenseNet169", "DenseNet201"),
    "raw": tuple(n for n in APPLICATIONS if n.startswith(("EfficientNet", "ConvNeXt", "MobileNetV3"))),
}
# Layer names only that family's builder writes: how a saved model (or a model wrapping
# one) is recognised. Checked in order; the first family with all its names present wins.
_SIGNATURES = (
    ("ResNet50V2", ("conv2_block1_preact_bn", "post_bn")),
    ("ResNet50", ("conv1_conv", "conv2_block1_out", "conv2_block1_0_conv")),
    ("DenseNet121", ("conv2_block1_concat", "pool2_conv")),
    ("MobileNetV2", ("block_1_expand", "block_1_depthwise")),
    ("MobileNet", ("conv_dw_1", "conv_pw_1")),
    ("VGG16", ("block1_conv1", "block2_conv1", "block5_conv3")),
    ("InceptionResNetV2", ("block35_1", "block17_1")),
    ("InceptionV3", ("mixed0", "mixed10")),
    ("Xception", ("block1_conv1", "block2_sepconv1")),
    ("NASNetMobile", ("stem_conv1", "normal_conv_1_0")),
)


def preprocessing_of(name: str) -> str:
    """The preprocessing mode of a keras.applications architecture (see PREPROCESSING)."""
    check_name(name)
    return next(mode for mode, names in PREPROCESSING.items() if name in names)


def detect_application(model) -> str | None:
    """The keras.applications family ``model`` was built from (its layer names say so),
    or None. Works on a model wrapping one: pass the unfolded model."""
    names = {layer.name for layer in getattr(model, "layers", ())}
    for family, signature in _SIGNATURES:
        if all(n in names for n in signature):
            return family
    return None


# Set to "none" to build keras:<Name> models with random weights (tests, machines offline).
WEIGHTS_ENV = "DEEPLING_KERAS_WEIGHTS"
KERAS_PREFIX = "keras:"


def imagenet_class_names() -> tuple[str, ...] | None:
    """The 1,000 ImageNet class names, the Keras way (``imagenet_class_index.json``, fetched
    once into ``~/.keras/models`` by Keras' own utility); None when it cannot be had
    (offline): the views then show class indices."""
    import json

    try:
        from keras.src.applications.imagenet_utils import CLASS_INDEX_PATH
        from keras.utils import get_file

        path = get_file("imagenet_class_index.json", CLASS_INDEX_PATH, cache_subdir="models",
                        file_hash="c2c37ea517e94d9795004a39431a14cb")
        with open(path) as f:
            index = json.load(f)
        return tuple(index[str(k)][1] for k in range(1000))
    except Exception:  # noqa: BLE001 - offline, or a changed file: indices instead
        return None
