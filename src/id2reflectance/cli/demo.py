"""``id2r demo``: the main job on the built-in default (simulated sessions)."""

from __future__ import annotations

from pathlib import Path

import click

from id2reflectance._shared.lock import output_lock
from id2reflectance.cli.options import image_size_option, out_option, progress_option, template_option, uv_size_option
from id2reflectance.cli.progress import progress_bar
from id2reflectance.demo import DemoConfig, run_demo


@click.command("demo")
@out_option(help="Folder of every output.", default=Path("demo_out"), positional=True)
@click.option("--subjects", type=int, default=2, show_default=True, help="Simulated subjects.")
@click.option("--seed", type=int, default=0, show_default=True)
@image_size_option(default=256, help="Camera resolution, pixels.", retired=("--size",))
@uv_size_option(default=256, help="UV map size of the baked assets, texels.", retired=("--bake-size",))
@template_option(
    help="Shared UV space: the procedural template, or the face model's topology and UVs "
    "(face_model needs the face model; auto takes it when found)."
)
@click.option("--no-report", is_flag=True, help="Skip the HTML QA reports.")
@progress_option()
def demo_cmd(
    out: Path,
    subjects: int,
    seed: int,
    image_size: int,
    uv_size: int,
    template: str,
    no_report: bool,
    no_progress: bool,
) -> None:
    """Simulate light-stage sessions and run the whole pipeline on them.

    simulate -> validate -> solve -> register + bake -> export glTF -> relight -> report,
    then print the accuracy of the solved and baked maps against the simulator's ground
    truth. Everything lands in --out (default demo_out/); its summary.json holds the figures.

    \b
    Examples:
      id2r demo
      id2r demo -o out/ --subjects 4 --image-size 512 --uv-size 512
      id2r demo -o out/ --subjects 1 --template face_model
    """
    cfg = DemoConfig(
        subjects=subjects,
        seed=seed,
        image_size=image_size,
        uv_size=max(image_size, 256),
        bake_size=uv_size,
        report=not no_report,
        template=template,
    )
    with output_lock(out), progress_bar(enabled=not no_progress) as progress:
        res = run_demo(out, config=cfg, progress=progress)
    click.echo("\nSolver accuracy (medians, unshadowed pixels; targets <1 deg, <3 deg, <2%, <5%, <0.05):")
    click.echo(
        f"{'subject':8} {'pixels':>7} {'n_diff deg':>10} {'n_spec deg':>10} {'albedo %':>9} {'spec %':>7} {'rough':>6}"
    )
    for sid, a in res.solve.items():
        click.echo(
            f"{sid:8} {a['pixels']:7d} {a['diffuse_normal_deg']:10.3f} {a['specular_normal_deg']:10.3f} "
            f"{100 * a['diffuse_albedo_rel']:9.3f} {100 * a['specular_albedo_rel']:7.3f} {a['roughness_abs']:6.4f}"
        )
    click.echo("\nBake accuracy (seen texels; targets PSNR >35 dB, normal <2 deg, roughness <0.05, seam ratio <1.5):")
    click.echo(f"{'subject':8} {'PSNR dB':>8} {'normal deg':>10} {'rough':>6} {'seam':>5} {'fit mm (mean/p95)':>18}")
    for sid, b in res.bake.items():
        fit = b.get("fit_residual_mm", {})
        click.echo(
            f"{sid:8} {b['diffuse_psnr_db']:8.2f} {b['normal_median_deg']:10.3f} {b['roughness_median_abs']:6.4f} "
            f"{b['seam_ratio']:5.2f} {fit.get('mean', float('nan')):8.3f}/{fit.get('p95', float('nan')):.3f}"
        )
    if res.credits:
        click.echo("\nPhoto credits (CC BY 4.0):")
        for sid, credit in res.credits.items():
            click.echo(f"{sid:8} {credit}")
    click.echo("\nTimings (s): " + ", ".join(f"{k} {v:.1f}" for k, v in res.timings_s.items()))
    click.echo(f"Outputs in {out}/ (sessions, solved, assets, export, relit, reports, summary.json)")
