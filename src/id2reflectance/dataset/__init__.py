"""Dataset: build versioned training sets from sessions (Dask), manifest, torch loaders."""
