"""Stage-independent helpers: atomic writes, image IO, config loading, validation."""
