"""One layout function per view; callbacks live in the top-level ``callbacks`` package."""
