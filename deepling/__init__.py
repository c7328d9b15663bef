"""Deepling: see inside a trained convolutional network.

The package holds the data loaders, safe model loading, the projection math and the
interpretation methods; ``deepling.web.app.create_app`` builds the Dash app on top of them.
``deepling.show(model, x, y)`` opens that app on a model and arrays a notebook holds.
"""

from deepling._version import __version__

__all__ = ["__version__", "show"]


def __getattr__(name):
    # Lazy: ``import deepling`` stays light (no Dash, no TensorFlow) until show() is used.
    if name == "show":
        from deepling.web.notebook import show

        return show
    raise AttributeError(f"module 'deepling' has no attribute {name!r}")
