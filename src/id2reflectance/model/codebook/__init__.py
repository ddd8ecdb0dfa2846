"""The VQGAN codebook model: configuration, quantiser, encoder/decoder, the multi-domain
codebooks with their learnt fusion, and the training steps."""
