"""Per-pixel reflectance solve: diffuse/specular separation, albedos, normals and GGX
roughness from gradient-illumination frames."""
