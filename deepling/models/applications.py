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
