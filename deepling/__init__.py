"""Deepling: see inside a trained convolutional network.

The package holds the data loaders, safe model loading, the projection math and the
interpretation methods; ``deepling.web.app.create_app`` builds the Dash app on top of them.
"""

__version__ = "0.1.0"
