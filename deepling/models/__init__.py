"""Model loading, adaptation to data, and summaries."""

from deepling.models.adapter import ModelAdapter, ModelError, as_adapter, check_pixels, to_probabilities
from deepling.models.loading import load_demo_model, load_model_file
from deepling.models.summary import layer_table, model_summary

__all__ = ["ModelAdapter", "ModelError", "as_adapter", "check_pixels", "layer_table", "load_demo_model", "load_model_file",
           "model_summary", "to_probabilities"]
