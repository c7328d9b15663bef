"""Datasets and their loaders."""

from deepling.data.dataset import DataError, Dataset
from deepling.data.loaders import (
    CIFAR10_CLASSES,
    CIFAR10_ENV,
    DataUnavailableError,
    dataset_from_arrays,
    dataset_from_tf,
    load_cifar10,
    load_dataset,
    load_image_folder,
    load_npz,
)

__all__ = [
    "CIFAR10_CLASSES", "CIFAR10_ENV", "DataError", "DataUnavailableError", "Dataset",
    "dataset_from_arrays", "dataset_from_tf",
    "load_cifar10", "load_dataset", "load_image_folder", "load_npz",
]
