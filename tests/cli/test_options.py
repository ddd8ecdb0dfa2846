"""Every command against cli/options.py: one spelling per concept, retired spellings hidden but working."""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from typing import Any

import click
import pytest
from click.testing import CliRunner

from id2reflectance.cli.main import _register, cli
from id2reflectance.cli.options import RETIRED, WORKERS, CanonicalOption, RetiredArgument, RetiredOption

_register()

Path_ = tuple[str, ...]


def _walk(cmd: click.Command, path: Path_ = ()) -> Iterator[tuple[Path_, click.Command]]:
    if isinstance(cmd, click.Group):
        for name, sub in sorted(cmd.commands.items()):
            yield from _walk(sub, (*path, name))
    else:
        yield path, cmd


COMMANDS = dict(_walk(cli))
IDS = [" ".join(p) for p in COMMANDS]


def _visible_options(cmd: click.Command) -> list[click.Option]:
    return [p for p in cmd.params if isinstance(p, click.Option) and not p.hidden]


def _retired_params(cmd: click.Command) -> list[click.Parameter]:
    return [p for p in cmd.params if isinstance(p, RetiredOption | RetiredArgument)]


def _spellings(param: click.Parameter) -> list[str]:
    """How a retired parameter is written: its option strings, or the positional's metavar."""
    return [str(param.metavar)] if isinstance(param, RetiredArgument) else list(param.opts)


def _concept(param: click.Parameter) -> str | None:
    return param.concept if isinstance(param, CanonicalOption) else None


def test_the_walk_finds_every_command() -> None:
    assert len(COMMANDS) == 21
    assert {("simulate",), ("train", "swapper"), ("eval", "codebook"), ("dataset", "split")} <= set(COMMANDS)


@pytest.mark.parametrize("path", COMMANDS, ids=IDS)
def test_no_visible_option_uses_a_retired_spelling(path: Path_) -> None:
    for opt in _visible_options(COMMANDS[path]):
        used = set(opt.opts + opt.secondary_opts)
        assert not used & set(RETIRED), (path, opt.opts)
        if WORKERS in used:  # --workers means Dask worker processes, nothing else
            assert _concept(opt) == "workers" and "Dask" in (opt.help or ""), (path, opt.opts)
    for param in _retired_params(COMMANDS[path]):
        assert getattr(param, "hidden", True) and not param.expose_value
        for spelling in _spellings(param):
            assert spelling in RETIRED or spelling in (WORKERS, "OUT", "DATASET"), (path, spelling)


def test_every_retired_spelling_is_still_accepted_somewhere() -> None:
    aliases = {s for cmd in COMMANDS.values() for p in _retired_params(cmd) for s in _spellings(p)}
    assert set(RETIRED) | {WORKERS, "OUT", "DATASET"} == aliases


@pytest.mark.parametrize("path", COMMANDS, ids=IDS)
def test_outputs_are_dash_o_out(path: Path_) -> None:
    cmd = COMMANDS[path]
    for param in cmd.params:
        names = {param.name, *param.opts}
        if isinstance(param, click.Argument) and not isinstance(param, RetiredArgument):
            assert not names & {"out", "output", "OUT"}, (path, param.name)
        if isinstance(param, click.Option) and not param.hidden and names & {"out", "output", "-o", "--output"}:
            assert param.opts == ["-o", "--out"] and _concept(param) == "out", (path, param.opts)
            assert isinstance(param.type, click.Path), (path, param.type)


@pytest.mark.parametrize("path", COMMANDS, ids=IDS)
def test_datasets_are_dash_dash_dataset(path: Path_) -> None:
    for param in COMMANDS[path].params:
        if isinstance(param, RetiredOption | RetiredArgument):
            continue
        if param.name in ("data", "dataset") or {"--data", "--dataset"} & set(param.opts):
            assert isinstance(param, click.Option) and param.opts == ["--dataset"], (path, param.opts)
            assert _concept(param) == "dataset"


@pytest.mark.parametrize("path", COMMANDS, ids=IDS)
def test_device_defaults_to_cpu(path: Path_) -> None:
    for opt in _visible_options(COMMANDS[path]):
        if opt.name == "device" or "--device" in opt.opts:
            assert opt.opts == ["--device"] and opt.default == "cpu" and _concept(opt) == "device", path


@pytest.mark.parametrize("path", COMMANDS, ids=IDS)
def test_commands_with_progress_offer_no_progress(path: Path_) -> None:
    cmd = COMMANDS[path]
    assert cmd.callback is not None
    source = inspect.getsource(cmd.callback)
    flags = {o.name: o for o in _visible_options(cmd) if _concept(o) == "progress"}
    if re.search(r"\bprogress=|progress_bar\(", source):
        assert set(flags) == {"no_progress"} and flags["no_progress"].opts == ["--no-progress"], path
        assert flags["no_progress"].is_flag
        assert source.count("progress_bar(") == source.count("progress_bar(enabled=not no_progress)") >= 1, path
    else:
        assert not flags, path


@pytest.mark.parametrize("path", COMMANDS, ids=IDS)
def test_sizes_are_uv_size_or_image_size(path: Path_) -> None:
    for opt in _visible_options(COMMANDS[path]):
        helptext = (opt.help or "").lower()
        uv_like = not opt.is_flag and ("texel" in helptext or "uv" in (opt.name or ""))
        if uv_like:
            assert opt.opts == ["--uv-size"] and _concept(opt) == "uv_size", (path, opt.opts)
        if opt.opts == ["--uv-size"]:
            assert "texels" in helptext, path
        if opt.opts == ["--image-size"]:
            assert "pixels" in helptext and _concept(opt) == "image_size", path
        sized = [o for o in opt.opts if o.endswith("-size")]
        assert sized in ([], ["--uv-size"], ["--image-size"]), (path, opt.opts)


@pytest.mark.parametrize("path", COMMANDS, ids=IDS)
def test_threads_are_in_process_threads_or_automatic(path: Path_) -> None:
    for opt in _visible_options(COMMANDS[path]):
        if "--threads" in opt.opts:
            assert opt.opts == ["--threads"] and _concept(opt) == "threads"
            assert opt.default is None and isinstance(opt.type, click.IntRange) and opt.type.min == 1, path


# (command, new spelling, retired spelling): both must parse to the same arguments
CASES: list[tuple[Path_, list[str], list[str]]] = [
    (("simulate",), ["-o", "sims"], ["sims"]),
    (("simulate",), ["-o", "s", "--image-size", "64"], ["-o", "s", "--size", "64"]),
    (("simulate",), ["-o", "s", "--no-progress"], ["-o", "s", "-q"]),
    (("simulate",), ["-o", "s", "--no-progress"], ["-o", "s", "--quiet"]),
    (("calibrate", "cameras"), ["cap", "--board", "b", "-o", "r.json"], ["cap", "--board", "b", "--output", "r.json"]),
    (("calibrate", "cameras"), ["cap", "--board", "b", "-o", "r", "--threads", "3"], ["cap", "--board", "b", "-o", "r", "--workers", "3"]),
    (("calibrate", "cameras"), ["cap", "--board", "b", "-o", "r"], ["cap", "--board", "b", "-o", "r", "--workers", "0"]),
    (("calibrate", "colour"), ["a.exr", "--camera", "c", "-o", "c.json"], ["a.exr", "--camera", "c", "--output", "c.json"]),
    (("calibrate", "simulate"), ["-o", "calib"], ["calib"]),
    (("calibrate", "simulate"), ["-o", "c", "--image-size", "80x60"], ["-o", "c", "--size", "80x60"]),
    (("solve",), ["s", "-o", "o", "--threads", "2"], ["s", "-o", "o", "--workers", "2"]),
    (("solve",), ["s", "-o", "o"], ["s", "-o", "o", "--workers", "0"]),
    (("bake",), ["s", "v", "-o", "a", "--uv-size", "512"], ["s", "v", "-o", "a", "--size", "512"]),
    (("report",), ["p", "-o", "r.html"], ["p", "--output", "r.html"]),
    (("report",), ["p", "-o", "r.html", "--image-size", "64"], ["p", "-o", "r.html", "--render-size", "64"]),
    (("relight",), ["a", "--env", "studio", "-o", "r", "--image-size", "16"], ["a", "--env", "studio", "-o", "r", "--size", "16"]),
    (("export",), ["a", "-o", "f.glb", "--uv-size", "64"], ["a", "-o", "f.glb", "--texture-size", "64"]),
    (("train", "codebook"), ["--stage", "1", "--config", "tiny", "--dataset", "d"], ["--stage", "1", "--config", "tiny", "--data", "d"]),
    (("train", "swapper"), ["--config", "tiny", "--dataset", "d"], ["--config", "tiny", "--data", "d"]),
    (("eval", "codebook"), ["run", "--dataset", "d"], ["run", "--data", "d"]),
    (("demo",), ["-o", "here"], ["here"]),
    (("demo",), ["--image-size", "128"], ["--size", "128"]),
    (("demo",), ["--uv-size", "512"], ["--bake-size", "512"]),
    (("dataset", "build"), ["s", "-o", "ds"], ["s", "--output", "ds"]),
    (("dataset", "build"), ["s", "-o", "ds", "--uv-size", "256"], ["s", "-o", "ds", "--bake-size", "256"]),
    (("dataset", "check"), ["--dataset", "ds"], ["ds"]),
    (("dataset", "info"), ["--dataset", "ds", "--json"], ["ds", "--json"]),
    (("dataset", "split"), ["--dataset", "ds", "--split-seed", "3"], ["ds", "--split-seed", "3"]),
]  # fmt: skip


def _parse(monkeypatch: pytest.MonkeyPatch, path: Path_, argv: list[str]) -> tuple[dict[str, Any], str]:
    """The keyword arguments the command's function gets (it is not run), and stderr."""
    seen: dict[str, Any] = {}
    monkeypatch.setattr(COMMANDS[path], "callback", lambda **kwargs: seen.update(kwargs))
    res = CliRunner().invoke(cli, [*path, *argv])
    assert res.exit_code == 0, res.output
    return seen, res.stderr


def _retired_in(path: Path_, argv: list[str]) -> click.Parameter:
    """The retired parameter a retired argv uses (an option string, or else the positional)."""
    params = _retired_params(COMMANDS[path])
    used = [p for p in params if isinstance(p, RetiredOption) and set(p.opts) & set(argv)]
    return used[0] if used else next(p for p in params if isinstance(p, RetiredArgument))


@pytest.mark.parametrize(("path", "new", "old"), CASES, ids=[f"{' '.join(c[0])}: {' '.join(c[2])}" for c in CASES])
def test_retired_spelling_parses_the_same_with_a_note(monkeypatch, path: Path_, new: list[str], old: list[str]) -> None:
    parsed_new, err_new = _parse(monkeypatch, path, new)
    parsed_old, err_old = _parse(monkeypatch, path, old)
    assert parsed_old == parsed_new
    assert "note:" not in err_new
    param = _retired_in(path, old)
    notes = [ln for ln in err_old.splitlines() if ln.startswith("note:")]
    spelling = "the positional " + _spellings(param)[0] if isinstance(param, RetiredArgument) else param.opts[0]
    assert notes == [f"note: {spelling} is retired; use {param.new}"], err_old


def test_the_cases_cover_every_retired_spelling() -> None:
    covered = {(path, s) for path, _, old in CASES for s in _spellings(_retired_in(path, old))}
    every = {(path, s) for path, cmd in COMMANDS.items() for p in _retired_params(cmd) for s in _spellings(p)}
    assert covered == every


def _token(spelling: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w-]){re.escape(spelling)}(?![\w-])")


@pytest.mark.parametrize("path", [p for p, c in COMMANDS.items() if _retired_params(c)], ids=" ".join)
def test_retired_spellings_are_hidden_from_help(path: Path_) -> None:
    res = CliRunner().invoke(cli, [*path, "--help"])
    assert res.exit_code == 0, res.output
    usage = res.output.splitlines()[0]
    for param in _retired_params(COMMANDS[path]):
        for spelling in _spellings(param):
            if isinstance(param, RetiredArgument):
                assert spelling not in usage, usage
            else:
                assert not _token(spelling).search(res.output), (path, spelling)
    assert "--no-progress" in res.output or "--out" in res.output or "--dataset" in res.output  # the new ones show


@pytest.mark.parametrize(
    ("path", "argv", "names"),
    [
        (("simulate",), ["sims", "-o", "other"], ("the positional OUT", "-o/--out")),
        (("report",), ["p", "--output", "a.html", "-o", "b.html"], ("--output", "-o/--out")),
        (("dataset", "info"), ["ds", "--dataset", "ds"], ("the positional DATASET", "--dataset")),
        (("solve",), ["s", "-o", "o", "--workers", "2", "--threads", "2"], ("--workers", "--threads")),
    ],
)
def test_retired_and_new_spelling_together_is_an_error(
    monkeypatch, tmp_path, path: Path_, argv: list[str], names: tuple[str, ...]
) -> None:
    monkeypatch.chdir(tmp_path)  # were it accepted, nothing runs and nothing lands in the working folder
    monkeypatch.setattr(COMMANDS[path], "callback", lambda **kwargs: None)
    res = CliRunner().invoke(cli, [*path, *argv])
    assert res.exit_code == 2
    error = next(ln for ln in res.stderr.splitlines() if ln.startswith("Error:"))
    assert all(n in error for n in names), error


def test_required_output_is_still_required_without_the_positional(monkeypatch) -> None:
    monkeypatch.setattr(COMMANDS[("simulate",)], "callback", lambda **kwargs: None)
    res = CliRunner().invoke(cli, ["simulate", "-n", "1"])
    assert res.exit_code == 2 and "Missing option '-o' / '--out'" in res.stderr


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["eval", "codebook", "run", "--dataset", "d", "--device", "gpu"], "expected cpu, cuda or cuda:N"),
        (["solve", "s", "-o", "o", "--threads", "0"], "--threads"),
    ],
)
def test_bad_device_and_thread_counts_are_usage_errors(monkeypatch, argv: list[str], message: str) -> None:
    for cmd in COMMANDS.values():
        monkeypatch.setattr(cmd, "callback", lambda **kwargs: None)
    res = CliRunner().invoke(cli, argv)
    assert res.exit_code == 2 and message in res.stderr, res.output


def test_cuda_device_is_accepted(monkeypatch) -> None:
    parsed, _ = _parse(monkeypatch, ("eval", "codebook"), ["run", "--dataset", "d", "--device", "cuda:1"])
    assert parsed["device"] == "cuda:1"
    parsed, _ = _parse(monkeypatch, ("eval", "codebook"), ["run", "--dataset", "d"])
    assert parsed["device"] == "cpu" and parsed["threads"] is None and parsed["no_progress"] is False
