"""Face geometry shared by every stage: triangle meshes, the face template mesh (UV layout,
landmarks) and its named regions."""
