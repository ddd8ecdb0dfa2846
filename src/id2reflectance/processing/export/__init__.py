"""Asset export: glTF 2.0 binary and OBJ + MTL."""
