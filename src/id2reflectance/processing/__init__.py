"""Processing of one subject: reflectance solve (``solve/``), template registration
(``registration/``), UV baking (``bake/``), relighting (``relight/``) and export (``export/``);
the asset folder format, tangent frames and the GGX albedo table shared by them (here)."""
