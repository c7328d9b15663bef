"""Files shipped with Deepling: the demo CNN (demo_cnn.keras) and its training record."""
