"""Faces in ordinary photos: detection, landmarks, alignment, identity embeddings and
the photo's skin tone (dlib, OpenCV)."""
