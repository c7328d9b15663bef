"""Files shipped with Deepling: the demo CNN (demo_cnn.keras) and its training record."""

from pathlib import Path

DEMO_MODEL = Path(__file__).resolve().parent / "demo_cnn.keras"
