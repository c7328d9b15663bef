"""Datasets and their loaders."""

from deepling.data.dataset import DataError, Dataset
from deepling.data.loaders import (
    CIFAR10_CLASSES,
    CIFAR10_ENV,
    DataUnavailableError,
    load_cifar10,
    load_dataset,
    load_image_folder,
    load_npz,
)

__all__ = [
    "CIFAR10_CLASSES", "CIFAR10_ENV", "DataError", "DataUnavailableError", "Dataset",
    "load_cifar10", "load_dataset", "load_image_folder", "load_npz",
]
