"""The light-stage simulator: procedural heads, a biophysical skin model, rendering of
sessions and of calibration targets, with exact ground truth."""
