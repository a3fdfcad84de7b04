"""Training-data utilities: procedural scene rendering and augmentation."""
