"""Train/val/test split of a dataset's subjects: stratified by skin type, or by hash alone.

The skin-tone fairness metrics (FAIR: average ITA error over the six skin types, bias as
their spread) are only defined over the skin types the test split holds, so the default
split is stratified: the subjects of each Fitzpatrick type (from the ``fitzpatrick`` or
``ita_deg`` attribute; the same six ITA bins as the FAIR groups) are ordered by a hash of
(seed, id) and each type is divided by the fractions, every type with two or more subjects
giving at least one to test. ``hash`` puts each subject by its own hash alone, so adding
subjects never moves existing ones, but a small test split may miss whole skin types.
With either, subjects drawn from the same real person (the simulator's photo subjects: the
same ``photo_credit``: a London donor is lent again once its sex's donors are used up)
share one split, that of the member with the smallest id, so a held-out
subject's face never appears in training.

:func:`resplit_dataset` rewrites the split of a built dataset without reprocessing it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from id2reflectance._shared.atomic import atomic_write_json
from id2reflectance._shared.cielab import fitzpatrick_from_ita
from id2reflectance.dataset.manifest import MANIFEST, SPLITS, read_manifest
from id2reflectance.errors import ConfigError, InputFileError

STRATEGIES = ("skin_type", "hash")
SKIN_TYPES = (1, 2, 3, 4, 5, 6)
SOURCE_PERSON = "photo_credit"  # the attribute naming the real person a subject was drawn from


@dataclass(frozen=True)
class SplitConfig:
    """How subjects are split (recorded in the manifest's provenance as ``split``).

    fractions: (train, val, test), each >= 0, summing to 1.
    stratify: ``"skin_type"`` (default) or ``"hash"`` (see the module docstring).
    """

    seed: int = 0
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    stratify: Literal["skin_type", "hash"] = "skin_type"

    def __post_init__(self) -> None:
        f = tuple(float(x) for x in self.fractions)
        if len(f) != 3 or not all(np.isfinite(f)) or min(f) < 0 or abs(sum(f) - 1.0) > 1e-6:
            raise ConfigError(f"split fractions must be three numbers >= 0 summing to 1, got {self.fractions}")
        if self.stratify not in STRATEGIES:
            raise ConfigError(f"split stratify must be one of {list(STRATEGIES)}, got {self.stratify!r}")
        object.__setattr__(self, "fractions", f)


def subject_hash(subject_id: str, seed: int) -> float:
    """A uniform number in [0, 1) from SHA-256 of ``"{seed}:{subject_id}"``."""
    h = hashlib.sha256(f"{seed}:{subject_id}".encode()).digest()
    return int.from_bytes(h[:8], "big") / 2**64


def assign_split(subject_id: str, *, seed: int, fractions: tuple[float, float, float]) -> str:
    """Split of one subject by its hash alone (the ``hash`` strategy).

    The same subject always lands in the same split for a given seed, independent of the
    other subjects present (so adding subjects never moves existing ones).
    """
    x = subject_hash(subject_id, seed)
    if x < fractions[0]:
        return "train"
    if x < fractions[0] + fractions[1]:
        return "val"
    return "test"


def skin_type(attributes: Mapping[str, Any]) -> int | None:
    """Fitzpatrick type 1-6 of a subject from its ``fitzpatrick`` attribute, else from its
    ``ita_deg`` attribute (degrees, FAIR bins); None when it has neither."""
    fz = attributes.get("fitzpatrick")
    if isinstance(fz, int) and not isinstance(fz, bool) and fz in SKIN_TYPES:
        return fz
    ita = attributes.get("ita_deg")
    if isinstance(ita, (int, float)) and not isinstance(ita, bool) and np.isfinite(ita):
        return int(fitzpatrick_from_ita(float(ita)))
    return None


def _divide(n: int, fractions: tuple[float, float, float]) -> tuple[int, int]:
    """(val, test) counts of a stratum of ``n`` subjects; the rest go to train."""
    n_test = int(np.floor(n * fractions[2] + 0.5))
    n_val = int(np.floor(n * fractions[1] + 0.5))
    if fractions[2] > 0 and n >= 2:
        n_test = max(n_test, 1)
    while n - n_val - n_test < 1 and fractions[0] > 0 and n_val + n_test > 0:
        if n_val > 0:
            n_val -= 1
        else:
            n_test -= 1
    return n_val, min(n_test, n - n_val)


def split_subjects(attributes: Mapping[str, Mapping[str, Any]], config: SplitConfig) -> dict[str, str]:
    """Split of every subject.

    Parameters
    ----------
    attributes : subject id -> its attributes (``fitzpatrick`` and/or ``ita_deg`` are used).
    config : the strategy, seed and fractions.

    Returns
    -------
    subject id -> ``"train"``, ``"val"`` or ``"test"``. Deterministic in (ids, attributes,
    config). With ``skin_type``, subjects without a skin type form their own stratum. Subjects
    with the same ``photo_credit`` (one real person) get the split of the smallest id among them.
    """
    if config.stratify == "hash":
        out = {sid: assign_split(sid, seed=config.seed, fractions=config.fractions) for sid in attributes}
    else:
        out = _stratified(attributes, config)
    return _same_person_same_split(attributes, out)


def _same_person_same_split(attributes: Mapping[str, Mapping[str, Any]], splits: dict[str, str]) -> dict[str, str]:
    """``splits`` with every subject of one :data:`SOURCE_PERSON` moved to the split of the
    smallest subject id drawn from that person."""
    first: dict[str, str] = {}
    for sid in sorted(attributes):
        person = attributes[sid].get(SOURCE_PERSON)
        if isinstance(person, str) and person:
            splits[sid] = splits[first.setdefault(person, sid)]
    return splits


def _stratified(attributes: Mapping[str, Mapping[str, Any]], config: SplitConfig) -> dict[str, str]:
    """The ``skin_type`` strategy (module docstring), before the same-person grouping."""
    strata: dict[int | None, list[str]] = {}
    for sid, attrs in attributes.items():
        strata.setdefault(skin_type(attrs), []).append(sid)
    out: dict[str, str] = {}
    for members in strata.values():
        members.sort(key=lambda sid: (subject_hash(sid, config.seed), sid))
        n_val, n_test = _divide(len(members), config.fractions)
        for i, sid in enumerate(members):
            out[sid] = "test" if i < n_test else "val" if i < n_test + n_val else "train"
    return out


def split_table(manifest: Mapping[str, Any]) -> dict[str, dict[str, int]]:
    """Subjects per split and skin type of a read manifest: split -> {"1".."6", "unknown"} ->
    count (zero counts included for types 1-6)."""
    table = {s: {**{str(t): 0 for t in SKIN_TYPES}, "unknown": 0} for s in SPLITS}
    for s in manifest["subjects"]:
        t = skin_type(s.get("attributes", {}))
        table[s["split"]]["unknown" if t is None else str(t)] += 1
    return table


def split_columns(table: Mapping[str, Mapping[str, int]]) -> list[tuple[str, str]]:
    """(key, heading) of the columns worth showing of a :func:`split_table`: types 1-6, and
    ``unknown`` only when some subject has no skin type."""
    cols = [(str(t), f"type {t}") for t in SKIN_TYPES]
    return cols + ([("unknown", "unknown")] if any(table[s]["unknown"] for s in SPLITS) else [])


def resplit_dataset(root: str | Path, config: SplitConfig) -> dict[str, str]:
    """Re-split a built dataset in place: rewrite ``dataset.json`` (atomically) with new
    splits and ``provenance.split``; the subjects' files are not touched.

    Checkpoints trained on the former split must not be evaluated on the new test split.

    Raises
    ------
    InputFileError
        The manifest is missing or invalid (file and field named).
    """
    root = Path(root)
    data = read_manifest(root)
    attrs = {}
    for i, s in enumerate(data["subjects"]):
        a = s.get("attributes", {})
        if not isinstance(a, dict):
            raise InputFileError(root / MANIFEST, f"subjects[{i}].attributes", "must be an object")
        attrs[s["id"]] = a
    splits = split_subjects(attrs, config)
    for s in data["subjects"]:
        s["split"] = splits[s["id"]]
    prov = data.get("provenance")
    data["provenance"] = {**(prov if isinstance(prov, dict) else {}), "split": split_record(config)}
    atomic_write_json(root / MANIFEST, data)
    return splits


def split_record(config: SplitConfig) -> dict[str, Any]:
    """The manifest's ``provenance.split`` entry for ``config``."""
    d = asdict(config)
    d["fractions"] = list(config.fractions)
    return d
