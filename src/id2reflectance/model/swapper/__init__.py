"""The identity-conditioned codebook swapper: configuration, network and training step."""
