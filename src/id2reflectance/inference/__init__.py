"""One photo in, a reflectance asset out: retrieval of the closest template subject,
swap, decode and stitching into UV."""
