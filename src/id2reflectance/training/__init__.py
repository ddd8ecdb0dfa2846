"""Training jobs: the codebook (stages 1 and 2) and the swapper, joining the dataset
loaders, face embeddings and the model."""
