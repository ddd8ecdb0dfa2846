"""Train/val/test splits: stratified by skin type (every type reaches the test split), by
hash (stable when subjects are added), and re-splitting a built dataset in place."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from click.testing import CliRunner

from id2reflectance.cli.main import _register, cli
from id2reflectance.dataset.manifest import check_dataset, read_manifest
from id2reflectance.dataset.splits import (
    SplitConfig,
    assign_split,
    resplit_dataset,
    skin_type,
    split_subjects,
    split_table,
)
from id2reflectance.errors import ConfigError, InputFileError
from tests.dataset.synthetic import write_synthetic_dataset

_register()

# ITA degrees of 48 subjects skewed like the simulator's (few very light, many brown)
TYPE_SIZES = {1: 2, 2: 4, 3: 5, 4: 8, 5: 18, 6: 11}
ITA_OF_TYPE = {1: 60.0, 2: 48.0, 3: 35.0, 4: 20.0, 5: -5.0, 6: -45.0}


def _attributes() -> dict[str, dict[str, float]]:
    out, k = {}, 0
    for t, n in TYPE_SIZES.items():
        for _ in range(n):
            out[f"S{k:04d}"] = {"ita_deg": ITA_OF_TYPE[t] + 0.01 * k}
            k += 1
    return out


def test_skin_type_from_attributes():
    assert skin_type({"fitzpatrick": 2, "ita_deg": -50.0}) == 2  # the explicit type wins
    assert [skin_type({"ita_deg": v}) for v in (56.0, 55.0, 41.5, 28.0, 10.5, -30.0)] == [1, 2, 2, 4, 4, 6]
    assert skin_type({}) is None
    assert skin_type({"fitzpatrick": True}) is None and skin_type({"ita_deg": float("nan")}) is None
    assert skin_type({"fitzpatrick": 9, "ita_deg": 60.0}) == 1


def test_stratified_split_puts_every_skin_type_in_test_and_train():
    attrs = _attributes()
    splits = split_subjects(attrs, SplitConfig(seed=0))
    assert splits.keys() == attrs.keys()
    per_type = {t: Counter() for t in TYPE_SIZES}
    for sid, sp in splits.items():
        per_type[skin_type(attrs[sid])][sp] += 1
    for t, c in per_type.items():
        assert c["test"] >= 1 and c["train"] >= 1, (t, c)
    # the large strata follow the fractions: 18 -> 14/2/2, 11 -> 9/1/1
    assert per_type[5] == Counter(train=14, val=2, test=2)
    assert per_type[6] == Counter(train=9, val=1, test=1)
    # whereas the hash split of the same subjects misses skin types in test
    hashed = split_subjects(attrs, SplitConfig(seed=0, stratify="hash"))
    assert hashed == {sid: assign_split(sid, seed=0, fractions=(0.8, 0.1, 0.1)) for sid in attrs}
    assert len({skin_type(attrs[s]) for s, sp in hashed.items() if sp == "test"}) < 6


def test_stratified_split_is_deterministic_and_seeded():
    attrs = _attributes()
    a = split_subjects(attrs, SplitConfig(seed=3))
    assert a == split_subjects(dict(reversed(list(attrs.items()))), SplitConfig(seed=3))  # order-free
    b = split_subjects(attrs, SplitConfig(seed=4))
    assert a != b
    assert Counter(a.values()) == Counter(b.values())  # same counts, other members


def test_single_subject_strata_and_unknown_skin_type_train_first():
    attrs = {"A": {"ita_deg": 60.0}, "B": {}, "C": {}, "D": {}, "E": {}}
    splits = split_subjects(attrs, SplitConfig(fractions=(0.5, 0.25, 0.25)))
    assert splits["A"] == "train"  # one subject of its type: training keeps it
    assert Counter(splits[k] for k in "BCDE") == Counter(train=2, val=1, test=1)
    only_test = split_subjects({"A": {}, "B": {}}, SplitConfig(fractions=(0.0, 0.0, 1.0)))
    assert set(only_test.values()) == {"test"}


def test_hash_split_is_stable_when_subjects_are_added():
    ids = [f"S{k:04d}" for k in range(40)]
    cfg = SplitConfig(stratify="hash", seed=1)
    first = split_subjects({s: {} for s in ids[:20]}, cfg)
    both = split_subjects({s: {} for s in ids}, cfg)
    assert all(both[s] == first[s] for s in first)


@pytest.mark.parametrize("stratify", ["skin_type", "hash"])
def test_subjects_drawn_from_one_person_share_a_split(stratify):
    # photo subjects: more subjects than donors lends a donor twice (retrain3: S0000 in test and
    # S0047 in training both had London person 104's face)
    attrs = _attributes()
    cfg = SplitConfig(seed=0, stratify=stratify)
    plain = split_subjects(attrs, cfg)
    test_id = min(s for s, sp in plain.items() if sp == "test")
    train_id = max(s for s, sp in plain.items() if sp == "train")
    credited = {sid: {**a, "photo_credit": f"person {sid}"} for sid, a in attrs.items()}
    credited[train_id]["photo_credit"] = credited[test_id]["photo_credit"]
    grouped = split_subjects(credited, cfg)
    assert grouped[train_id] == grouped[test_id] == "test"  # the smaller id's split
    assert {s: sp for s, sp in grouped.items() if s != train_id} == {s: sp for s, sp in plain.items() if s != train_id}
    assert split_subjects(dict(reversed(list(credited.items()))), cfg) == grouped  # order-free


@pytest.mark.parametrize(
    "kwargs",
    [
        {"fractions": (0.8, 0.1, 0.2)},
        {"fractions": (1.1, -0.1, 0.0)},
        {"fractions": (float("nan"), 0.5, 0.5)},
        {"stratify": "age"},
    ],
)
def test_bad_split_config(kwargs):
    with pytest.raises(ConfigError):
        SplitConfig(**kwargs)


def _dataset_with_types(tmp_path):
    root = write_synthetic_dataset(tmp_path / "ds", subjects=8, size=16, views=("front",), domains=("rgb",))
    path = root / "dataset.json"
    data = json.loads(path.read_text())
    for k, s in enumerate(data["subjects"]):  # two subjects of each of four skin types
        s["attributes"] = {"ita_deg": (60.0, 35.0, 0.0, -45.0)[k // 2]}
    path.write_text(json.dumps(data))
    return root


def test_resplit_rewrites_only_the_manifest(tmp_path):
    root = _dataset_with_types(tmp_path)
    before = read_manifest(root)
    splits = resplit_dataset(root, SplitConfig(fractions=(0.5, 0.0, 0.5)))
    after = read_manifest(root)
    assert [s["split"] for s in after["subjects"]] == [splits[s["id"]] for s in after["subjects"]]
    table = split_table(after)
    assert [table["test"][t] for t in ("1", "3", "5", "6")] == [1, 1, 1, 1]
    assert after["provenance"]["split"] == {"seed": 0, "fractions": [0.5, 0.0, 0.5], "stratify": "skin_type"}
    assert [s["files"] for s in after["subjects"]] == [s["files"] for s in before["subjects"]]
    assert check_dataset(root) == []
    assert not [p for p in root.iterdir() if p.name.startswith(".")]  # no temporary left


def test_resplit_of_a_broken_manifest_names_the_field_and_writes_nothing(tmp_path):
    root = _dataset_with_types(tmp_path)
    path = root / "dataset.json"
    data = json.loads(path.read_text())
    data["subjects"][3]["split"] = "holdout"
    path.write_text(json.dumps(data))
    text = path.read_text()
    with pytest.raises(InputFileError, match=r"subjects\[3\]\.split"):
        resplit_dataset(root, SplitConfig())
    assert path.read_text() == text


def test_cli_split_and_info_print_the_skin_type_table(tmp_path):
    root = _dataset_with_types(tmp_path)
    res = CliRunner().invoke(cli, ["dataset", "split", str(root), "--split-fractions", "0.5,0,0.5"])
    assert res.exit_code == 0, res.output
    assert "8 subjects split" in res.output and "'test': 4" in res.output
    test_row = next(line for line in res.output.splitlines() if line.startswith("test"))
    assert test_row.split()[1:] == ["1", "0", "1", "0", "1", "1", "4"]
    info = CliRunner().invoke(cli, ["dataset", "info", str(root)])
    assert info.exit_code == 0 and test_row in info.output


@pytest.mark.parametrize("fractions", ["0.8,0.1", "a,b,c", "0.8,0.1,0.3"])
def test_cli_split_rejects_bad_fractions_without_touching_the_dataset(tmp_path, fractions):
    root = _dataset_with_types(tmp_path)
    text = (root / "dataset.json").read_text()
    res = CliRunner().invoke(cli, ["dataset", "split", str(root), "--split-fractions", fractions])
    assert res.exit_code == 2 and "--split-fractions" in res.output and "Traceback" not in res.output
    assert (root / "dataset.json").read_text() == text
