"""The list of top-level commands, one module per stage."""

from __future__ import annotations

import click

from id2reflectance.cli.bake import bake_cmd
from id2reflectance.cli.calibrate import calibrate_cmd
from id2reflectance.cli.dataset import dataset_group
from id2reflectance.cli.demo import demo_cmd
from id2reflectance.cli.eval_swapper import eval_swapper_cmd
from id2reflectance.cli.export import export_cmd
from id2reflectance.cli.infer import infer_cmd
from id2reflectance.cli.relight import relight_cmd
from id2reflectance.cli.report import report_cmd
from id2reflectance.cli.rig import rig_cmd
from id2reflectance.cli.simulate import simulate_cmd
from id2reflectance.cli.solve import solve_cmd
from id2reflectance.cli.train import eval_group, train_group
from id2reflectance.cli.train_swapper import train_swapper_cmd
from id2reflectance.cli.validate import validate_cmd

COMMANDS: list[click.Command] = [
    validate_cmd,
    simulate_cmd,
    calibrate_cmd,
    rig_cmd,
    solve_cmd,
    bake_cmd,
    report_cmd,
    relight_cmd,
    export_cmd,
    infer_cmd,
    train_group,
    eval_group,
    demo_cmd,
    dataset_group,
]

eval_group.add_command(eval_swapper_cmd)  # `id2r eval swapper` beside `id2r eval codebook`
train_group.add_command(train_swapper_cmd)  # `id2r train swapper` beside `id2r train codebook`
