"""Evaluation of trained models: codebook reconstruction, the swapper protocol (PSNR,
SSIM, identity similarity, FAIR skin-tone metrics) and its report."""
