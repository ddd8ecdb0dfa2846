"""What makes two simulated people look like two people: eyebrows, hair, beard, lips, eyes.

A face recogniser tells real people apart by more than the shape of the skull: the
eyebrows (shape, thickness, darkness, height), the hairline and hair, facial hair, the
lips' colour and the eyes (lashes, the skin around them, the iris). :class:`Appearance`
draws these per subject, from the subject's own random stream, and
:func:`appearance_layers` paints them as per-texel layers that
:func:`~id2reflectance.capture.simulator.skin.subject_maps` mixes into the skin maps;
:func:`lash_mask` lines the lids of the head's own eyes, and :func:`hair_thickness` gives
the scalp hair its volume (the head's surface moved out:
:func:`~id2reflectance.capture.simulator.face_model_subjects.with_hair_volume`).

Hair is kept in the skin maps as a region, not marked non-skin like the eyes: the light
stage measures it as it measures skin (diffuse-dark, low specular, rough), so the solve,
bake and dataset compare it against truth like any other texel. Its coverage is written
as ``truth/uv/hair.exr`` and left out of the face's ITA. Scalp hair is a smooth shell
standing off the scalp; brows, lashes and beards are painted on the skin.

Every shape is a function of surface points in the template's frame (metres, y up, the
face toward +z, the subject's left +x, the template's landmarks where the template has
them: :func:`~id2reflectance.capture.geometry.face_model_heads.face_model_region_points`)
and of the named regions (:mod:`~id2reflectance.capture.geometry.regions`), never of
texel positions, so the painting follows any UV layout. The lashes alone follow the
subject's own eyes (its head's surface points next to its eyeballs).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
from scipy.spatial import cKDTree

from id2reflectance.capture.simulator.procedural import band_limited, fbm, value_noise
from id2reflectance.errors import ConfigError

ScalpStyle = Literal["bald", "horseshoe", "buzz", "short", "long", "fringe"]
BeardStyle = Literal["none", "shadow", "moustache", "goatee", "full"]
SCALP_STYLES: tuple[str, ...] = ("bald", "horseshoe", "buzz", "short", "long", "fringe")
BEARD_STYLES: tuple[str, ...] = ("none", "shadow", "moustache", "goatee", "full")

GREY_HAIR_ALBEDO = (0.42, 0.40, 0.37)  # linear Rec.709: unpigmented (white) hairs with a little pigment
RED_HAIR_ALBEDO = (0.20, 0.075, 0.035)  # linear Rec.709: auburn
SCALP_DENSITY = {"bald": 0.0, "horseshoe": 0.97, "buzz": 0.7, "short": 0.98, "long": 1.0, "fringe": 1.0}
# range of the hair's thickness on the crown per scalp style, metres
HAIR_VOLUME = {
    "bald": (0.0, 0.0),
    "horseshoe": (0.003, 0.008),
    "buzz": (0.001, 0.003),
    "short": (0.006, 0.018),
    "long": (0.010, 0.025),
    "fringe": (0.010, 0.025),
}
BEARD_DENSITY = {"none": 0.0, "shadow": 0.35, "moustache": 0.95, "goatee": 0.95, "full": 0.95}


def hair_albedo(darkness: float) -> np.ndarray:
    """(3,) linear Rec.709 albedo of hair from blond (0) through brown to black (1)."""
    blond = np.log([0.36, 0.25, 0.13])
    brown = np.log([0.06, 0.038, 0.025])
    black = np.log([0.018, 0.015, 0.013])
    d = float(np.clip(darkness, 0.0, 1.0))
    mix = blond + (brown - blond) * d / 0.6 if d < 0.6 else brown + (black - brown) * (d - 0.6) / 0.4
    return np.exp(mix)


@dataclass(frozen=True)
class Appearance:
    """One subject's eyebrows, hair, beard, lips and irises (lengths in metres).

    The eyebrow runs along the brow ridge from ``brow_inner`` to ``brow_outer`` (distance
    from the face's midline), its centre line at the template's brow height plus
    ``brow_raise``, arched by ``brow_arch`` with the peak at fraction ``brow_peak`` of its
    length; ``brow_thickness`` is its half-height at the inner end (it tapers outward).
    """

    brow_inner: float = 0.013
    brow_outer: float = 0.058
    brow_raise: float = 0.0
    brow_arch: float = 0.007
    brow_peak: float = 0.65
    brow_thickness: float = 0.005
    brow_darkness: float = 0.0  # added to the hair darkness for the brows
    scalp: ScalpStyle = "short"
    hairline: float = 0.08  # height of the front hairline on the midline (template frame y)
    temple_recession: float = 0.005  # how far the hairline rises at the temples
    nape: float = -0.075  # height of the hairline at the back of the neck
    sideburn: float = 0.02  # lowest point of the hair in front of the ears
    grey: float = 0.0  # 0..1 fraction of unpigmented hairs
    red: float = 0.0  # 0..1 toward auburn
    beard: BeardStyle = "none"
    lip_haemoglobin: float = 1.0  # factor on the lips' blood fraction
    lip_melanin: float = 1.0  # factor on the lips' melanin
    iris_shift: float = 0.0  # added to the hair darkness for the iris colour
    seed: int = 0  # detail noise
    lash_width: float = 0.0  # band of upper eyelashes on the lid margin at its middle (0: none)
    lash_density: float = 0.0  # 0..1 fraction of the lid margin the lashes hide
    hair_volume: float = 0.0  # thickness of the scalp hair on the crown (0: painted on the scalp only)
    periorbital: float = 0.0  # extra melanin around the eyes: factor 1 + this on the eyelid region

    def __post_init__(self) -> None:
        checks = {
            "brow_inner": (0.005, 0.02),
            "brow_outer": (0.045, 0.07),
            "brow_raise": (-0.006, 0.008),
            "brow_arch": (0.0, 0.014),
            "brow_peak": (0.3, 0.9),
            "brow_thickness": (0.002, 0.009),
            "brow_darkness": (-0.5, 0.5),
            "hairline": (0.05, 0.115),
            "temple_recession": (0.0, 0.03),
            "nape": (-0.1, -0.03),
            "sideburn": (-0.02, 0.04),
            "grey": (0.0, 1.0),
            "red": (0.0, 1.0),
            "lip_haemoglobin": (0.3, 3.0),
            "lip_melanin": (0.3, 3.0),
            "iris_shift": (-1.0, 1.0),
            "lash_width": (0.0, 0.005),
            "lash_density": (0.0, 1.0),
            "hair_volume": (0.0, 0.04),
            "periorbital": (0.0, 2.0),
        }
        for name, (lo, hi) in checks.items():
            value = getattr(self, name)
            if not (lo <= value <= hi):
                raise ConfigError(f"Appearance.{name} must be in [{lo}, {hi}], got {value!r}")
        if self.scalp not in SCALP_STYLES:
            raise ConfigError(f"Appearance.scalp must be one of {SCALP_STYLES}, got {self.scalp!r}")
        if self.beard not in BEARD_STYLES:
            raise ConfigError(f"Appearance.beard must be one of {BEARD_STYLES}, got {self.beard!r}")

    @classmethod
    def random(
        cls, rng: np.random.Generator, *, sex: Literal["female", "male"], age: float, ita_deg: float
    ) -> Appearance:
        """A plausible draw for a subject of this sex, age (years) and skin ITA (degrees)."""
        male = sex == "male"
        old = float(np.clip((age - 30.0) / 40.0, 0.0, 1.0))
        if male:
            styles, p = ("bald", "horseshoe", "buzz", "short"), [0.06 + 0.1 * old, 0.04 + 0.16 * old, 0.2, 0.0]
        else:
            styles, p = ("short", "long", "fringe"), [0.25, 0.45, 0.3]
        p[-1] = 1.0 - sum(p[:-1])
        scalp = str(rng.choice(styles, p=p))
        beard = "none"
        if male:
            beard = str(rng.choice(BEARD_STYLES, p=[0.35, 0.3, 0.1, 0.1, 0.15]))
        light = float(np.clip((ita_deg - 20.0) / 40.0, 0.0, 1.0))
        return cls(
            brow_inner=float(rng.uniform(0.009, 0.016)),
            brow_outer=float(rng.uniform(0.051, 0.063)),
            brow_raise=float(rng.uniform(-0.004, 0.003) if male else rng.uniform(-0.002, 0.005)),
            brow_arch=float(rng.uniform(0.001, 0.008) if male else rng.uniform(0.004, 0.011)),
            brow_peak=float(rng.uniform(0.45, 0.8)),
            brow_thickness=float(rng.uniform(0.0045, 0.0075) if male else rng.uniform(0.003, 0.006)),
            brow_darkness=float(rng.uniform(-0.15, 0.3)),
            scalp=scalp,  # type: ignore[arg-type]
            hairline=float(rng.uniform(0.07, 0.09)),
            temple_recession=float(rng.uniform(0.0, 0.008) + (0.018 * old * rng.random() if male else 0.0)),
            nape=float(rng.uniform(-0.09, -0.06)),
            sideburn=float(rng.uniform(0.0, 0.025) if male else rng.uniform(0.015, 0.035)),
            grey=float(np.clip(old * rng.uniform(0.0, 1.3) - 0.1, 0.0, 1.0)),
            red=float(rng.uniform(0.4, 0.9)) if rng.random() < 0.12 * light else 0.0,
            beard=beard,  # type: ignore[arg-type]
            lip_haemoglobin=float(np.exp(rng.normal(0.0, 0.3))),
            lip_melanin=float(np.exp(rng.normal(0.0, 0.25))),
            iris_shift=float(np.clip(rng.normal(0.0, 0.25), -1.0, 1.0)),
            seed=int(rng.integers(0, 2**31 - 1)),
            # drawn last: the draws above are those of before the lashes
            lash_width=float(rng.uniform(0.0022, 0.0032)),
            lash_density=float(rng.uniform(0.85, 1.0)),
            hair_volume=float(rng.uniform(*HAIR_VOLUME[scalp])),
            periorbital=float(rng.uniform(0.3, 1.3) if ita_deg < 20.0 else rng.uniform(0.1, 1.0)),
        )

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True, eq=False)
class AppearanceLayers:
    """Per-point layers of one subject (N points, e.g. the S x S texels flattened).

    hair : (N,) float64 in [0, 1], fraction of the skin covered by hair (eyebrows, lash
        line, scalp hair, beard).
    hair_albedo : (N, 3) float64 linear Rec.709, the hair's diffuse albedo.
    melanin_factor, haemoglobin_factor : (N,) float64 factors on the skin's melanin and
        blood fractions (1 outside the lips and, for the melanin, the eyelids: periorbital
        pigmentation).
    eyebrows, scalp, beard : (N,) float64 in [0, 1], each kind of hair on its own.
    """

    hair: np.ndarray
    hair_albedo: np.ndarray
    melanin_factor: np.ndarray
    haemoglobin_factor: np.ndarray
    eyebrows: np.ndarray
    scalp: np.ndarray
    beard: np.ndarray


def _smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def eyebrow_mask(points: np.ndarray, look: Appearance) -> np.ndarray:
    """(N,) weight in [0, 1] of the subject's eyebrows at points (N, 3) metres (template frame)."""
    x, y, z = points[:, 0], points[:, 1], points[:, 2]
    ax = np.abs(x)
    length = look.brow_outer - look.brow_inner
    t = np.clip((ax - look.brow_inner) / length, 0.0, 1.0)
    # arch: rises to the peak, falls toward the tail (below its start for a low tail)
    rise = np.sin(0.5 * np.pi * np.clip(t / look.brow_peak, 0.0, 1.0))
    fall = np.clip((t - look.brow_peak) / (1.0 - look.brow_peak), 0.0, 1.0)
    centre = 0.027 + look.brow_raise + look.brow_arch * (rise - 1.3 * fall**1.5)
    half = look.brow_thickness * (1.0 - 0.55 * t)
    front = _smoothstep(78.0, 58.0, np.abs(np.degrees(np.arctan2(x, z))))
    along = _smoothstep(look.brow_inner - 0.002, look.brow_inner + 0.002, ax)
    along = along * _smoothstep(look.brow_outer + 0.002, look.brow_outer - 0.004, ax)
    return front * along * _smoothstep(1.0, 0.6, np.abs(y - centre) / half)


def scalp_mask(points: np.ndarray, look: Appearance, ears: np.ndarray, *, soften: float = 0.0) -> np.ndarray:
    """(N,) weight in [0, 1] of scalp hair at points (N, 3) metres; ``ears`` (N,) region weight;
    ``soften`` metres added to the half-width of the hairline's soft edge."""
    if look.scalp == "bald":
        return np.zeros(len(points))
    x, y, z = points[:, 0], points[:, 1], points[:, 2]
    aphi = np.abs(np.degrees(np.arctan2(x, z)))  # 0 at the front, 180 at the back
    front = 0.052 if look.scalp == "fringe" else look.hairline
    temple = min(front + look.temple_recession, 0.112)
    long = look.scalp in ("long", "fringe")
    ear_top = -0.06 if long else 0.04  # long hair is combed over the ears
    side = min(look.sideburn, 0.0) - 0.02 if long else look.sideburn
    nape = look.nape - (0.02 if long else 0.0)
    knots = [0.0, 20.0, 36.0, 52.0, 66.0, 76.0, 84.0, 100.0, 118.0, 140.0, 180.0]
    line = [front, front + 0.002, temple, 0.06, side + 0.02, side, ear_top, ear_top, 0.02 + nape, nape, nape]
    edge = np.interp(aphi, knots, line) + 0.0025 * fbm(points, frequency=1 / 0.012, octaves=2, seed=look.seed + 1)
    soft = 0.003 + 0.002 * (aphi < 40)
    w = _smoothstep(edge - soft, edge + soft + 2.0 * soften, y)
    if look.scalp == "horseshoe":  # bald on top: a fringe of hair around the sides and back
        w *= _smoothstep(0.085, 0.07, y + 0.03 * np.cos(np.radians(aphi)))
    if not long:
        w *= 1.0 - ears
    return w


def beard_mask(points: np.ndarray, look: Appearance, regions: dict[str, np.ndarray]) -> np.ndarray:
    """(N,) weight in [0, 1] of facial hair at points (N, 3) metres (before its density)."""
    if look.beard == "none":
        return np.zeros(len(points))
    x, y = points[:, 0], points[:, 1]
    ax = np.abs(x)
    lips = regions["lips"]
    moustache = _smoothstep(0.03, 0.024, ax) * _smoothstep(-0.041, -0.038, y) * _smoothstep(-0.027, -0.031, y)
    moustache *= regions["front"] * (1.0 - lips)
    if look.beard == "moustache":
        return moustache
    chin = _smoothstep(1.0, 0.75, np.hypot(ax / 0.024, (y + 0.08) / 0.03)) * regions["front"] * (1.0 - lips)
    if look.beard == "goatee":
        return np.maximum(moustache, chin)
    return np.maximum(moustache, regions["beard"])  # shadow and full beard: the whole beard region


HAIR_EDGE_M = 0.012  # the hair thins over this distance toward the hairline


def hair_thickness(points: np.ndarray, look: Appearance, ears: np.ndarray) -> np.ndarray:
    """(N,) float64 metres: how far the scalp hair stands off the scalp at points (N, 3)
    metres (template frame, see the module's docstring); ``ears`` (N,) region weight.

    ``look.hair_volume`` on the crown, thinning over :data:`HAIR_EDGE_M` toward the
    hairline and toward the ears (the hair lies flatter on the sides: half the crown's
    thickness at ear height and below), zero off the hair and on the ears (long hair painted
    over the ears keeps their shape).
    """
    if look.hair_volume <= 0.0 or look.scalp == "bald":
        return np.zeros(len(points))
    p = np.asarray(points, np.float64)
    w = scalp_mask(p, look, ears, soften=HAIR_EDGE_M / 2.0) * (1.0 - ears)
    sides = 0.5 + 0.5 * _smoothstep(0.0, 0.07, p[:, 1])
    return look.hair_volume * w * sides


LOWER_LASH = 0.35  # lower lashes: this fraction of the upper lashes' density, a third of their width
LASH_DARKENING = 0.25  # eyelashes are darker than the scalp hair (added to the hair darkness)


def lash_mask(points: np.ndarray, eye_points: np.ndarray, centres: np.ndarray, look: Appearance) -> np.ndarray:
    """(N,) weight in [0, 1] of the eyelashes at skin points (N, 3) metres of the subject's
    own head, from where its eyeballs show: ``eye_points`` (M, 3) metres, eyeball surface
    points, and ``centres`` (2, 3) metres, the eyeballs' centres.

    The lashes line the lid margin, the skin next to the eye's opening: above it a band of
    ``look.lash_width`` (narrower at the inner corner, wider at the outer one), below it a
    thin sparse row (:data:`LOWER_LASH`). Zero without lashes or without eye points.
    """
    p = np.asarray(points, np.float64)
    out = np.zeros(len(p))
    if look.lash_width <= 0.0 or look.lash_density <= 0.0 or len(eye_points) == 0 or len(p) == 0:
        return out
    dist, nearest = cKDTree(np.asarray(eye_points, np.float64)).query(p, distance_upper_bound=4.0 * look.lash_width)
    near = np.isfinite(dist)
    if not near.any():
        return out
    q, d, pn = np.asarray(eye_points)[nearest[near]], dist[near], p[near]
    c = centres[np.argmin(np.linalg.norm(q[:, None, :] - centres[None], axis=-1), axis=1)]
    outward = np.clip((pn[:, 0] - c[:, 0]) * np.sign(c[:, 0]) / 0.012 * 0.5 + 0.5, 0.0, 1.0)  # inner 0 .. outer 1
    above = pn[:, 1] > q[:, 1]
    width = np.where(above, look.lash_width * (0.6 + 0.7 * outward), look.lash_width / 3.0)
    dens = look.lash_density * np.where(above, 1.0, LOWER_LASH)
    out[near] = dens * _smoothstep(1.3, 0.7, d / width)
    return out


def appearance_layers(
    points: np.ndarray,
    regions: dict[str, np.ndarray],
    look: Appearance,
    *,
    hair_darkness: float,
    brow_density: float,
    stubble: float,
    max_frequency: float | None = None,
) -> AppearanceLayers:
    """Paint one subject's hair and lips at surface points.

    Parameters
    ----------
    points : (N, 3) float64 metres, where the regions are drawn (template frame, see the
        module's docstring).
    regions : {name: (N,) weight} the named regions at the same points (``lips``,
        ``lash_line``, ``eyelids``, ``beard``, ``ears``, ``front``).
    look : the subject's appearance.
    hair_darkness, brow_density, stubble : the skin's hair settings
        (:class:`~id2reflectance.capture.simulator.skin.SkinParams`), 0..1.
    max_frequency : cells per metre the texture holds at these points (None: no limit):
        the brows' strands (0.5 mm across) and the beard's dots (0.7 mm) finer than it fade
        to their mean coverage over the brows / beard (:func:`~id2reflectance.capture.simulator.procedural.band_limited`),
        so they keep their darkness without aliasing into texel-scale speckle.

    Returns
    -------
    AppearanceLayers, deterministic for its arguments.
    """
    p = np.asarray(points, np.float64)
    strands = value_noise(p * np.array([0.12, 1.0, 1.0]), frequency=1 / 0.0005, seed=look.seed + 5)
    brow_w = eyebrow_mask(p, look)
    strands = band_limited(
        np.clip(0.8 + 0.5 * strands, 0.0, 1.0), brow_w, frequency=1 / 0.0005, max_frequency=max_frequency
    )
    brows = brow_w * brow_density * strands
    fibres = np.clip(0.97 + 0.1 * fbm(p, frequency=1 / 0.002, octaves=2, seed=look.seed + 6), 0.0, 1.0)
    scalp = scalp_mask(p, look, regions["ears"]) * SCALP_DENSITY[look.scalp] * fibres
    beard_w = beard_mask(p, look, regions)
    dots = np.clip((value_noise(p, frequency=1 / 0.0007, seed=look.seed + 7) + 0.2) / 0.6, 0.0, 1.0)
    dots = band_limited(dots, beard_w, frequency=1 / 0.0007, max_frequency=max_frequency)
    density = BEARD_DENSITY[look.beard] * (max(stubble, 0.4) if look.beard == "shadow" else 1.0)
    beard = beard_w * density * (dots if look.beard == "shadow" else 0.85 + 0.15 * dots)
    lash = 0.85 * regions["lash_line"]
    hair = np.clip(np.maximum.reduce([brows, lash, scalp, beard]), 0.0, 1.0)

    base = hair_albedo(hair_darkness)
    base = np.exp((1 - look.red) * np.log(base) + look.red * np.log(RED_HAIR_ALBEDO))
    brow_rgb = hair_albedo(np.clip(hair_darkness + look.brow_darkness, 0.0, 1.0))
    grey = look.grey * np.clip(0.9 + 0.2 * fbm(p, frequency=1 / 0.004, octaves=2, seed=look.seed + 8), 0.0, 1.0)
    head_rgb = base * (1 - grey[:, None]) + np.asarray(GREY_HAIR_ALBEDO) * grey[:, None]
    is_brow = (brows >= np.maximum(scalp, beard))[:, None]
    rgb = np.where(is_brow, brow_rgb * (1 - 0.5 * grey[:, None]) + 0.5 * grey[:, None] * head_rgb, head_rgb)

    lips = regions["lips"]
    return AppearanceLayers(
        hair=hair,
        hair_albedo=rgb,
        melanin_factor=(1.0 + (look.lip_melanin - 1.0) * lips) * (1.0 + look.periorbital * regions["eyelids"]),
        haemoglobin_factor=1.0 + (look.lip_haemoglobin - 1.0) * lips,
        eyebrows=brows,
        scalp=scalp,
        beard=beard,
    )
