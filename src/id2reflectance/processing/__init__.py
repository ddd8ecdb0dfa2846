"""Processing: separation and reflectance solve, registration, baking, relighting, export."""
