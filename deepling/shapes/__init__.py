"""The shape workshop's library: shapes made in code, their training data, small models,
training, and one call that trains and draws each class's image (ShapeShop, CHI 2017)."""

from deepling.shapes.data import DEFAULT_COPIES, noisy_copies, shape_dataset
from deepling.shapes.models import BUILDERS, build_cnn, build_mlp, build_model
from deepling.shapes.palette import SHAPES, SIZE, palette, shape_image
from deepling.shapes.workshop import WorkshopRun, abs_pearson, run_workshop, train_model

__all__ = ["BUILDERS", "DEFAULT_COPIES", "SHAPES", "SIZE", "WorkshopRun", "abs_pearson",
           "build_cnn", "build_mlp", "build_model", "noisy_copies", "palette", "run_workshop",
           "shape_dataset", "shape_image", "train_model"]
