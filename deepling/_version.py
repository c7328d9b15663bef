"""The package version (its own module: importing it runs no other part of deepling)."""

__version__ = "0.1.0"
