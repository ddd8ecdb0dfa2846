"""Identity networks in torch: the ArcFace-style IResNet and the distilled identity student."""
