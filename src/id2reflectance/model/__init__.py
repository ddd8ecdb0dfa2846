"""The reflectance codebook model: VQGAN, multi-domain codebooks, fusion, training.

Imports only torch, numpy, safetensors and the stdlib-only parts of the package
(``errors``, ``_shared.atomic``, ``_shared.config``), so it runs on a GPU machine without
Open3D or OpenEXR. The dataset loader is imported lazily by :mod:`.train` and
:mod:`.evaluate` only when a dataset folder is opened.
"""
