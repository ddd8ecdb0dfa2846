"""Tests of reading and checking ``dataset.json``."""

from __future__ import annotations

import json

import pytest

from id2reflectance.dataset.manifest import (
    check_dataset,
    dataset_info,
    dataset_sha256,
    dataset_template,
    manifest_eyes,
    read_manifest,
    same_layout,
)
from id2reflectance.errors import InputFileError
from tests.dataset.synthetic import write_synthetic_dataset


@pytest.fixture
def dataset(tmp_path):
    return write_synthetic_dataset(tmp_path / "ds", subjects=3, size=8, views=("front",), domains=("rgb",))


def test_reads_a_built_manifest(dataset):
    doc = read_manifest(dataset)
    assert [s["id"] for s in doc["subjects"]] == ["S0000", "S0001", "S0002"]
    assert doc["views"] == ["front"] and doc["environments"] == ["full", "env0"]
    assert check_dataset(dataset) == []
    assert len(dataset_sha256(dataset)) == 64


def test_missing_or_unreadable_manifest(tmp_path, dataset):
    for fn in (read_manifest, dataset_sha256):
        with pytest.raises(InputFileError, match=r"dataset.json: missing: not a dataset folder"):
            fn(tmp_path / "nowhere")
    (dataset / "dataset.json").write_text("{not json")
    with pytest.raises(InputFileError, match="dataset.json: not valid JSON"):
        read_manifest(dataset)
    (dataset / "dataset.json").write_text("[1, 2]")
    with pytest.raises(InputFileError, match="dataset.json: format: must be 'id2r-dataset', got None"):
        read_manifest(dataset)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(format="other"), r"format: must be 'id2r-dataset', got 'other'"),
        (lambda d: d.update(version=2), r"version: must be 1, got 2"),
        (lambda d: d.pop("environments"), r"environments: is missing or not a list"),
        (lambda d: d.update(image_size="512"), r"image_size: is missing or not an integer"),
        (lambda d: d["subjects"][1].pop("files"), r"subjects\[1\]: must have an 'id' string and a 'files' object"),
        (lambda d: d["subjects"][2].update(split="holdout"), r"subjects\[2\]\.split: must be one of"),
        (lambda d: d.update(template="procedural"), r"template: must be an object with 'name' and 'sha256'"),
        (lambda d: d.update(eyes="yes"), r"eyes: must be true or false, got 'yes'"),
    ],
)
def test_schema_problems_name_the_field(dataset, change, message):
    doc = json.loads((dataset / "dataset.json").read_text())
    change(doc)
    (dataset / "dataset.json").write_text(json.dumps(doc))
    with pytest.raises(InputFileError, match=message):
        read_manifest(dataset)


def test_the_layout_is_recorded(dataset):
    # a manifest without a layout (built before layouts were recorded) is the procedural template's
    assert dataset_template(dataset) == {"name": "id2r-procedural-head-v1"}
    doc = json.loads((dataset / "dataset.json").read_text())
    doc["template"] = {"name": "id2r-ict-face-skin-v1", "sha256": "ab" * 32}
    (dataset / "dataset.json").write_text(json.dumps(doc))
    assert dataset_template(dataset) == doc["template"]
    procedural = {"name": "id2r-procedural-head-v1"}
    assert same_layout(None, procedural) and same_layout(procedural, {**procedural, "sha256": "cd" * 32})
    assert not same_layout(None, doc["template"])
    assert not same_layout(doc["template"], {**doc["template"], "sha256": "cd" * 32})


def test_whether_the_views_have_eyes_is_recorded(dataset):
    # a dataset built before the field existed has none
    assert manifest_eyes(read_manifest(dataset)) is False and dataset_info(dataset)["eyes"] is False
    doc = json.loads((dataset / "dataset.json").read_text())
    doc["eyes"] = True
    (dataset / "dataset.json").write_text(json.dumps(doc))
    assert manifest_eyes(read_manifest(dataset)) is True and dataset_info(dataset)["eyes"] is True
