"""Biophysical skin colour and per-subject reflectance maps in the template's UV space.

Spectral model (per wavelength, 380-780 nm in 5 nm steps):

- epidermis: melanin volume fraction ``m`` with melanosome absorption
  ``mu_mel = 6.6e11 * lambda_nm^-3.33`` 1/cm (Jacques), the rest baseline tissue
  ``mu_base = 0.244 + 85.3 exp(-(lambda - 154) / 66.2)`` 1/cm, thickness 60 um;
  transmittance ``T = exp(-mu_epi * d)``, crossed twice (``T^2``);
- dermis: blood volume fraction ``h`` of whole blood (150 g/L oxy-haemoglobin, its
  Soret band near 415 nm, Q-bands near 542/577 nm and little absorption in the red,
  modelled as Gaussian bands on a decaying background) in baseline tissue, reduced
  scattering ``mu_s' = 46 (lambda / 500)^-1.421`` 1/cm; diffuse reflectance of a
  semi-infinite layer by Kubelka-Munk with ``K = 2 mu_a``, ``S = 0.75 mu_s'``:
  ``R = 1 + K/S - sqrt((K/S)^2 + 2 K/S)``;
- total: ``R = r_epi + T^2 R_dermis`` with a small epidermal back-scatter
  ``r_epi = 0.03 exp(-0.15 mu_epi d)`` (light that turns back before the basal layer).

Spectra become colour with the CIE 1931 2-degree observer under D65 (a perfect white
reflector gives Y = 1) and the sRGB/Rec.709 matrix: linear Rec.709, D65 white.
A (melanin x haemoglobin) table is computed once and interpolated per texel.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Literal

import numpy as np

from id2reflectance._shared import cielab
from id2reflectance.capture.eye_appearance import (  # noqa: F401  (the eye constants, re-exported)
    EYE_ROUGHNESS,
    EYE_SPECULAR,
    IRIS_DARK,
    IRIS_HALF_ANGLE_DEG,
    IRIS_LIGHT,
    PUPIL_ALBEDO,
    PUPIL_HALF_ANGLE_DEG,
    SCLERA_ALBEDO,
    eye_albedo,
)
from id2reflectance.capture.geometry.face_model_heads import Eyes
from id2reflectance.capture.geometry.mesh import FaceMesh
from id2reflectance.capture.geometry.regions import UVRaster, region_masks, uv_raster
from id2reflectance.capture.geometry.template_mesh import is_template_topology
from id2reflectance.capture.simulator.appearance import (
    LASH_DARKENING,
    Appearance,
    appearance_layers,
    hair_albedo,
    lash_mask,
)
from id2reflectance.capture.simulator.photo_albedo import PhotoLayer
from id2reflectance.capture.simulator.procedural import band_limited, fbm, value_noise
from id2reflectance.errors import ConfigError, ShapeError

WAVELENGTHS_NM = np.arange(380.0, 781.0, 5.0)
EPIDERMIS_CM = 0.006
MELANIN_RANGE = (0.002, 0.8)  # table range, volume fraction
HAEMOGLOBIN_RANGE = (0.001, 0.2)  # table range, volume fraction
ITA_SAMPLE_RANGE_DEG = (-50.0, 62.0)  # subjects' base skin tone is drawn uniformly in ITA


# ------------------------------------------------------------------ spectra


def melanin_absorption(wl_nm: np.ndarray) -> np.ndarray:
    """Melanosome absorption coefficient (1/cm): 6.6e11 * lambda^-3.33 (Jacques)."""
    return 6.6e11 * np.asarray(wl_nm, np.float64) ** -3.33


def baseline_absorption(wl_nm: np.ndarray) -> np.ndarray:
    """Bloodless tissue absorption coefficient (1/cm) (Jacques)."""
    return 0.244 + 85.3 * np.exp(-(np.asarray(wl_nm, np.float64) - 154.0) / 66.2)


def oxyhaemoglobin_extinction(wl_nm: np.ndarray) -> np.ndarray:
    """Molar extinction of HbO2 (1/(cm M)), a band-shape approximation.

    Soret band at 415 nm (5.2e5), Q-bands at 542 and 577 nm (~5.3e4, ~5.6e4), decaying
    background, low in the red (a few hundred beyond 620 nm); within ~20% of tabulated
    values at the band peaks and valleys.
    """
    l = np.asarray(wl_nm, np.float64)
    soret = 5.0e5 * np.exp(-0.5 * ((l - 415.0) / np.where(l < 415.0, 12.9, 11.8)) ** 2)
    q1 = 4.6e4 * np.exp(-0.5 * ((l - 542.0) / 12.0) ** 2)
    q2 = 5.24e4 * np.exp(-0.5 * ((l - 577.0) / np.where(l < 577.0, 10.0, 7.0)) ** 2)
    background = np.minimum(2.1e4 * np.exp(-(l - 500.0) / 38.0), 2.1e4 * np.exp(-(l - 500.0) / 55.0)) + 300.0
    return soret + q1 + q2 + background


def blood_absorption(wl_nm: np.ndarray) -> np.ndarray:
    """Whole-blood absorption coefficient (1/cm): ln(10) * eps * 150 g/L / 64500 g/mol."""
    return np.log(10.0) * oxyhaemoglobin_extinction(wl_nm) * (150.0 / 64500.0)


def skin_reflectance(melanin: np.ndarray, haemoglobin: np.ndarray, wl_nm: np.ndarray = WAVELENGTHS_NM) -> np.ndarray:
    """Diffuse spectral reflectance of skin.

    Parameters
    ----------
    melanin, haemoglobin : (...) volume fractions (epidermal melanin, dermal blood).
    wl_nm : (L,) wavelengths, nm.

    Returns
    -------
    (..., L) float64 reflectance in (0, 1).
    """
    m = np.asarray(melanin, np.float64)[..., None]
    h = np.asarray(haemoglobin, np.float64)[..., None]
    base = baseline_absorption(wl_nm)
    mu_epi = m * melanin_absorption(wl_nm) + (1.0 - m) * base
    od = mu_epi * EPIDERMIS_CM
    mu_derm = h * blood_absorption(wl_nm) + (1.0 - h) * base
    s = 0.75 * 46.0 * (np.asarray(wl_nm) / 500.0) ** -1.421
    a = 2.0 * mu_derm / s
    r_derm = 1.0 + a - np.sqrt(a * a + 2.0 * a)
    return 0.03 * np.exp(-0.15 * od) + np.exp(-2.0 * od) * r_derm


@lru_cache(maxsize=1)
def _colour_tables() -> tuple[np.ndarray, np.ndarray]:
    """(L, 3) CMFs times D65 normalised so a white reflector has Y = 1; XYZ -> RGB matrix."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import colour

    cmfs = colour.MSDS_CMFS["CIE 1931 2 Degree Standard Observer"]
    d65 = colour.SDS_ILLUMINANTS["D65"]
    cwl, cval = np.asarray(cmfs.wavelengths, np.float64), np.asarray(cmfs.values, np.float64)
    cm = np.stack([np.interp(WAVELENGTHS_NM, cwl, cval[:, k]) for k in range(3)], axis=1)
    s = np.interp(WAVELENGTHS_NM, np.asarray(d65.wavelengths, np.float64), np.asarray(d65.values, np.float64))
    weights = cm * s[:, None]
    weights /= weights[:, 1].sum()
    m = np.asarray(colour.RGB_COLOURSPACES["sRGB"].matrix_XYZ_to_RGB, np.float64)
    return weights, m


def spectrum_to_rgb(reflectance: np.ndarray) -> np.ndarray:
    """(..., L) reflectance on ``WAVELENGTHS_NM`` -> (..., 3) linear Rec.709 (D65) RGB."""
    weights, m = _colour_tables()
    xyz = np.asarray(reflectance, np.float64) @ weights
    return xyz @ m.T


@lru_cache(maxsize=1)
def _albedo_table() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    lm = np.linspace(np.log(MELANIN_RANGE[0]), np.log(MELANIN_RANGE[1]), 72)
    lh = np.linspace(np.log(HAEMOGLOBIN_RANGE[0]), np.log(HAEMOGLOBIN_RANGE[1]), 48)
    mm, hh = np.meshgrid(np.exp(lm), np.exp(lh), indexing="ij")
    rgb = spectrum_to_rgb(skin_reflectance(mm, hh))
    return lm, lh, rgb


def skin_albedo(melanin: np.ndarray, haemoglobin: np.ndarray) -> np.ndarray:
    """Diffuse albedo of skin from the precomputed table (bilinear in log fractions).

    Parameters
    ----------
    melanin, haemoglobin : (...) volume fractions, clipped to ``MELANIN_RANGE`` and
        ``HAEMOGLOBIN_RANGE``.

    Returns
    -------
    (..., 3) float64 linear Rec.709 albedo, clipped to [0.002, 0.98].
    """
    lm, lh, table = _albedo_table()
    a = np.clip(np.log(np.clip(melanin, *MELANIN_RANGE)), lm[0], lm[-1])
    b = np.clip(np.log(np.clip(haemoglobin, *HAEMOGLOBIN_RANGE)), lh[0], lh[-1])
    fa = (a - lm[0]) / (lm[1] - lm[0])
    fb = (b - lh[0]) / (lh[1] - lh[0])
    i = np.minimum(fa.astype(np.int64), len(lm) - 2)
    j = np.minimum(fb.astype(np.int64), len(lh) - 2)
    ta, tb = (fa - i)[..., None], (fb - j)[..., None]
    rgb = (
        table[i, j] * (1 - ta) * (1 - tb)
        + table[i + 1, j] * ta * (1 - tb)
        + table[i, j + 1] * (1 - ta) * tb
        + table[i + 1, j + 1] * ta * tb
    )
    return np.clip(rgb, 0.002, 0.98)


# ------------------------------------------------------------------ ITA and Fitzpatrick


def ita_deg(rgb_linear: np.ndarray) -> np.ndarray:
    """Individual typology angle of linear Rec.709 colours.

    ``ITA = atan2(L* - 50, b*)`` in degrees with CIELAB under D65 (equal to the usual
    ``atan((L* - 50) / b*)`` for b* > 0, which holds for skin); the one definition of
    :func:`id2reflectance._shared.cielab.ita_deg` (no colour-science import).

    Parameters
    ----------
    rgb_linear : (..., 3) linear Rec.709 (D65), reflectance-scaled (white = 1).

    Returns
    -------
    (...) float64 degrees.
    """
    rgb = np.asarray(rgb_linear, np.float64)
    if rgb.shape[-1] != 3:
        raise ShapeError(f"ita_deg: expected (..., 3) RGB, got {rgb.shape}")
    return cielab.ita_deg(rgb)


def melanin_for_ita(ita: float, haemoglobin: float) -> float:
    """Melanin fraction whose skin (at ``haemoglobin``) has the given ITA (degrees)."""
    grid = np.exp(np.linspace(np.log(MELANIN_RANGE[0]), np.log(MELANIN_RANGE[1]), 400))
    itas = ita_deg(skin_albedo(grid, np.full_like(grid, haemoglobin)))  # decreasing in melanin
    return float(np.exp(np.interp(-ita, -itas, np.log(grid))))


# ------------------------------------------------------------------ subjects


@dataclass(frozen=True)
class SkinParams:
    """Skin of one subject (base values; the maps add regional and random variation)."""

    melanin: float = 0.05  # epidermal melanin volume fraction
    haemoglobin: float = 0.008  # dermal blood volume fraction
    sex: Literal["female", "male"] = "female"
    age: float = 35.0  # years, drives wrinkle depth and roughness
    freckles: float = 0.0  # 0..1 density of freckles
    blotchiness: float = 0.5  # 0..1 low-frequency colour variation
    oiliness: float = 1.0  # specular albedo factor
    roughness_offset: float = 0.0  # added to the GGX perceptual roughness
    stubble: float = 0.0  # 0..1 beard stubble density
    brow_density: float = 0.8  # 0..1
    hair_darkness: float = 0.7  # 0 blond .. 1 black (eyebrows, lashes, stubble)
    noise_seed: int = 0  # seed of the procedural detail

    def __post_init__(self) -> None:
        checks = {
            "melanin": MELANIN_RANGE,
            "haemoglobin": HAEMOGLOBIN_RANGE,
            "age": (0.0, 120.0),
            "freckles": (0.0, 1.0),
            "blotchiness": (0.0, 1.0),
            "oiliness": (0.2, 3.0),
            "roughness_offset": (-0.2, 0.2),
            "stubble": (0.0, 1.0),
            "brow_density": (0.0, 1.0),
            "hair_darkness": (0.0, 1.0),
        }
        for name, (lo, hi) in checks.items():
            value = getattr(self, name)
            if not (lo <= value <= hi):
                raise ConfigError(f"SkinParams.{name} must be in [{lo}, {hi}], got {value!r}")
        if self.sex not in ("female", "male"):
            raise ConfigError(f"SkinParams.sex must be 'female' or 'male', got {self.sex!r}")

    @classmethod
    def random(cls, rng: np.random.Generator, *, sex: Literal["female", "male"] | None = None) -> SkinParams:
        """A random subject: base ITA uniform in ``ITA_SAMPLE_RANGE_DEG``, the rest plausible."""
        sex = sex or ("female" if rng.random() < 0.5 else "male")
        ita = float(rng.uniform(*ITA_SAMPLE_RANGE_DEG))
        hb = float(np.exp(rng.normal(np.log(0.008), 0.3)))
        freckle_p = float(np.clip((ita - 20.0) / 40.0, 0.0, 1.0))
        return cls(
            melanin=melanin_for_ita(ita, hb),
            haemoglobin=hb,
            sex=sex,
            age=float(rng.uniform(18.0, 72.0)),
            freckles=float(rng.random() ** 2 * freckle_p),
            blotchiness=float(rng.uniform(0.2, 1.0)),
            oiliness=float(np.clip(rng.normal(1.0, 0.15), 0.6, 1.5)),
            roughness_offset=float(np.clip(rng.normal(0.0, 0.03), -0.08, 0.08)),
            stubble=float(rng.uniform(0.2, 1.0)) if sex == "male" and rng.random() < 0.6 else 0.0,
            brow_density=float(rng.uniform(0.55, 1.0)),
            hair_darkness=float(np.clip(0.45 + (40.0 - ita) / 90.0 + rng.normal(0.0, 0.2), 0.0, 1.0)),
            noise_seed=int(rng.integers(0, 2**31 - 1)),
        )

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True, eq=False)
class SubjectMaps:
    """Reflectance of one subject in the template's UV space (size S, OBJ UV convention).

    diffuse_albedo : (S, S, 3) float32, linear Rec.709, in (0, 1).
    specular_albedo : (S, S) float32, response to the uniform full sphere at normal
        incidence (``k * A(1, r)``), typically 0.02-0.08.
    roughness : (S, S) float32, GGX perceptual roughness r (alpha = r^2).
    normal_object : (S, S, 3) float32 unit normals in the mesh's frame (mesh normal
        perturbed by pores and fine wrinkles).
    covered : (S, S) bool, texels inside the UV chart (others are padding).
    eye : (S, S) float32 in [0, 1], 1 on the eyeballs (not skin), or None for a head
        without eyeballs (the procedural head's lids are closed).
    hair : (S, S) float32 in [0, 1], hair covering the skin (eyebrows, lash line, scalp,
        beard), or None for a head drawn without an
        :class:`~id2reflectance.capture.simulator.appearance.Appearance`.
    """

    diffuse_albedo: np.ndarray
    specular_albedo: np.ndarray
    roughness: np.ndarray
    normal_object: np.ndarray
    covered: np.ndarray
    eye: np.ndarray | None = None
    hair: np.ndarray | None = None

    @property
    def size(self) -> int:
        return int(self.roughness.shape[0])


MOLE_MELANIN = 5.0  # melanin factor at a mole's centre, minus one
MOLES_MEAN = 3.0  # Poisson mean of the number of moles on the face and neck
MOLE_RADIUS_M = (0.0006, 0.0016)  # range of the moles' Gaussian radius, metres


def _moles(p: np.ndarray, where: np.ndarray, seed: int) -> np.ndarray:
    """(N,) weight in [0, 1] of a few moles at points p (N, 3) metres: Gaussian spots
    centred on points drawn (own random stream of ``seed``) where ``where`` (N,) > 0.5."""
    rng = np.random.default_rng([int(seed), 17])
    count = int(rng.poisson(MOLES_MEAN))
    cand = np.flatnonzero(where > 0.5)
    out = np.zeros(len(p))
    if count == 0 or cand.size == 0:
        return out
    # drawn as fractions of the candidate list: roughly the same places at any map size
    centres = p[cand[np.minimum((rng.random(count) * cand.size).astype(np.int64), cand.size - 1)]]
    radii = rng.uniform(*MOLE_RADIUS_M, count)
    for c, r in zip(centres, radii, strict=True):
        d2 = np.sum((p - c) ** 2, axis=1)
        near = d2 < (4 * r) ** 2
        out[near] = np.maximum(out[near], np.exp(-d2[near] / (2 * r * r)))
    return out


def _height_field(
    p: np.ndarray, g: dict[str, np.ndarray], skin: SkinParams, max_freq: float, detail: float
) -> np.ndarray:
    """Fine surface relief (metres) at template points p (N, 3); region weights flat (N,)."""
    seed = skin.noise_seed
    x, y = p[:, 0], p[:, 1]
    ax = np.abs(x)
    age = np.clip((skin.age - 18.0) / 50.0, 0.0, 1.0)
    pore_w = 0.45 + 0.9 * g["nose"] + 0.7 * g["cheeks"] + 0.3 * g["forehead"] - 0.4 * g["lips"]
    pores = fbm(p, frequency=1 / 0.0011, octaves=2, seed=seed + 11, max_frequency=max_freq)
    texture = fbm(p, frequency=1 / 0.003, octaves=3, seed=seed + 12, max_frequency=max_freq)
    h = 70e-6 * pore_w * pores + 160e-6 * texture
    warp = 0.0015 * fbm(p, frequency=1 / 0.02, octaves=2, seed=seed + 13)
    h += (25e-6 + 70e-6 * age) * g["forehead"] * np.sin(2 * np.pi * (y + warp) / 0.008)
    angle = np.arctan2(y - 0.008, ax - 0.047)
    h += (15e-6 + 50e-6 * age) * g["crows_feet"] * np.sin(16.0 * angle + 400.0 * warp)
    h += 15e-6 * g["lips"] * np.sin(2 * np.pi * (x + warp) / 0.002)
    return detail * h


def _eye_reflectance(p: np.ndarray, eyes: Eyes, iris_darkness: float) -> np.ndarray:
    """(N, 3) diffuse albedo of eyeball points p (N, 3) metres: sclera, iris, pupil
    (:func:`~id2reflectance.capture.eye_appearance.eye_albedo`; ``iris_darkness`` 0:
    blue-grey, 1: dark brown)."""
    return eye_albedo(p, eyes.centres, eyes.axes, iris_darkness)


def _with_lashes(
    hair_w: np.ndarray,
    hair_rgb: np.ndarray,
    eye: np.ndarray,
    pos: np.ndarray,
    covered: np.ndarray,
    eyes: Eyes,
    look: Appearance,
    skin: SkinParams,
) -> tuple[np.ndarray, np.ndarray]:
    """Hair coverage (N,) and hair albedo (N, 3) with the eyelashes
    (:func:`~id2reflectance.capture.simulator.appearance.lash_mask`) added on the skin
    texels next to the eyeballs; ``eye`` (N,) eyeball weight, ``pos`` (N, 3) metres the
    texels on this head, ``covered`` (N,) bool."""
    skin_at = np.flatnonzero(covered & (eye < 0.5))
    eye_at = covered & (eye >= 0.5)
    lash = np.zeros_like(hair_w)
    lash[skin_at] = lash_mask(pos[skin_at], pos[eye_at], eyes.centres, look)
    rgb = np.broadcast_to(hair_rgb, (len(hair_w), 3))
    lash_rgb = hair_albedo(min(skin.hair_darkness + LASH_DARKENING, 1.0))
    rgb = np.where((lash > hair_w)[:, None], lash_rgb[None, :], rgb)
    return np.maximum(hair_w, lash), rgb


def subject_maps(
    mesh: FaceMesh,
    skin: SkinParams,
    *,
    size: int,
    detail: float = 1.0,
    eyes: Eyes | None = None,
    regions: dict[str, np.ndarray] | None = None,
    appearance: Appearance | None = None,
    points: np.ndarray | None = None,
    raster: UVRaster | None = None,
    photo: PhotoLayer | None = None,
) -> SubjectMaps:
    """Per-subject UV maps for a head in template topology, or in any UV layout (``raster``).

    Parameters
    ----------
    mesh : the subject's head (:func:`~id2reflectance.capture.geometry.template_mesh.head_mesh`),
        metres; its vertex normals are the base of ``normal_object``.
    skin : the subject's skin.
    size : texture size S (texels per side).
    detail : scale of the pore and wrinkle relief (1 = default, 0 = smooth).
    eyes : the head's eyeballs (face-model heads), shaded as sclera, iris and pupil with
        their own albedo, a wet specular and no skin relief; None: all skin.
    regions : {name: (S, S) weight} the named regions on this head's anatomy (face-model
        heads: :func:`~id2reflectance.capture.geometry.face_model_heads.face_model_regions`);
        None: the template's :func:`~id2reflectance.capture.geometry.regions.region_masks`.
    appearance : the subject's eyebrows, hair, beard, lips and irises, painted at
        ``points`` (:func:`~id2reflectance.capture.simulator.appearance.appearance_layers`);
        None: the template's eyebrow region, the skin's stubble (the procedural head).
    points : (S, S, 3) metres, where ``regions`` were drawn (face-model heads:
        :func:`~id2reflectance.capture.geometry.face_model_heads.face_model_region_points`);
        None: the template's surface points.
    raster : the UV chart of ``mesh`` (any topology, :func:`~id2reflectance.capture.geometry.regions.mesh_uv_raster`,
        size S): the maps are painted for its texels, every pattern (noise, regions,
        appearance) evaluated at ``points`` (required, with ``regions``), and the detail
        normals do not wrap around u (:mod:`~id2reflectance.capture.simulator.truth_layout`);
        None: the procedural template's chart.
    photo : a real photo on this head's texels (:mod:`~id2reflectance.capture.simulator.photo_albedo`):
        blended into the albedo relative to the subject's own skin colour, its hair (brows,
        lashes, hairline) into the hair coverage that lowers the specular and roughens.

    Returns
    -------
    SubjectMaps, deterministic for (mesh, skin, size[, eyes]).
    """
    if raster is None and not is_template_topology(mesh):
        raise ShapeError("subject_maps: the mesh must be in template topology (head_mesh output)")
    if raster is not None and (points is None or regions is None or raster.size != size):
        raise ConfigError("subject_maps: a raster needs the points and regions of its texels, at its size")
    r = uv_raster(size) if raster is None else raster
    g = {k: v.reshape(-1).astype(np.float64) for k, v in (regions or region_masks(size)).items()}
    p = r.position.reshape(-1, 3) if raster is None else np.asarray(points, np.float64).reshape(-1, 3)
    seed = skin.noise_seed
    max_freq = 1.0 / (2.5 * r.texel_size)

    blot = fbm(p, frequency=1 / 0.025, octaves=4, seed=seed + 1)
    blot_h = fbm(p, frequency=1 / 0.018, octaves=4, seed=seed + 2)
    fine = fbm(p, frequency=1 / 0.004, octaves=3, seed=seed + 3, max_frequency=max_freq)
    spots = value_noise(p, frequency=1 / 0.0028, seed=seed + 4)
    freckle = skin.freckles * np.clip((spots - 0.35) / 0.3, 0.0, 1.0) * g["face"] * (0.4 + g["cheeks"] + g["nose"])
    look = None
    if appearance is not None:
        at = p if points is None else np.asarray(points, np.float64).reshape(-1, 3)
        look = appearance_layers(
            at,
            g,
            appearance,
            hair_darkness=skin.hair_darkness,
            brow_density=skin.brow_density,
            stubble=skin.stubble,
            max_frequency=max_freq,
        )
    mel = skin.melanin * np.exp(0.2 * skin.blotchiness * blot + 0.04 * fine)
    mel *= (1.0 - 0.5 * g["lips"]) * (1.0 + 0.3 * g["eyelids"]) * (1.0 + 1.5 * freckle)
    mel *= 1.0 + MOLE_MELANIN * _moles(p, g["face"] + g["neck"], skin.noise_seed)
    hb = skin.haemoglobin * np.exp(0.35 * skin.blotchiness * blot_h + 0.06 * fine)
    hb *= 1.0 + 0.8 * g["cheeks"] + 0.4 * g["nose"] + 4.0 * g["lips"] + 0.6 * g["ears"]
    if look is not None:
        mel *= look.melanin_factor
        hb *= look.haemoglobin_factor
    albedo = skin_albedo(mel, hb)

    if look is None:
        # brow strands (0.5 mm across) and stubble (0.7 mm dots) finer than the texture
        # holds fade to their mean coverage, as fbm's octaves do: point-sampled they alias
        # into texel-scale speckle that no camera of the rig resolves (issue 22)
        strands = value_noise(p * np.array([0.12, 1.0, 1.0]), frequency=1 / 0.0005, seed=seed + 5)
        strands = np.clip(0.55 + 0.6 * strands, 0.0, 1.0)
        strands = band_limited(strands, g["eyebrows"], frequency=1 / 0.0005, max_frequency=max_freq)
        brows = g["eyebrows"] * skin.brow_density * strands
        dots = np.clip((value_noise(p, frequency=1 / 0.0007, seed=seed + 6) + 0.2) / 0.6, 0.0, 1.0)
        dots = band_limited(dots, g["beard"], frequency=1 / 0.0007, max_frequency=max_freq)
        stubble = g["beard"] * skin.stubble * 0.45 * dots
        hair_w = np.maximum.reduce([brows, 0.85 * g["lash_line"], stubble])
        hair_rgb = hair_albedo(skin.hair_darkness)[None, :]
    else:
        hair_w, hair_rgb = look.hair, look.hair_albedo
    eye = pos = None
    if eyes is not None:
        eye = r.interpolate(eyes.weight[:, None], mesh.faces)[..., 0].reshape(-1)
        pos = r.interpolate(mesh.vertices, mesh.faces).reshape(-1, 3)
        if appearance is not None:  # eyelashes on the lid margin of this head's own eyes
            hair_w, hair_rgb = _with_lashes(hair_w, hair_rgb, eye, pos, r.covered.reshape(-1), eyes, appearance, skin)
    skin_rgb = np.median(albedo[(g["face"] * r.covered.reshape(-1)) > 0.5], axis=0)
    albedo = albedo * (1.0 - hair_w[:, None]) + hair_rgb * hair_w[:, None]
    if photo is not None:
        albedo, hair_w = photo.blend(albedo, hair_w, skin_rgb)

    var = fbm(p, frequency=1 / 0.01, octaves=3, seed=seed + 7, max_frequency=max_freq)
    # hair: diffuse-dark, low specular and rough (an appearance's hair a little more so)
    drop, rougher = (0.6, 0.2) if look is None else (0.8, 0.25)
    spec = 0.042 * skin.oiliness * (1.0 + 0.35 * g["tzone"] - 0.15 * g["cheeks"] + 0.5 * g["lips"] - drop * hair_w)
    spec = np.clip(spec * np.exp(0.12 * var), 0.012, 0.095)
    rough = 0.46 + skin.roughness_offset + 0.0008 * (skin.age - 40.0)
    rough = rough - 0.1 * g["tzone"] + 0.05 * g["cheeks"] - 0.14 * g["lips"] + rougher * hair_w + 0.035 * var
    rough = np.clip(rough, 0.22, 0.75)

    s = size
    h = _height_field(p, g, skin, max_freq, detail)
    if eye is not None and pos is not None:
        on = np.flatnonzero(eye > 0)
        e = eye[on, None]
        iris = skin.hair_darkness + (0.0 if appearance is None else appearance.iris_shift)
        albedo[on] = albedo[on] * (1 - e) + _eye_reflectance(pos[on], eyes, iris) * e
        spec[on] = spec[on] * (1 - e[:, 0]) + EYE_SPECULAR * e[:, 0]
        rough[on] = rough[on] * (1 - e[:, 0]) + EYE_ROUGHNESS * e[:, 0]
        h[on] *= 1 - e[:, 0]
        eye = eye.reshape(s, s).astype(np.float32)
    normals = _detail_normals(mesh, r, h.reshape(s, s), wrap_u=raster is None)
    return SubjectMaps(
        diffuse_albedo=albedo.reshape(s, s, 3).astype(np.float32),
        specular_albedo=spec.reshape(s, s).astype(np.float32),
        roughness=rough.reshape(s, s).astype(np.float32),
        normal_object=normals.astype(np.float32),
        covered=r.covered.copy(),
        eye=eye,
        hair=None if look is None and photo is None else hair_w.reshape(s, s).astype(np.float32),
    )


def _detail_normals(mesh: FaceMesh, r: UVRaster, h: np.ndarray, *, wrap_u: bool = True) -> np.ndarray:
    """Mesh normals perturbed by the height field h (S, S) metres, via the surface gradient
    (``wrap_u``: differences along u wrap around, the procedural chart's seam at the back)."""
    n = r.interpolate(mesh.vertex_normals(), mesh.faces)
    n /= np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-12)
    pos = r.interpolate(mesh.vertices, mesh.faces)
    if wrap_u:
        pj = 0.5 * (np.roll(pos, -1, axis=1) - np.roll(pos, 1, axis=1))  # along u (wraps at the seam)
        hj = 0.5 * (np.roll(h, -1, axis=1) - np.roll(h, 1, axis=1))
    else:
        pj, hj = np.gradient(pos, axis=1), np.gradient(h, axis=1)
    pi = np.gradient(pos, axis=0)
    hi = np.gradient(h, axis=0)
    a11 = np.sum(pj * pj, -1)
    a12 = np.sum(pj * pi, -1)
    a22 = np.sum(pi * pi, -1)
    det = a11 * a22 - a12 * a12
    ok = det > 1e-12 * np.maximum(a11 * a22, 1e-30)
    det = np.where(ok, det, 1.0)
    ca = np.where(ok, (a22 * hj - a12 * hi) / det, 0.0)
    cb = np.where(ok, (a11 * hi - a12 * hj) / det, 0.0)
    grad = ca[..., None] * pj + cb[..., None] * pi
    grad -= np.sum(grad * n, -1, keepdims=True) * n
    out = n - grad
    return out / np.maximum(np.linalg.norm(out, axis=-1, keepdims=True), 1e-12)


def face_ita_deg(maps: SubjectMaps, regions: dict[str, np.ndarray] | None = None) -> float:
    """ITA (degrees) of the mean diffuse albedo over facial skin (lips, hair and eyes
    excluded, and the subject's own hair where the maps carry it); ``regions`` as for :func:`subject_maps`."""
    g = regions or region_masks(maps.size)
    w = g["face"] * (1.0 - g["lips"]) * (1.0 - g["eyebrows"]) * (1.0 - g["lash_line"]) * (1.0 - g["beard"])
    w = w * maps.covered
    if maps.eye is not None:
        w = w * (1.0 - maps.eye)
    if maps.hair is not None:
        w = w * (1.0 - maps.hair)
    mean = np.tensordot(w, maps.diffuse_albedo.astype(np.float64), axes=([0, 1], [0, 1])) / max(float(w.sum()), 1e-12)
    return float(ita_deg(mean))
