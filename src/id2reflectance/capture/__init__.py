"""Capture: the session format, camera model, frame loading, illumination patterns and the
GGX model (here), face geometry (``geometry/``), rig calibration (``calibration/``) and the
light-stage simulator (``simulator/``)."""
