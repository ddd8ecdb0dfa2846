"""Render every frame of a session with the head moved between exposures.

Each frame ``(pattern, polarization)`` except the reference (``full``, ``cross``) gets its
own :class:`~id2reflectance.capture.simulator.motion.HeadMotion` and is rendered from the
moved head (rays into the head's rest frame, expression applied to the mesh, diffuse
relit for the rotated head, specular moments turned back to the fixed lights). The
reference frame and the ground truth are the unmoved render. The true displacement of
every reference pixel in every frame is returned for the truth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from id2reflectance.capture.camera import Camera
from id2reflectance.capture.geometry.mesh import FaceMesh, cast_rays, raycasting_scene
from id2reflectance.capture.simulator.motion import (
    REFERENCE_FRAME,
    HeadMotion,
    draw_motions,
    expression_field,
    moved_rest_mesh,
    similarity_fit,
    true_flow,
)
from id2reflectance.capture.simulator.render import CameraRender, DiffuseTextures, render_camera, rotated_radiance
from id2reflectance.capture.simulator.skin import SubjectMaps
from id2reflectance.capture.simulator.visibility import VertexVisibility

Key = tuple[str, str]


@dataclass(frozen=True, eq=False)
class MovedFrames:
    """Frames of the moved head and their true motion.

    images : {camera: {(pattern, polarization): (H, W, 3) float32 radiance}} every frame but
        the reference.
    flows : {camera: {(pattern, polarization): (H, W, 3) float32}} true displacement
        (dx, dy, defined) of each reference pixel, pixels (:func:`true_flow`).
    motions : {(pattern, polarization): HeadMotion}, the reference included (identity).
    similarity : {camera: {(pattern, polarization): {"tx", "ty", "rotation_deg", "scale"}}}
        least-squares image similarity of each true flow.
    """

    images: dict[str, dict[Key, np.ndarray]]
    flows: dict[str, dict[Key, np.ndarray]]
    motions: dict[Key, HeadMotion]
    similarity: dict[str, dict[Key, dict[str, float]]]

    def truth_json(self) -> dict:
        """``truth/motion.json``: per-frame head motion and per-camera image similarity."""
        return {
            "reference": "_".join(REFERENCE_FRAME),
            "frames": {f"{p}_{pol}": m.to_json() for (p, pol), m in self.motions.items()},
            "cameras": {
                cam: {f"{p}_{pol}": {k: round(v, 8) for k, v in s.items()} for (p, pol), s in per.items()}
                for cam, per in self.similarity.items()
            },
        }


def render_moved_frames(
    cameras: dict[str, Camera],
    renders: dict[str, CameraRender],
    mesh: FaceMesh,
    scene,  # open3d RaycastingScene of ``mesh``
    maps: SubjectMaps,
    diffuse: DiffuseTextures,
    vis: VertexVisibility,
    *,
    keys: list[Key],
    rng: np.random.Generator,
    shift_m: float,
    roll_deg: float,
    tilt_deg: float,
    expression_m: float,
    samples: tuple[int, int],
    pixel_samples: int = 1,
    blur_px: float = 0.0,
) -> MovedFrames:
    """Draw a motion per frame and render each camera's frames of the moved head.

    Parameters
    ----------
    cameras, renders : the rig and its unmoved renders (the reference frame).
    mesh, scene, maps, diffuse, vis : the subject at rest (as for ``render_camera``).
    keys : every lit ``(pattern, polarization)``, in capture order.
    rng : random stream of the motions.
    shift_m, roll_deg, tilt_deg : largest translation (metres), roll and tilt (degrees).
    expression_m : largest expression displacement, metres (0: rigid motion only).
    samples : GGX quadrature grid (as for the unmoved render).
    pixel_samples, blur_px : the pixels' footprint (as for the unmoved render, ``render_camera``).
    """
    pivot = 0.5 * (mesh.vertices.min(axis=0) + mesh.vertices.max(axis=0))
    motions = draw_motions(
        keys, rng=rng, pivot=pivot, shift_m=shift_m, roll_deg=roll_deg, tilt_deg=tilt_deg, expression=expression_m > 0
    )
    field = expression_field(mesh, expression_m) if expression_m > 0 else np.zeros_like(mesh.vertices)
    images: dict[str, dict[Key, np.ndarray]] = {name: {} for name in cameras}
    flows: dict[str, dict[Key, np.ndarray]] = {name: {} for name in cameras}
    similarity: dict[str, dict[Key, dict[str, float]]] = {name: {} for name in cameras}
    hits = {}
    for name, cam in cameras.items():
        origin, dirs = cam.pixel_rays()
        _, fid, bary = cast_rays(scene, origin, dirs)
        hit = renders[name].hit
        sel = hit.reshape(-1)
        hits[name] = (hit, fid[sel], bary[sel])
    for key in keys:
        if key == REFERENCE_FRAME:
            continue
        pattern, pol = key
        motion = motions[key]
        moved = moved_rest_mesh(mesh, field, motion)
        moved_scene = scene if moved is mesh else raycasting_scene(moved)
        relit = DiffuseTextures(
            radiance={pattern: rotated_radiance(maps, diffuse, motion.rotation, pattern)},
            visibility=diffuse.visibility,
        )
        for name, cam in cameras.items():
            r = render_camera(
                cam,
                moved,
                moved_scene,
                maps,
                relit,
                vis,
                patterns=(pattern,),
                samples=samples,
                motion=motion,
                pixel_samples=pixel_samples,
                blur_px=blur_px,
            )
            images[name][key] = (r.cross if pol == "cross" else r.parallel)[pattern]
            hit, fid, bary = hits[name]
            flows[name][key] = true_flow(cam, mesh, field, hit, fid, bary, motion)
            similarity[name][key] = similarity_fit(flows[name][key])
    return MovedFrames(images=images, flows=flows, motions=motions, similarity=similarity)
