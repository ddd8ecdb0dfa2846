"""``id2r bake``: register the template to a session's scan and bake the solved maps into UV.

Pipeline (:func:`bake_session`):

1. load the session, check the solver output against it (a folder per camera, maps of
   the camera's size) and load the scan (a session without one is an error: geometry is
   never invented); the scan must project into at least one camera;
2. register the template to the scan (:mod:`~id2reflectance.processing.registration.register`):
   the registered mesh has the template's vertex order and UVs, in the world frame;
3. :func:`bake_maps`: for each texel its point and normal on the registered mesh; per
   camera the weights and samples of :func:`~id2reflectance.processing.bake.views.sample_view`;
   weighted means of the albedos and roughness, the weighted sum of world normals
   renormalised; coverage ``1 - prod(1 - w_c)`` (0 where no camera saw the texel); the
   diffuse albedo divided by the mesh's ambient visibility, blurred by subsurface
   scattering (:mod:`~id2reflectance.processing.bake.occlusion`); deep creases
   (``m0 < occlusion_min``) count as unseen;
4. fill (:mod:`~id2reflectance.processing.bake.fill`): padding into the gutters, then
   push-pull + membrane fill of holes and the rest of the gutters. Normals are filled as
   offsets from the mesh normal (so unseen skin follows the mesh) and renormalised;
5. write the asset folder (:func:`~id2reflectance.processing.asset.write_asset`) plus
   ``bake.json`` (coverage, registration residual, timings, config), in a temporary
   folder renamed into place.

Normals: ``normal_object`` is in the mesh's frame, which for a capture is the session's
world frame; ``normal_tangent`` uses the tangent frames of
:mod:`~id2reflectance.processing.tangents` (MikkTSpace-like, OpenGL convention, +Y up).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

from id2reflectance import __version__
from id2reflectance._shared.atomic import atomic_folder, atomic_write_json, sha256_file
from id2reflectance._shared.progress import ProgressFn
from id2reflectance.capture.geometry.mesh import FaceMesh
from id2reflectance.capture.session import Session, load_session
from id2reflectance.errors import CaptureError, ConfigError, ShapeError
from id2reflectance.processing.asset import AssetMaps, write_asset
from id2reflectance.processing.bake.fill import dilate, guided_fill, push_pull
from id2reflectance.processing.bake.inputs import (
    check_cameras_see_scan,
    check_out_dir,
    check_scan_in_view,
    load_template,
)
from id2reflectance.processing.bake.mirror import TexelMirror, mirror_fill, texel_mirror
from id2reflectance.processing.bake.occlusion import (
    mesh_on_scan,
    subsurface_blur,
    texel_ambient_visibility,
    texel_ambient_visibility_normals,
    texel_size_m,
)
from id2reflectance.processing.bake.prepared_mesh import PreparedMesh, prepare_mesh
from id2reflectance.processing.bake.views import (
    SolvedView,
    ViewSamples,
    ViewWeights,
    check_solved_dir,
    load_solved_view,
    sample_view,
)
from id2reflectance.processing.registration.register import (
    Registration,
    RegistrationConfig,
    load_scan,
    register_template,
)
from id2reflectance.processing.tangents import object_to_tangent

log = logging.getLogger(__name__)
BAKE_JSON = "bake.json"


@dataclass(frozen=True)
class BakeConfig:
    """Options of ``id2r bake`` (every default documented here).

    Attributes
    ----------
    size : UV map size in texels (power of two, 256..8192).
    template : template OBJ (with UVs and landmark comments), or ``"procedural"``,
        ``"face_model"``, ``"auto"`` (:mod:`~id2reflectance.capture.geometry.templates`);
        None = ``"auto"``: the face model's layout when the face model is found, else the
        shipped procedural template (``id2reflectance/data/template_head.obj``).
    normal_source : solver normal that is baked: ``"specular"`` (sharper: no subsurface
        blur) or ``"diffuse"``.
    blend : ``"weighted"``: weighted means of the cameras' samples (seams hidden between
        cameras of different exposure or noise); ``"best"``: the sample of the camera with
        the largest weight only (for measurements).
    cos_min : views whose n.v at a texel is below this give it no weight.
    cos_fallback : a texel that no view sees (unoccluded) above ``cos_min`` but one sees above
        ``cos_fallback`` has a grazing sample (that view's, the one that sees it best), used
        as ``grazing`` says; ``cos_fallback >= cos_min`` disables it. Default 0.005 (0.02
        before 2026-12-08): the texels at n.v 0.005-0.02 lie beside a silhouette (the nape
        behind the ear), where a grazing sample only guides the fill (trust
        ``((n.v - cos_fallback) / (cos_min - cos_fallback))^2`` of ``grazing_trust``); with
        ``guide_max_log`` subject 3's left region with hair 43.80 -> 44.90 dB on the
        exact-map case, no region lower (docs/bake.md, "Follow-up (2026-12-08, later)").
    grazing : what a texel's grazing sample does: ``"guide"`` (default) fills the texel
        from the well-seen texels around it that resemble the sample
        (:func:`~id2reflectance.processing.bake.fill.guided_fill`: it picks the side of an
        albedo edge, hair or skin, but never gives its own value: grazing pixels are a real
        capture's noisiest, and move along the surface by the registration's error over
        n.v; other grazing samples around count with ``grazing_trust``); the texel stays
        unseen (coverage 0); ``"sample"``: the sample itself, as a
        seen texel of low coverage (angle weight from ``cos_fallback``); ``"fill"``: not
        used, the texel is filled from its surroundings (the bake before 2026-12-07).
    guide_radius : search radius of the guided fill, as a fraction of ``size``.
    guide_sigma_log : similarity width of the guided fill, natural-log albedo units.
    guide_max_log : a grazing texel whose guide resembles no candidate of the guided fill
        (the closest lies further than this in natural-log albedo, Euclidean over RGB) is
        not guided: it is filled from its surroundings as a texel without a sample. Such a
        guide picks no side of an edge (a grazing pixel of the skin beside the texel, its
        value raised further by the division by a low ambient visibility), and the most
        similar candidates would give the texel the extreme of its surroundings (subject
        3's nape: 0.63 beside 0.05-0.49 where the truth is 0.29). 0 disables the test.
        Default 0.3 (three ``guide_sigma_log``; since 2026-12-08, docs/bake.md, "Follow-up
        (2026-12-08, later)").
    grazing_trust : weight of a grazing sample among the guided fill's candidates, relative
        to a seen texel's 1, at n.v = ``cos_min``; it falls as
        ``((n.v - cos_fallback) / (cos_min - cos_fallback))^angle_power`` and with the
        pixel's mask and solver confidence, so grazing samples give the value only where
        no seen texel around resembles them (hair seen only at grazing angles).
    mirror_trust : mirror fill (:mod:`~id2reflectance.processing.bake.mirror`; with
        ``grazing = "guide"``): a texel that its cameras see only at a grazing angle takes
        up to this share of its mirror texel's albedos, specular and roughness (x -> -x in
        the template's frame), tone-matched to this side, in proportion to how much better
        that one is seen: ``trust * f / (f + c + 0.2)``, f the mirror point's trust as a
        source (1 for a texel seen above ``mirror_cos``, a grazing texel's grazing weight),
        c the texel's own grazing weight (both 1 at ``cos_min``), 0.2 what its guided fill
        is worth without one (:data:`~id2reflectance.processing.bake.mirror.FILL_CONFIDENCE`);
        0 disables it. Texels without a grazing sample (creases, mask borders) take none.
        ``bake_session`` builds the template's mirror map (cached per process);
        :func:`bake_maps` needs it as ``mirror``.
    mirror_tone_radius : Gaussian width of the mirror fill's tone match (the two sides'
        smooth log-ratio where both are seen), as a fraction of ``size``.
    mirror_cos : a seen texel counts fully as a mirror source when its coverage is that of
        one camera at n.v = ``mirror_cos`` (less in proportion: texels seen just above
        ``cos_min``, at the border of what a camera sees, are its least reliable); at or
        below ``cos_min`` every seen texel counts fully.
    angle_power : exponent of the viewing-angle weight ``((n.v - cos_min)/(1 - cos_min))^p``.
    mask_feather_px : image-space ramp of the weight away from the solver-mask border, px.
    feather : UV-space ramp away from occlusion boundaries, as a fraction of ``size``.
    visibility_tolerance_m : ray-cast hit distance tolerance, metres.
    scan_occlusion : ``bake_session`` also tests each texel's visibility against the scan
        (``bake_maps``' ``occluder``): the registered template cannot hold the ears' overhang
        (its radial chart), so a texel behind an ear looked visible and took the ear's
        pixels (issue 22, "Follow-up (2026-12-07, late)" in docs/bake.md).
    scan_occlusion_tolerance_m : the scan may be hit this much before the texel's point
        along the camera ray (metres): the template's chord of the lid margin lies up to
        1.4 mm behind the scan, an ear 7-12 mm.
    scan_occlusion_last_resort_m : a texel the scan hides by more than that but at most this
        (metres, n.v above ``cos_min``; 0, the default, or <= the tolerance: off) gives a
        last-resort sample (``last_resort``): its value only where no camera sees the texel and
        none gives a grazing sample. 0.8 mm samples subject 3's outer eye corners, which the
        scan covers by 0.6-0.8 mm while the images show them, but takes a wrong pixel at
        subject 0's (issue 22; docs/bake.md "Follow-up (2026-12-08): subject 3's eye
        corners"): off by default.
    surface : where a texel is projected into the cameras and tested for visibility:
        ``"template"``, its point on the registered template; ``"scan"`` ("cage" baking,
        with the scan: ``bake_maps``' ``occluder``), the scan's nearest crossing of the
        line through that point along the texel's normal within ``surface_distance_m``
        (:func:`~.prepared_mesh.scan_surface_points`; texels without one keep their
        point): the template's 1.2 mm triangles cut the upper lid margin's ridge as a chord
        up to 1.4 mm behind the scan, where the camera sees other skin. The texel's normal,
        ambient visibility and UV stay the template's. The default (``"scan"``, radial, since
        2026-12-07 night): on the exact-map case it meets > 45 dB in every camera region on 5
        of 6 heads (``"template"``: 4; it loses up to 0.7 dB on subject 1), the normal line
        loses 0.2-2.1 dB in front on every head; solved maps: procedural head +1.1 dB (the
        demo without ``../shared`` +0.7 dB, its seam ratio 1.51 -> 1.28), face-model head
        unchanged (docs/bake.md, "Follow-up (2026-12-07, night)"). Without an ``occluder``
        (monocular inference) texels keep their template points.
    surface_distance_m : how far from the template point the scan's crossing may lie, metres.
    surface_outward_m : where no crossing lies within ``surface_distance_m``, the first one
        outward within this reach (metres; 0: off, the default). Use it with
        ``surface_folds``: alone it reads, for the lid-margin texels that lie under the row
        above them on their ray, the row above (subject 1's front -1.4 dB with hair, -5.1 dB
        bald at 1 mm). With it, 1 mm: over the texels whose truth is in an image +0.06 to
        +0.8 dB on the fronts, no region below -0.13 dB; scored over all texels, subject 2
        with hair left -0.87 dB (docs/bake.md, "Follow-up (2026-12-08)").
    surface_folds : a texel whose line crosses the template itself between its point and
        the scan's crossing keeps its point (default off): there the template folds over
        along the line (the lid margin's row 106 lies 0.6-0.9 mm under row 105 on its ray)
        and the camera sees the outer layer, another texel. Exact maps: subject 1 with hair
        front +0.23 dB, bald -0.21 dB (on texels no image holds).
    surface_direction : the line the scan's crossing is sought on: ``"normal"`` (the texel's
        interpolated normal, as the face-model template's ``refine_normal`` moves its
        vertices) or ``"radial"`` (the ray from the template's origin through the texel, the
        procedural template's radial correspondence; ``bake_session`` passes the origin's
        image under the registration, ``bake_maps``' ``surface_origin``).
    last_resort : what a texel does that no camera gives a weight (nor, with ``grazing =
        "guide"``, a grazing sample) but one sees (unoccluded, n.v above ``min(cos_min,
        cos_fallback)``, declined only by the 1.5 px distance from the mask border) with at
        least ``last_resort_footprint`` of its bilinear footprint on valid mask pixels, at
        least ``last_resort_silhouette_px`` from the mask's silhouette
        (:func:`~.views.silhouette_distance`): the texels the 1.5 px rule from the mask
        border declines next to the mask's interior holes. ``"off"``: filled;
        ``"sample"``: the sample of the camera with the largest n.v as the texel's value,
        seen with coverage ``last_resort_weight`` (the fill around it takes it as a known
        texel); ``"guide"`` (with ``grazing = "guide"``): that sample guides the texel's fill
        as a grazing sample would (trusted ``last_resort_weight`` of a grazing sample at
        ``cos_min``; the mirror fill too), the texel stays unseen. Default ``"sample"``
        (2026-12-07): exact-map case +0.5 to +1.1 dB in subject 1's and subject 2's (with
        hair) worst regions, the other regions within -0.09 dB; on solved maps it never
        fires (the solver's mask has its enclosed holes filled: only a silhouette), the
        quick bench and the demo are unchanged (docs/bake.md, "Follow-up (2026-12-07, last
        texels)").
    last_resort_weight : the coverage of a last-resort sample (``"sample"``), or its trust
        as a grazing sample at ``cos_min`` (``"guide"``), in (0, 1].
    last_resort_silhouette_px : how far from the mask's silhouette (the invalid pixels
        connected to the image border) a last-resort sample must lie, pixels: there a real
        capture's pixels mix the background; an interior hole's border does not.
    last_resort_footprint : the least valid share of a last-resort sample's bilinear
        footprint; below 1 the sample is mask-normalised (the valid pixels' bilinear weights
        renormalised), so it never mixes a masked pixel either way.
    last_resort_max_offset_m : with ``surface = "scan"``, texels whose point was moved more
        than this onto the scan (metres) take no last-resort sample: there the template
        cuts the scan's surface as a chord and its point is a texel off tangentially, and a
        sample beside a mask border takes the wrong side of it.
    last_resort_silhouette : what a texel does whose only sample is a last-resort one but
        nearer than ``last_resort_silhouette_px`` to the silhouette (only with ``grazing =
        "guide"`` and ``last_resort`` not ``"off"``; inert otherwise): ``"off"``, filled; ``"guide"`` (default since
        2026-12-08), the sample (mask-normalised, the camera with the largest n.v) guides the texel's fill
        as a grazing sample would (trust ``last_resort_weight`` of a grazing sample at
        ``cos_min``; the mirror fill too) and the texel stays unseen: it picks the side of
        an albedo edge (the nape's hair line behind the ear, which the push-pull fill
        otherwise pulls from the skin), never gives its own value (a real capture's
        silhouette pixels mix the background). Exact maps: subject 3 with hair left
        41.00 -> 43.80 dB, no region of subjects 0-4 lower; solved maps: the quick bench's
        figures unchanged (docs/bake.md, "Follow-up (2026-12-08): the nape behind the ear").
    occlusion_directions : directions for the ambient-occlusion compensation of the
        diffuse albedo (:mod:`~id2reflectance.processing.bake.occlusion`); 0 disables it.
    occlusion_normal : the normal the occlusion term is integrated against, per texel,
        with the visibility of each direction interpolated from the triangle's vertices:
        ``"mesh"`` (the mesh's interpolated normal), ``"baked"`` (the texel's baked normal:
        exact maps 0.1-1.4 dB better, solved maps 0.9 dB worse: the solve's normals are
        noisy) or ``"vertex"`` (per vertex with the vertex normal, the value interpolated
        to texels: the bake before 2026-12-06).
    occlusion_geometry : the geometry that blocks the occlusion directions where the bake
        has the scan (``bake_session``; ``bake_maps`` with an ``occluder`` or a prepared
        mesh holding one) and no ``occlusion_mesh`` is given: ``"fitted_on_scan"`` the
        registered mesh with its vertices farther than ``occlusion_on_scan_m`` from the scan
        moved onto it (:func:`~.occlusion.mesh_on_scan`: a real neck, which the template's
        neck stub leaves, shadows the images), ``"fitted"`` the registered mesh itself (the
        bake before 2026-12-08). Without a scan both are the registered mesh.
    occlusion_on_scan_m : metres, ``"fitted_on_scan"``'s distance from the scan above
        which a vertex is moved onto it (> 0).
    occlusion_floor : the albedo is divided by ``max(m0, occlusion_floor)``.
    occlusion_min : texels whose (blurred) ambient visibility is below this are treated
        as unseen: filled from their surroundings, coverage 0.
    occlusion_sss_mm : Gaussian widths (R, G, B, millimetres) of skin's subsurface
        scattering, which blurs the occlusion term as it blurs irradiance; zeros disable.
    padding_texels : gutter padding by nearest-texel copy, texels.
    normal_fill_decay : in filled texels the normal's offset from the mesh normal fades
        as ``exp(-d / (normal_fill_decay * size))``, d the distance to a seen texel.
    fill_sweeps : membrane relaxation sweeps per pyramid level in hole filling.
    previews : also write 8-bit sRGB previews.
    registration : options of the template fit.
    """

    size: int = 1024
    template: str | None = None
    normal_source: Literal["specular", "diffuse"] = "specular"
    blend: Literal["weighted", "best"] = "weighted"
    cos_min: float = 0.1
    cos_fallback: float = 0.005
    grazing: Literal["guide", "sample", "fill"] = "guide"
    guide_radius: float = 0.024
    guide_sigma_log: float = 0.1
    guide_max_log: float = 0.3
    grazing_trust: float = 0.25
    mirror_trust: float = 1.0
    mirror_tone_radius: float = 0.03
    mirror_cos: float = 0.3
    angle_power: float = 2.0
    mask_feather_px: float = 6.0
    feather: float = 0.008
    visibility_tolerance_m: float = 0.001
    scan_occlusion: bool = True
    scan_occlusion_tolerance_m: float = 0.0005
    scan_occlusion_last_resort_m: float = 0.0
    surface: Literal["scan", "template"] = "scan"
    surface_distance_m: float = 0.00075
    surface_outward_m: float = 0.0
    surface_folds: bool = False
    surface_direction: Literal["normal", "radial"] = "radial"
    last_resort: Literal["off", "sample", "guide"] = "sample"
    last_resort_weight: float = 0.05
    last_resort_silhouette_px: float = 3.0
    last_resort_footprint: float = 0.5
    last_resort_max_offset_m: float = 0.0005
    last_resort_silhouette: Literal["off", "guide"] = "guide"
    occlusion_directions: int = 256
    occlusion_normal: Literal["baked", "mesh", "vertex"] = "mesh"
    occlusion_geometry: Literal["fitted_on_scan", "fitted"] = "fitted_on_scan"
    occlusion_on_scan_m: float = 0.001
    occlusion_floor: float = 0.25
    occlusion_min: float = 0.3
    occlusion_sss_mm: tuple[float, float, float] = (1.0, 0.5, 0.25)
    padding_texels: int = 4
    normal_fill_decay: float = 0.02
    fill_sweeps: int = 8
    previews: bool = True
    registration: RegistrationConfig = field(default_factory=RegistrationConfig)

    def __post_init__(self) -> None:
        if not (256 <= self.size <= 8192) or self.size & (self.size - 1):
            raise ConfigError(f"size must be a power of two from 256 to 8192, got {self.size}")
        if self.blend not in ("weighted", "best"):
            raise ConfigError(f"blend must be 'weighted' or 'best', got {self.blend!r}")
        if self.grazing not in ("guide", "sample", "fill"):
            raise ConfigError(f"grazing must be 'guide', 'sample' or 'fill', got {self.grazing!r}")
        if not (0.0 <= self.mirror_trust <= 1.0):
            raise ConfigError(f"mirror_trust must be in [0, 1], got {self.mirror_trust}")
        if not (0.0 <= self.mirror_cos <= 1.0):
            raise ConfigError(f"mirror_cos must be in [0, 1], got {self.mirror_cos}")
        if not self.mirror_tone_radius > 0:
            raise ConfigError(f"mirror_tone_radius must be > 0, got {self.mirror_tone_radius}")
        if not (0.0 <= self.grazing_trust <= 1.0):
            raise ConfigError(f"grazing_trust must be in [0, 1], got {self.grazing_trust}")
        if not (self.guide_radius > 0 and self.guide_sigma_log > 0):
            raise ConfigError(
                f"guide_radius and guide_sigma_log must be > 0, got {self.guide_radius}, {self.guide_sigma_log}"
            )
        if not self.guide_max_log >= 0:
            raise ConfigError(f"guide_max_log must be >= 0 (0: off), got {self.guide_max_log}")
        if self.occlusion_normal not in ("baked", "mesh", "vertex"):
            raise ConfigError(f"occlusion_normal must be 'baked', 'mesh' or 'vertex', got {self.occlusion_normal!r}")
        if self.normal_source not in ("specular", "diffuse"):
            raise ConfigError(f"normal_source must be 'specular' or 'diffuse', got {self.normal_source!r}")
        if not (0.0 <= self.cos_min < 1.0):
            raise ConfigError(f"cos_min must be in [0, 1), got {self.cos_min}")
        if not (0.0 <= self.cos_fallback < 1.0):
            raise ConfigError(f"cos_fallback must be in [0, 1), got {self.cos_fallback}")
        for name in ("angle_power", "mask_feather_px", "feather", "visibility_tolerance_m", "normal_fill_decay"):
            if not (getattr(self, name) >= 0):
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.padding_texels < 0 or self.fill_sweeps < 0:
            raise ConfigError("padding_texels and fill_sweeps must be >= 0")
        if self.occlusion_directions != 0 and not (16 <= self.occlusion_directions <= 65536):
            raise ConfigError(f"occlusion_directions must be 0 or in [16, 65536], got {self.occlusion_directions}")
        if len(self.occlusion_sss_mm) != 3 or min(self.occlusion_sss_mm) < 0:
            raise ConfigError(f"occlusion_sss_mm must be three values >= 0, got {self.occlusion_sss_mm}")
        if self.occlusion_geometry not in ("fitted_on_scan", "fitted"):
            raise ConfigError(
                f"occlusion_geometry must be 'fitted_on_scan' or 'fitted', got {self.occlusion_geometry!r}"
            )
        if not self.occlusion_on_scan_m > 0:
            raise ConfigError(f"occlusion_on_scan_m must be > 0, got {self.occlusion_on_scan_m}")
        if not (0.0 <= self.occlusion_min < 1.0):
            raise ConfigError(f"occlusion_min must be in [0, 1), got {self.occlusion_min}")
        if not self.scan_occlusion_tolerance_m > 0:
            raise ConfigError(f"scan_occlusion_tolerance_m must be > 0, got {self.scan_occlusion_tolerance_m}")
        if not self.scan_occlusion_last_resort_m >= 0:
            raise ConfigError(f"scan_occlusion_last_resort_m must be >= 0, got {self.scan_occlusion_last_resort_m}")
        if self.surface not in ("scan", "template"):
            raise ConfigError(f"surface must be 'scan' or 'template', got {self.surface!r}")
        if self.surface_direction not in ("normal", "radial"):
            raise ConfigError(f"surface_direction must be 'normal' or 'radial', got {self.surface_direction!r}")
        if not self.surface_distance_m > 0:
            raise ConfigError(f"surface_distance_m must be > 0, got {self.surface_distance_m}")
        if not self.surface_outward_m >= 0:
            raise ConfigError(f"surface_outward_m must be >= 0, got {self.surface_outward_m}")
        if self.last_resort not in ("off", "sample", "guide"):
            raise ConfigError(f"last_resort must be 'off', 'sample' or 'guide', got {self.last_resort!r}")
        if self.last_resort == "guide" and self.grazing != "guide":
            raise ConfigError(f"last_resort 'guide' needs grazing 'guide', got grazing {self.grazing!r}")
        if not (0.0 < self.last_resort_weight <= 1.0):
            raise ConfigError(f"last_resort_weight must be in (0, 1], got {self.last_resort_weight}")
        if not (0.0 < self.last_resort_footprint <= 1.0):
            raise ConfigError(f"last_resort_footprint must be in (0, 1], got {self.last_resort_footprint}")
        if not self.last_resort_max_offset_m >= 0:
            raise ConfigError(f"last_resort_max_offset_m must be >= 0, got {self.last_resort_max_offset_m}")
        if self.last_resort_silhouette not in ("off", "guide"):
            raise ConfigError(f"last_resort_silhouette must be 'off' or 'guide', got {self.last_resort_silhouette!r}")
        if not self.last_resort_silhouette_px >= 0:
            raise ConfigError(f"last_resort_silhouette_px must be >= 0, got {self.last_resort_silhouette_px}")
        if not (0.0 < self.occlusion_floor <= 1.0):
            raise ConfigError(f"occlusion_floor must be in (0, 1], got {self.occlusion_floor}")

    @property
    def silhouette_guide(self) -> bool:
        """Whether last-resort samples beside the silhouette guide the fill
        (``last_resort_silhouette = "guide"`` with ``grazing = "guide"`` and ``last_resort`` on)."""
        return self.last_resort_silhouette == "guide" and self.grazing == "guide" and self.last_resort != "off"

    def view_weights(self) -> ViewWeights:
        """The per-camera weighting options at this map size."""
        return ViewWeights(
            cos_min=self.cos_min,
            cos_fallback=self.cos_min if self.grazing == "fill" else self.cos_fallback,
            angle_power=self.angle_power,
            mask_feather_px=self.mask_feather_px,
            feather_texels=self.feather * self.size,
            visibility_tolerance_m=self.visibility_tolerance_m,
            occluder_tolerance_m=self.scan_occlusion_tolerance_m,
            occluder_last_resort_m=self.scan_occlusion_last_resort_m,
            last_resort=self.last_resort != "off",
            last_resort_silhouette_px=self.last_resort_silhouette_px,
            last_resort_footprint=self.last_resort_footprint,
            last_resort_silhouette=self.silhouette_guide,
            last_resort_max_offset_m=self.last_resort_max_offset_m,
        )


@dataclass(frozen=True, eq=False)
class BakedMaps:
    """The baked UV maps of one subject (S x S, row 0 at the top).

    diffuse_albedo : (S, S, 3) float32 linear Rec.709 in [0, 1].
    specular_albedo : (S, S) float32, full-sphere response at normal incidence.
    roughness : (S, S) float32 GGX perceptual roughness.
    normal_object : (S, S, 3) float32 unit normals, mesh (world) frame.
    normal_tangent : (S, S, 3) float32 unit tangent-space normals (OpenGL, +Y up).
    coverage : (S, S) float32 in [0, 1]; 0 where filled.
    covered : (S, S) bool, texel inside the UV chart.
    seen : (S, S) bool, covered and seen by at least one camera.
    view_weights : {camera: (S, S) float32 blending weight}.
    guided : (S, S) bool, unseen texels filled by the guided fill from their grazing
        sample (``BakeConfig.grazing = "guide"``), or None.
    mirrored : (S, S) float32 in [0, 1], the share of each grazing texel's albedos,
        specular and roughness taken from its mirror texel (``BakeConfig.mirror_trust``),
        or None when the mirror fill did not run.
    last_resort : (S, S) bool, texels that took a last-resort sample
        (``BakeConfig.last_resort``: ``"sample"``, seen texels of coverage
        ``last_resort_weight``; ``"guide"``, texels guided by it), or None when it is off.
    """

    diffuse_albedo: np.ndarray
    specular_albedo: np.ndarray
    roughness: np.ndarray
    normal_object: np.ndarray
    normal_tangent: np.ndarray
    coverage: np.ndarray
    covered: np.ndarray
    seen: np.ndarray
    view_weights: dict[str, np.ndarray]
    guided: np.ndarray | None = None
    mirrored: np.ndarray | None = None
    last_resort: np.ndarray | None = None

    def coverage_seen(self) -> float:
        """Fraction of the UV chart's texels seen by at least one camera."""
        return float(self.seen.sum() / max(int(self.covered.sum()), 1))


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def _channels(smp: ViewSamples, take: np.ndarray) -> np.ndarray:
    """(len(take), 8) float32 diffuse RGB, specular, roughness, normal xyz of one view's
    samples at the flat texel indices ``take``."""
    return np.concatenate(
        [
            smp.diffuse_albedo.reshape(-1, 3)[take],
            smp.specular_albedo.reshape(-1, 1)[take],
            smp.roughness.reshape(-1, 1)[take],
            smp.normal.reshape(-1, 3)[take],
        ],
        axis=-1,
    )


def _fill(values: np.ndarray, known: np.ndarray, covered: np.ndarray, config: BakeConfig) -> np.ndarray:
    """Pad into the gutters (nearest known texel), then push-pull the rest; ``known`` is a
    bool mask or weights in [0, 1] (a partly known texel keeps that share of its value)."""
    w = np.asarray(known, np.float32)
    padded, near = dilate(values, w > 0, texels=config.padding_texels)
    # padding goes into the gutters only; holes inside the chart are filled smoothly
    return push_pull(padded, np.where(near & ~covered, 1.0, w), sweeps=config.fill_sweeps)


def bake_maps(
    mesh: FaceMesh,
    views: Iterable[SolvedView],
    *,
    config: BakeConfig = BakeConfig(),
    progress: ProgressFn | None = None,
    total_views: int | None = None,
    prepared: PreparedMesh | None = None,
    mirror: TexelMirror | None = None,
    occluder: FaceMesh | None = None,
    surface_origin: np.ndarray | None = None,
    occlusion_mesh: FaceMesh | None = None,
) -> BakedMaps:
    """Bake solved per-camera maps into the UV layout of a registered mesh.

    Parameters
    ----------
    mesh : the registered template (UVs, world frame, metres).
    views : the cameras' solved maps; consumed one at a time (a generator keeps memory
        to one camera's maps).
    config : BakeConfig.
    progress : optional ``progress(stage, done, total)``.
    total_views : number of views, for progress only.
    prepared : ``mesh``'s baking geometry at ``config.size``
        (:func:`~.bake_mesh.prepare_mesh`), to reuse across bakes of one mesh; computed
        when None.
    occluder : the scan ``mesh`` was registered to (metres, the same frame), or None: a
        texel is also hidden from a camera where the scan is hit more than
        ``config.scan_occlusion_tolerance_m`` before it along the ray (an ear, which the
        template's radial chart does not hold). Used when ``prepared`` is None (a
        prepared mesh holds its own, :func:`~.prepared_mesh.prepare_mesh`).
    surface_origin : (3,) the template origin's image (metres), for
        ``config.surface_direction = "radial"`` (required there when ``config.surface`` is
        ``"scan"`` and there is an ``occluder``).
    occlusion_mesh : the geometry that blocks the ambient-occlusion directions (metres,
        the same frame), or None: chosen by ``config.occlusion_geometry`` (``mesh`` moved
        onto the scan -- ``occluder`` or ``prepared``'s -- where it leaves it; ``mesh``
        itself without a scan). The rays still leave
        ``mesh``'s vertices; a caller that knows more of the body than the registered
        template (or, in a benchmark, the geometry the images were shaded with) passes it.

    Raises
    ------
    CaptureError
        A camera sees nothing of the registered face, or no camera sees anything.
    """
    s = config.size
    if prepared is None:
        radial = config.surface == "scan" and config.surface_direction == "radial" and occluder is not None
        if radial and surface_origin is None:
            raise ConfigError("bake_maps: surface_direction 'radial' needs surface_origin (the template origin)")
        prepared = prepare_mesh(
            mesh,
            s,
            occluder=occluder,
            surface=config.surface,
            surface_distance_m=config.surface_distance_m,
            surface_origin=surface_origin if radial else None,
            surface_outward_m=config.surface_outward_m,
            surface_folds=config.surface_folds,
        )
    prepared.check(mesh, s)
    geom, scene = prepared.geometry, prepared.scene
    opts = config.view_weights()
    wsum = np.zeros((s, s), np.float64)
    alb = np.zeros((s, s, 3), np.float64)
    spec = np.zeros((s, s), np.float64)
    rough = np.zeros((s, s), np.float64)
    nrm = np.zeros((s, s, 3), np.float64)
    miss = np.ones((s, s), np.float64)
    # best grazing sample (between cos_fallback and cos_min) of each texel: weight, then
    # diffuse RGB, specular, roughness, normal xyz
    fb_w = np.zeros((s, s), np.float32)
    facing = np.zeros((s, s), bool)  # seen above cos_min by some camera (whatever the weight)
    fb = np.zeros((s, s, 8), np.float32)
    lr_cos = np.zeros((s, s), np.float32)  # the best last-resort sample: its n.v, then as fb
    lr = np.zeros((s, s, 8), np.float32) if config.last_resort != "off" else None
    sil_cos = np.zeros((s, s), np.float32)  # the best silhouette-side last-resort sample, as lr
    sil = np.zeros((s, s, 8), np.float32) if config.silhouette_guide else None
    weights: dict[str, np.ndarray] = {}
    blind: list[str] = []
    for k, view in enumerate(views):
        smp = sample_view(
            prepared.view_geometry,
            view,
            scene,
            opts,
            visibility=prepared.visibility(view.camera, opts),
            occluder=prepared.occluder,
            offset=prepared.offset_length,
        )
        w = smp.weight.astype(np.float64)
        if not (w > 0).any():
            blind.append(view.camera.name)
        weights[view.camera.name] = smp.weight
        if config.blend == "best":  # keep the sample of the largest weight only
            take = w > wsum
            wsum = np.where(take, w, wsum)
            alb = np.where(take[..., None], w[..., None] * smp.diffuse_albedo, alb)
            spec = np.where(take, w * smp.specular_albedo, spec)
            rough = np.where(take, w * smp.roughness, rough)
            nrm = np.where(take[..., None], w[..., None] * smp.normal, nrm)
        else:
            wsum += w
            alb += w[..., None] * smp.diffuse_albedo
            spec += w * smp.specular_albedo
            rough += w * smp.roughness
            nrm += w[..., None] * smp.normal
        miss *= 1.0 - np.clip(w, 0.0, 1.0)
        if smp.facing is not None:
            facing |= smp.facing
        if smp.fallback is not None:
            take = np.flatnonzero(smp.fallback > fb_w)
            if take.size:
                fb_w.reshape(-1)[take] = smp.fallback.reshape(-1)[take]
                fb.reshape(-1, 8)[take] = _channels(smp, take)
        if lr is not None and smp.last_resort is not None:
            take = np.flatnonzero(smp.last_resort > lr_cos)
            if take.size:
                lr_cos.reshape(-1)[take] = smp.last_resort.reshape(-1)[take]
                lr.reshape(-1, 8)[take] = _channels(smp, take)
        if sil is not None and smp.silhouette is not None:
            take = np.flatnonzero(smp.silhouette > sil_cos)
            if take.size:
                sil_cos.reshape(-1)[take] = smp.silhouette.reshape(-1)[take]
                sil.reshape(-1, 8)[take] = _channels(smp, take)
        if progress is not None:
            progress("bake", k + 1, total_views or k + 1)
    if not weights:
        raise CaptureError("no cameras to bake from")
    if blind:
        raise CaptureError(
            f"camera(s) {blind} see nothing of the registered face (no texel is in view, unoccluded and inside the "
            "solver mask): check their calibration in session.json and their SOLVED/<camera>/mask.exr"
        )
    cf = min(config.cos_fallback, config.cos_min)
    span = ((1.0 - cf) / max(config.cos_min - cf, 1e-6)) ** config.angle_power  # fallback weight -> 1 at cos_min
    # last-resort samples: texels otherwise filled (no weight, no grazing sample the guided
    # fill would use), declined beside an interior hole of a camera's mask
    last = None
    if lr is not None:
        last = geom.covered & (wsum <= 0) & (lr_cos > 0) & (fb_w <= 0)
        if config.last_resort == "guide":  # a grazing sample of trust last_resort_weight at cos_min
            fb_w[last] = config.last_resort_weight / span
            fb[last] = lr[last]
    # texels with no sample at all but one beside a silhouette: it guides their fill
    edge = None
    if sil is not None:
        edge = geom.covered & (wsum <= 0) & (sil_cos > 0) & (fb_w <= 0) & (lr_cos <= 0)
        fb_w[edge] = config.last_resort_weight / span
        fb[edge] = sil[edge]
    # texels that no camera sees above cos_min: the best grazing sample (texels a camera
    # faces but gives no weight, at a mask border or an occlusion, are filled as before)
    graze = geom.covered & (wsum <= 0) & (fb_w > 0) & ~facing
    if last is not None and config.last_resort == "guide":
        graze |= last
    if edge is not None:
        graze |= edge
    guide = fb[..., :3].copy() if config.grazing == "guide" else None
    if config.grazing == "sample" and graze.any():
        g = fb_w[graze].astype(np.float64)
        wsum[graze] = g
        alb[graze] = g[:, None] * fb[graze][:, :3]
        spec[graze] = g * fb[graze][:, 3]
        rough[graze] = g * fb[graze][:, 4]
        nrm[graze] = g[:, None] * fb[graze][:, 5:]
        miss[graze] = 1.0 - np.clip(g, 0.0, 1.0)
    if last is not None and config.last_resort == "sample":
        g = np.full(int(last.sum()), config.last_resort_weight)
        wsum[last] = g
        alb[last] = g[:, None] * lr[last][:, :3]
        spec[last] = g * lr[last][:, 3]
        rough[last] = g * lr[last][:, 4]
        nrm[last] = g[:, None] * lr[last][:, 5:]
        miss[last] = 1.0 - g
    seen = geom.covered & (wsum > 0)
    inv = np.where(seen, 1.0 / np.where(seen, wsum, 1.0), 0.0)
    alb = np.maximum(alb * inv[..., None], 0.0)
    if config.occlusion_directions > 0:
        scan = occluder if occluder is not None else prepared.occluder
        if occlusion_mesh is None and config.occlusion_geometry == "fitted_on_scan" and scan is not None:
            occlusion_mesh = mesh_on_scan(mesh, scan, config.occlusion_on_scan_m)
        texel_m = texel_size_m(mesh, geom.face_id, seen)
        reach = int(np.ceil(3 * max(config.occlusion_sss_mm) * 1e-3 / max(texel_m, 1e-9))) + 1
        near_seen = cv2.dilate(seen.astype(np.uint8), np.ones((2 * reach + 1,) * 2, np.uint8)) > 0
        if config.occlusion_normal == "vertex":
            m0 = texel_ambient_visibility(
                mesh,
                geom.face_id,
                geom.bary,
                directions=config.occlusion_directions,
                where=near_seen,
                occluder=occlusion_mesh,
            )
        else:
            n_occ = geom.normals
            if config.occlusion_normal == "baked":
                n_occ = np.where(seen[..., None], _unit(nrm), geom.normals)
            m0 = texel_ambient_visibility_normals(
                mesh,
                geom.face_id,
                geom.bary,
                n_occ,
                directions=config.occlusion_directions,
                where=near_seen,
                occluder=occlusion_mesh,
            )
        m0c = subsurface_blur(m0, config.occlusion_sss_mm, texel_m)
        alb /= np.maximum(m0c, config.occlusion_floor)
        if guide is not None:
            guide[graze] /= np.maximum(m0c[graze], config.occlusion_floor)
            graze &= m0c.min(axis=-1) >= config.occlusion_min
        # deep creases (mouth line, eye corners, nostrils) receive little of the light and
        # their correction hangs on sub-millimetre geometry: fill them like unseen texels
        seen &= m0c.min(axis=-1) >= config.occlusion_min
    spec = np.maximum(spec * inv, 0.0)
    rough = rough * inv
    nrm_seen = _unit(nrm)
    coverage = np.where(seen, 1.0 - miss, 0.0).astype(np.float32)

    # normals are filled as offsets from the mesh normal, so unseen skin follows the mesh;
    # gutter texels take the mesh normal of the nearest chart texel
    n_geo = prepared.normals_filled
    stack = np.concatenate([alb, spec[..., None], rough[..., None], nrm_seen - n_geo], axis=-1).astype(np.float32)
    guided = None
    if guide is not None:
        graze &= ~seen
        # candidates: the seen texels (trust 1) and the grazing samples, trusted as their
        # fallback weight rescaled to 1 at cos_min, times grazing_trust
        trust = seen.astype(np.float32)
        trust[graze] = np.clip(fb_w[graze] * span * config.grazing_trust, 0.0, 1.0)
        reference = alb.astype(np.float32)
        reference[graze] = guide[graze]
        stack[graze] = np.concatenate(
            [guide[graze], fb[graze][:, 3:5], _unit(fb[graze][:, 5:]) - n_geo[graze]], axis=-1
        )
        stack, guided = guided_fill(
            stack,
            trust,
            graze,
            reference,
            radius=max(1, round(config.guide_radius * s)),
            sigma_log=config.guide_sigma_log,
            max_log_distance=config.guide_max_log if config.guide_max_log > 0 else None,
        )
    known = seen if guided is None else seen | guided
    filled = _fill(stack, known, geom.covered, config)
    mirrored = None
    if mirror is not None and config.mirror_trust > 0 and guided is not None and guided.any():
        if mirror.size != s:
            raise ShapeError(f"bake_maps: the mirror map is for {mirror.size} texels, the bake for {s}")
        # the grazing texels' albedos, specular and roughness from the face's other side where
        # that is seen better (normals keep their fill). Trust as a source: seen texels 1 (less
        # below mirror_cos), grazing texels their grazing weight rescaled to 1 at cos_min
        w_ref = (max(config.mirror_cos - config.cos_min, 0.0) / (1.0 - config.cos_min)) ** config.angle_power
        conf = np.where(seen, np.clip(coverage / max(w_ref, 1e-12), 0.0, 1.0), 0.0).astype(np.float32)
        conf[guided] = np.clip(fb_w[guided] * span, 0.0, 1.0)
        m_val, mirrored = mirror_fill(
            stack[..., :5],
            conf,
            seen,
            guided,
            mirror,
            trust=config.mirror_trust,
            ratio_sigma=config.mirror_tone_radius * s,
        )
        part = stack[..., :5] * (1.0 - mirrored[..., None]) + m_val * mirrored[..., None]
        filled[..., :5] = _fill(part, known, geom.covered, config)
    alb_f, spec_f, rough_f = filled[..., :3], filled[..., 3], filled[..., 4]
    # far from any seen texel the offset fades out: unseen skin takes the mesh normal, so
    # both sides of a UV seam in unseen regions agree
    far = cv2.distanceTransform((~seen).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    fade = np.exp(-far / max(config.normal_fill_decay * s, 1e-6))[..., None]
    n_obj = np.where(seen[..., None], nrm_seen, _unit(n_geo + fade * filled[..., 5:])).astype(np.float32)
    if progress is not None:
        progress("fill", 1, 2)
    n_tan = object_to_tangent(n_obj, mesh, frames=prepared.frames)
    if progress is not None:
        progress("fill", 2, 2)
    return BakedMaps(
        diffuse_albedo=np.clip(alb_f, 0.0, 1.0),
        specular_albedo=np.maximum(spec_f, 0.0),
        roughness=np.clip(rough_f, 0.0, 1.0),
        normal_object=n_obj,
        normal_tangent=n_tan,
        coverage=coverage,
        covered=geom.covered,
        seen=seen,
        view_weights=weights,
        guided=guided,
        mirrored=mirrored,
        last_resort=None if last is None else last & (seen if config.last_resort == "sample" else guided),
    )


# ------------------------------------------------------------------------ session


def _report(
    session: Session,
    baked: BakedMaps,
    reg: Registration,
    config: BakeConfig,
    timings: dict[str, float],
    template: tuple[str, str],
) -> dict[str, Any]:
    covered = max(int(baked.covered.sum()), 1)
    per_cam = {name: round(float((w > 0).sum() / covered), 5) for name, w in baked.view_weights.items()}
    return {
        "format": "id2r-bake",
        "version": 1,
        "subject": session.subject_id,
        "size": config.size,
        "template": {"name": template[0], "sha256": template[1]},
        "coverage": {
            "seen": round(baked.coverage_seen(), 5),
            "filled": round(1.0 - baked.coverage_seen(), 5),
            "per_camera": per_cam,
            "mean_confidence_seen": round(float(baked.coverage[baked.seen].mean()), 5) if baked.seen.any() else 0.0,
        },
        "registration": {
            "fit_residual_mm": reg.residual.to_json(),
            "scale": round(reg.scale, 6),
            "matched_fraction": round(reg.matched_fraction, 5),
            "similarity": np.round(reg.similarity, 9).tolist(),
            "scaled": np.round(reg.scaled, 9).tolist(),
            "prior": reg.prior,
            "prior_extras": {k: round(float(v), 5) for k, v in reg.extras.items() if k.startswith("prior_")},
        },
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
        "config": dataclasses.asdict(config),
        "tool": {"name": "id2reflectance", "version": __version__},
    }


@dataclass(frozen=True, eq=False)
class BakeResult:
    """What :func:`bake_session` wrote and computed.

    path : the asset folder; maps : the baked maps (with per-camera weights);
    registration : the template fit; report : the contents of ``bake.json``.
    """

    path: Path
    maps: BakedMaps
    registration: Registration
    report: dict[str, Any]


def bake_session(
    session_dir: str | Path,
    solved_dir: str | Path,
    out_dir: str | Path,
    *,
    config: BakeConfig = BakeConfig(),
    progress: ProgressFn | None = None,
) -> BakeResult:
    """Register the template to a session's scan and bake its solved maps into an asset.

    Parameters
    ----------
    session_dir : the capture session (``session.json`` with a ``mesh``).
    solved_dir : the output of ``id2r solve`` for that session.
    out_dir : the asset folder to write (replaced as a whole if it exists).
    config : BakeConfig.
    progress : optional ``progress(stage, done, total)`` (stages register, bake, fill).

    Returns
    -------
    BakeResult. ``out_dir`` holds ``uv/*.exr``, ``mesh.obj``, ``asset.json``,
    ``previews/*.png`` and ``bake.json``, written atomically (nothing is left on error).

    Raises
    ------
    SessionInvalidError, InputFileError, CaptureError
        A bad session, a missing or unreadable scan, a scan outside every camera, solver
        output that does not match the session, a camera that sees nothing of the face.
    ConfigError
        ``out_dir`` is (or contains) the session or solver folder, or is an existing
        folder that is not an asset.
    """
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    session = load_session(session_dir)
    out_dir = Path(out_dir)
    check_out_dir(out_dir, inputs=(Path(session_dir), Path(solved_dir)))
    check_solved_dir(solved_dir, session.cameras)
    scan = load_scan(session)
    check_scan_in_view(scan, session.cameras, where=str(session.mesh))
    check_cameras_see_scan(scan, session.cameras, solved_dir)
    template, template_name, template_sha = load_template(config.template, config.registration.face_model)
    timings["load"] = time.perf_counter() - t0

    t = time.perf_counter()
    reg = register_template(template, scan, config=config.registration, progress=progress)
    timings["register"] = time.perf_counter() - t

    t = time.perf_counter()
    views = (load_solved_view(solved_dir, cam, normal_source=config.normal_source) for cam in session.cameras.values())
    mirror = texel_mirror(template, config.size) if config.mirror_trust > 0 else None
    baked = bake_maps(
        reg.mesh,
        views,
        config=config,
        progress=progress,
        total_views=len(session.cameras),
        mirror=mirror,
        occluder=scan if config.scan_occlusion else None,
        surface_origin=reg.scaled[:3, 3],  # the template origin's image (radial surface points)
        occlusion_mesh=(  # the scan blocks the occlusion term even where it hides nothing from the cameras
            mesh_on_scan(reg.mesh, scan, config.occlusion_on_scan_m)
            if config.occlusion_geometry == "fitted_on_scan" and not config.scan_occlusion
            else None
        ),
    )
    timings["bake"] = time.perf_counter() - t

    t = time.perf_counter()
    maps = AssetMaps(
        diffuse_albedo=baked.diffuse_albedo,
        specular_albedo=baked.specular_albedo,
        roughness=baked.roughness,
        normal_object=baked.normal_object,
        coverage=baked.coverage,
        normal_tangent=baked.normal_tangent,
    )
    stats = {
        "coverage_seen": round(baked.coverage_seen(), 5),
        "fit_residual_mm": {"mean": round(reg.residual.mean, 4), "p95": round(reg.residual.p95, 4)},
    }
    source = {"kind": "capture", "session_sha256": sha256_file(Path(session_dir) / "session.json")}
    with atomic_folder(out_dir) as tmp:
        write_asset(
            tmp,
            mesh=reg.mesh,
            maps=maps,
            subject_id=session.subject_id,
            attributes=session.attributes,
            template_name=template_name,
            template_sha256=template_sha,
            frame="world",
            source=source,
            stats=stats,
            previews=config.previews,
        )
        timings["write"] = time.perf_counter() - t
        timings["total"] = time.perf_counter() - t0
        report = _report(session, baked, reg, config, timings, (template_name, template_sha))
        atomic_write_json(tmp / BAKE_JSON, report)
    log.info("baked %s: %.1f%% of the UV chart seen", out_dir, 100 * baked.coverage_seen())
    return BakeResult(path=out_dir, maps=baked, registration=reg, report=report)
