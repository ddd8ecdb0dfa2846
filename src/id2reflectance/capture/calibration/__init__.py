"""Rig calibration from board and ColorChecker captures: corner detection, intrinsics,
bundle adjustment and colour correction."""
