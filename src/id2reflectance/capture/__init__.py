"""Capture: the session format, camera model, frame loading, simulator and calibration."""
