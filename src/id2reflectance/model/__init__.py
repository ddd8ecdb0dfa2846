"""The ID2Reflectance networks and their training machinery (torch, numpy, safetensors only).

``codebook/`` (VQGAN, multi-domain codebooks, fusion), ``swapper/`` (identity-conditioned
codebook swapper), ``identity/`` (identity networks), ``engine/`` (checkpoints, optimisers,
run logs), ``loading.py`` (rebuilds and loads a checkpoint of any kind). Nothing here
imports OpenCV, dlib, Open3D, OpenEXR or Dask, so it runs on a GPU machine that has only
torch, numpy and safetensors (tests/test_architecture.py checks it); the jobs that feed it data live in
:mod:`id2reflectance.training`, :mod:`id2reflectance.inference` and
:mod:`id2reflectance.evaluation`.
"""
