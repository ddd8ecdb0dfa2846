"""Registration of the face template to a subject's scan: rigid/similarity ICP, then
non-rigid fitting."""
