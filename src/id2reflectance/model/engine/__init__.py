"""Training machinery shared by every model: checkpoints, optimisers, EMA, compilation,
distributed set-up, run logs, provenance, stop signals and sampling."""
