"""id2reflectance: light-stage face captures to relightable reflectance assets.

The subpackages follow the data: ``capture`` (session format, image IO, simulator),
``processing`` (solver, registration, baking), ``dataset``, ``model`` and ``cli``.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("id2reflectance")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
