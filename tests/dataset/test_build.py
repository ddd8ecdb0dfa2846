"""Dataset build with Dask: 3 simulated subjects, 2 workers, one failing subject, resume."""

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from id2reflectance.capture.geometry.templates import FACE_TEMPLATE_NAME, resolve_template, template_record
from id2reflectance.capture.simulator.sessions import SimulatorConfig
from id2reflectance.cli.main import _register, cli
from id2reflectance.dataset.build import BuildConfig, build_dataset
from id2reflectance.dataset.cluster import ClusterConfig, open_client
from id2reflectance.dataset.manifest import check_dataset, dataset_info, read_manifest
from id2reflectance.errors import ConfigError, Id2rError, InputFileError
from tests.dataset.synthetic import write_synthetic_dataset
from tests.face_model_data import needs_model
from tests.simulated import copied_sessions

_register()

CFG = BuildConfig(
    image_size=64,
    bake_size=256,
    environments=("full",),
    cluster=ClusterConfig(workers=2, dashboard="127.0.0.1:0", memory_limit="4GiB"),
)


@pytest.fixture(scope="module")
def sessions(tmp_path_factory):
    # the same 3 subjects as the other dataset build module: simulated once per run, copied here
    return copied_sessions(tmp_path_factory, subjects=3, config=SimulatorConfig(image_size=96, uv_size=128, cameras=3))


@pytest.fixture
def client():
    """One local cluster as ``CFG`` describes (two worker processes) for every build of a test. A
    build that opens its own starts two fresh workers, and each imports the package and loads the
    face model again before its first bake: about 12 CPU s of a one-subject build's 21 (2-core
    machine). Builds that open and close their own cluster: test_build_faults.py, the CLI below,
    the face_dataset fixture."""
    client, cluster = open_client(CFG.cluster)
    yield client
    client.close()
    cluster.close()


@pytest.mark.slow
def test_build_survives_a_failing_subject_and_resumes(sessions, tmp_path, client):
    out = tmp_path / "dataset"
    frame = sessions / "S0001" / "frames" / "front" / "full_cross.exr"
    backup = tmp_path / "backup.exr"
    shutil.copyfile(frame, backup)
    frame.write_bytes(frame.read_bytes()[:200])  # truncated frame: S0001 must fail
    seen = []
    rep = build_dataset(
        sessions,
        out,
        config=CFG,
        progress=lambda stage, done, total: seen.append((stage, done, total)),
        client=client,
    )
    assert sorted(rep.built) == ["S0000", "S0002"]
    assert [f["id"] for f in rep.failed] == ["S0001"] and rep.failed[0]["stage"] == "validate"
    assert "full_cross.exr" in rep.failed[0]["error"]
    assert ("done", 2, 3) in seen and ("bake", 2, 3) in seen
    data = read_manifest(out)
    assert [s["id"] for s in data["subjects"]] == ["S0000", "S0002"]
    assert data["failed"][0]["id"] == "S0001"
    assert data["provenance"]["split"] == {"seed": 0, "fractions": [0.8, 0.1, 0.1], "stratify": "skin_type"}
    # the layout every subject is baked in: the default, the face model's where it is found
    assert data["template"] == template_record(resolve_template("auto"))
    # the RGB views hold eyes where the layout can have them (the face model's)
    assert data["eyes"] is (resolve_template("auto").kind == "face_model")
    assert data["provenance"]["options"]["eyes"] is True
    assert "split" not in data["provenance"]["options"]
    assert check_dataset(out) == []
    assert not list((out / "subjects").glob(".*"))  # no temporary leftovers
    front = out / "subjects" / "S0000" / "views" / "front"
    for name in (
        "rgb_full.png",
        "diffuse_albedo.png",
        "specular_albedo.png",
        "roughness.png",
        "normal.png",
        "mask.png",
    ):
        assert (front / name).is_file()
    stamp = (out / "subjects" / "S0000" / "subject.json").stat().st_mtime_ns

    # fix the session and re-run: only S0001 is built, the others are verified and skipped
    shutil.copyfile(backup, frame)
    rep2 = build_dataset(sessions, out, config=CFG, client=client)
    assert rep2.built == ["S0001"] and sorted(rep2.skipped) == ["S0000", "S0002"] and rep2.failed == []
    assert (out / "subjects" / "S0000" / "subject.json").stat().st_mtime_ns == stamp
    data = read_manifest(out)
    assert [s["id"] for s in data["subjects"]] == ["S0000", "S0001", "S0002"] and data["failed"] == []
    splits = {s["id"]: s["split"] for s in data["subjects"]}
    assert set(splits.values()) <= {"train", "val", "test"}
    info = dataset_info(out)
    assert info["subjects"] == 3 and sum(info["splits"].values()) == 3

    # a tampered file is caught, by the library and by the CLI
    (front / "roughness.png").write_bytes(b"tampered")
    problems = check_dataset(out)
    assert problems == ["subjects/S0000/views/front/roughness.png: checksum mismatch"]
    res = CliRunner().invoke(cli, ["dataset", "check", str(out)])
    assert res.exit_code == 1 and "checksum mismatch" in res.output
    # and the next build redoes only the tampered subject
    rep3 = build_dataset(sessions, out, config=CFG, client=client)
    assert rep3.built == ["S0000"] and check_dataset(out) == []
    assert json.loads((out / "dataset.json").read_text())["provenance"]["sessions"].keys() == {
        "S0000",
        "S0001",
        "S0002",
    }
    assert rep3.moved == {}  # same split options: nobody moves
    # other split options: the CLI names every subject that changes split
    before = {s["id"]: s["split"] for s in read_manifest(out)["subjects"]}
    args = ["dataset", "build", str(sessions), "-o", str(out), "--workers", "1", "--image-size", "64"]
    args += ["--bake-size", "256", "--env", "full", "--split-stratify", "hash", "--split-fractions", "0,0,1"]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    moved = sorted(sid for sid, sp in before.items() if sp != "test")
    assert moved and f"warning: {len(moved)} subject(s) changed split since the last build" in res.output
    assert all(f"{sid} {before[sid]}->test" in res.output for sid in moved)


@pytest.mark.slow
def test_unreachable_scheduler_fails_fast(sessions, tmp_path):
    cfg = BuildConfig(cluster=ClusterConfig(scheduler="tcp://127.0.0.1:1", connect_timeout_s=2))
    with pytest.raises(Id2rError, match="cannot reach the Dask scheduler at 'tcp://127.0.0.1:1'"):
        build_dataset(sessions, tmp_path / "d", config=cfg)
    res = CliRunner().invoke(
        cli, ["dataset", "build", str(sessions), "-o", str(tmp_path / "d2"), "--scheduler", "tcp://127.0.0.1:1"]
    )
    assert res.exit_code == 2 and "cannot reach the Dask scheduler" in res.output and "Traceback" not in res.output


def test_open_client_connects_to_a_running_scheduler():
    from distributed import LocalCluster

    from id2reflectance.dataset.cluster import open_client

    with LocalCluster(n_workers=1, processes=False, dashboard_address=None, protocol="tcp://") as running:
        assert running.scheduler_address.startswith("tcp://")
        client, own = open_client(ClusterConfig(scheduler=running.scheduler_address, connect_timeout_s=5))
        try:
            assert own is None  # an existing scheduler is never ours to close
            assert client.submit(sum, [40, 2]).result() == 42
        finally:
            client.close()


def test_unreachable_scheduler_leaves_no_client_thread():
    import threading

    from id2reflectance.dataset.cluster import open_client

    before = {t.ident for t in threading.enumerate()}
    for address in ("tcp://127.0.0.1:1", "tcp://localhost"):
        with pytest.raises(Id2rError, match="cannot reach the Dask scheduler"):
            open_client(ClusterConfig(scheduler=address, connect_timeout_s=2))
    left = [t.name for t in threading.enumerate() if t.ident not in before]
    assert not left  # a failed distributed.Client would leave its "IO loop" thread behind


def test_no_sessions(tmp_path):
    (tmp_path / "empty").mkdir()
    res = CliRunner().invoke(cli, ["dataset", "build", str(tmp_path / "empty"), "-o", str(tmp_path / "d")])
    assert res.exit_code == 2 and "no session folders" in res.output


@pytest.mark.slow
def test_unknown_environment_fails_before_any_work(sessions, tmp_path):
    cfg = BuildConfig(image_size=64, environments=("full", "no_such_sky"), cluster=CFG.cluster)
    with pytest.raises(Id2rError, match="no_such_sky"):
        build_dataset(sessions, tmp_path / "ds", config=cfg)
    assert not (tmp_path / "ds").exists()


@pytest.mark.slow
def test_cli_env_accepts_commas(sessions, tmp_path):
    res = CliRunner().invoke(cli, ["dataset", "build", str(sessions), "-o", str(tmp_path / "ds"), "--env", "full,nope"])
    assert res.exit_code == 2
    # the list was split at the comma: "full" is accepted and "nope" alone is named
    assert "--env nope: no such file and not a built-in environment" in res.output
    assert "full,nope" not in res.output
    assert not (tmp_path / "ds").exists()


def test_local_workers_are_pinned_to_distinct_cores():
    import os

    from id2reflectance.dataset.cluster import open_client

    cores = sorted(os.sched_getaffinity(0))
    client, cluster = open_client(ClusterConfig(workers=2, dashboard=None, memory_limit="2GiB"))
    try:
        masks = client.run(lambda: sorted(os.sched_getaffinity(0)))
    finally:
        client.close()
        cluster.close()
    got = sorted(tuple(m) for m in masks.values())
    if len(cores) >= 2:  # one core each, not the same one
        assert all(len(m) == 1 for m in got)
        assert len({m[0] for m in got}) == 2
    else:  # nothing to pin to: workers keep the machine's mask
        assert all(list(m) == cores for m in got)


def test_solve_stage_writes_only_what_the_bake_reads(tmp_path):
    """The dataset's solve is an intermediate: the bake's maps only, uncompressed."""
    import OpenEXR

    from id2reflectance.capture.simulator.analytic import write_sphere_session
    from id2reflectance.dataset.build import stage_solve, stage_validate
    from id2reflectance.processing.bake.views import BAKE_INPUT_MAPS

    session = write_sphere_session(tmp_path / "S0000", size=16, inverses=False, samples=(16, 4))
    info = stage_solve(stage_validate(str(session), str(tmp_path / "work")))
    folder = Path(info["work"]) / "solve" / "cam0"
    assert sorted(p.stem for p in folder.iterdir()) == sorted(BAKE_INPUT_MAPS)
    with OpenEXR.File(str(folder / "diffuse_albedo.exr"), header_only=True) as f:
        assert f.header()["compression"] == OpenEXR.NO_COMPRESSION
    config = json.loads((Path(info["work"]) / "solve" / "solve.json").read_text())["config"]
    assert config["maps"] == list(BAKE_INPUT_MAPS)
    assert config["direct_io"] is False  # the bake reads the maps right after: kept in the page cache


def test_template_option_is_checked():
    with pytest.raises(ConfigError, match="template must be one of"):
        BuildConfig(template="cylinder")
    assert BuildConfig().template == "auto"


@needs_model
def test_the_default_layout_is_the_face_model_s():
    from id2reflectance.dataset.build import _layout

    assert _layout(BuildConfig()).name == FACE_TEMPLATE_NAME
    assert _layout(BuildConfig(template="procedural")).name != FACE_TEMPLATE_NAME


@needs_model
def test_a_dataset_is_built_in_one_layout(tmp_path):
    from id2reflectance.dataset.build import _check_layout

    root = write_synthetic_dataset(tmp_path / "ds", subjects=2, size=8, views=("front",), domains=("rgb",))
    _check_layout(root, BuildConfig(template="procedural"))  # no layout recorded: the procedural one
    with pytest.raises(InputFileError, match=r"dataset.json: template: the dataset is built in the UV layout"):
        _check_layout(root, BuildConfig(template="face_model"))


@needs_model
def test_a_dataset_s_views_are_all_with_eyes_or_all_without(tmp_path):
    from id2reflectance.dataset.build import _check_layout, _with_eyes

    assert BuildConfig().eyes and _with_eyes(BuildConfig())
    assert not _with_eyes(BuildConfig(template="procedural"))  # closed lids: no eyes to render
    assert not _with_eyes(BuildConfig(eyes=False))
    root = write_synthetic_dataset(tmp_path / "ds", subjects=2, size=8, views=("front",), domains=("rgb",))
    doc = json.loads((root / "dataset.json").read_text())
    doc["template"] = template_record(resolve_template("face_model"))
    (root / "dataset.json").write_text(json.dumps(doc))
    # built before the field (no eyes): resumed only without eyes
    _check_layout(root, BuildConfig(template="face_model", eyes=False))
    with pytest.raises(InputFileError, match=r"dataset.json: eyes: the dataset's RGB views are rendered without eyes"):
        _check_layout(root, BuildConfig(template="face_model"))
    doc["eyes"] = True
    (root / "dataset.json").write_text(json.dumps(doc))
    _check_layout(root, BuildConfig(template="face_model"))
    with pytest.raises(InputFileError, match=r"--eyes"):
        _check_layout(root, BuildConfig(template="face_model", eyes=False))
