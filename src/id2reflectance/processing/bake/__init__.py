"""Baking the per-camera solved maps into the template's UV space: visibility, blending,
seams and hole filling."""
