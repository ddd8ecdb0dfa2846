"""Relighting an asset under HDR environments or light-stage patterns (image-based
lighting of the GGX/Lambert model)."""
