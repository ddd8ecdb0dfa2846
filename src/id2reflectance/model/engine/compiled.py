"""``torch.compile`` only after its gradients have been checked against eager mode.

Compiled graphs have produced wrong gradients in the past (with torch 2.13.0+cpu,
``torch.compile`` under bf16 autocast gave zero gradients into a VQGAN decoder's input),
so :func:`compile_checked` compiles a module, runs one forward/backward of the same input
through the eager and the compiled module under the training autocast setting, and compares
the gradients of the input and of every parameter. Any all-zero gradient where eager mode
has a non-zero one, or a relative error above the tolerance, rejects the compiled module:
the caller keeps the eager one and a warning is logged.

Retained graphs: VQGAN's adaptive GAN weight takes ``autograd.grad(..., retain_graph=True)``
of the decoder's last-layer weight before the backward pass. Through a compiled graph this
fails with torch 2.13 (AOTAutograd's donated buffers forbid retained graphs: RuntimeError
at the first GAN step), and with ``torch._functorch.config.donated_buffer = False`` the
gradients of the second pass were wrong (measured on the tiny config, inductor, float32:
relative error 683 in the decoder's input gradient, 1.47 in the encoder's). Training
therefore compiles the encoder and the decoder *body* only; the decoder's last convolution
stays eager, so the retained-graph gradients never traverse a compiled graph and every
compiled graph runs exactly one backward per step, which is what this check exercises.

Note: with torch 2.13.0+cpu ``nn.Module.compile()`` (in-place) leaves the module
uncompiled; this module therefore wraps with ``torch.compile(module)``, which shares the
parameters and leaves state-dict keys of the original module unchanged.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

log = logging.getLogger(__name__)

CompileFn = Callable[[nn.Module], nn.Module]
_FLOOR = 1e-3  # gradient norms below _FLOOR * rms * sqrt(numel) are treated as round-off, compared absolutely


@dataclass(frozen=True)
class GradCheck:
    """Outcome of :func:`check_compiled_gradients`.

    Attributes
    ----------
    ok : gradients (and outputs) agree within tolerance.
    reason : why not, naming the first bad tensor ("" when ok).
    max_rel_err : largest relative L2 error over the checked gradients.
    worst : name of the tensor with that error (``input`` or a parameter name).
    graphs : graphs TorchDynamo captured during the check (0: nothing was compiled).
    """

    ok: bool
    reason: str
    max_rel_err: float
    worst: str
    graphs: int


def _static_compile(module: nn.Module) -> nn.Module:
    """``torch.compile(module, dynamic=False)``: a new input shape gets its own static graph.

    With dynamic shapes, a second input shape (stage 2 decodes batches of two sizes; a
    benchmark compiles two configs) made inductor fail with torch 2.13.0+cpu
    ("cannot determine truth value of Relational") after the check had passed.
    """
    return torch.compile(module, dynamic=False)


def _graph_count() -> int:
    try:  # torch._dynamo takes seconds to import: only when a compiled model is checked
        from torch._dynamo.utils import counters
    except ImportError:  # pragma: no cover - dynamo missing on exotic builds
        return 0
    return int(counters["stats"].get("unique_graphs", 0))


def _grads(
    fn: Callable[[torch.Tensor], torch.Tensor],
    module: nn.Module,
    x: torch.Tensor,
    w_seed: int,
    autocast: contextlib.AbstractContextManager,
) -> tuple[torch.Tensor, dict[str, torch.Tensor | None]]:
    for p in module.parameters():
        p.grad = None
    xin = x.detach().clone().requires_grad_(True)
    with autocast:
        out = fn(xin)
    g = torch.Generator(device="cpu").manual_seed(w_seed)
    w = torch.randn(out.shape, generator=g).to(out.device)
    (out.float() * w).sum().backward()
    grads: dict[str, torch.Tensor | None] = {"input": None if xin.grad is None else xin.grad.detach().clone()}
    for name, p in module.named_parameters():
        grads[name] = None if p.grad is None else p.grad.detach().clone()
        p.grad = None
    return out.detach().float(), grads


def check_compiled_gradients(
    module: nn.Module,
    compiled: Callable[[torch.Tensor], torch.Tensor],
    example: torch.Tensor,
    *,
    autocast_dtype: torch.dtype | None = None,
    rtol: float | None = None,
) -> GradCheck:
    """Compare input and parameter gradients of ``compiled`` with eager ``module``.

    Parameters
    ----------
    module : the eager module (its parameters are the ones ``compiled`` uses).
    compiled : the compiled callable sharing ``module``'s parameters.
    example : an input batch of the training shape (any float dtype, on the module's device).
    autocast_dtype : e.g. ``torch.bfloat16`` to check under autocast, None for full precision.
    rtol : relative L2 tolerance per tensor (default 1e-3 in float32, 5e-2 under autocast).

    The loss is ``sum(out * w)`` with a fixed random ``w``, so every output element matters.
    Per tensor the error is ``||g_compiled - g_eager|| / (||g_eager|| + floor)`` with
    ``floor = 1e-3 * rms * sqrt(numel)`` and ``rms`` the root-mean-square gradient element over
    all checked tensors: gradients that are analytically zero (a convolution bias directly
    before a GroupNorm with one channel per group) are round-off in both modes and must not
    count as a mismatch. Parameter ``.grad`` fields are cleared afterwards.
    """
    if rtol is None:
        rtol = 1e-3 if autocast_dtype is None else 5e-2

    def ctx() -> contextlib.AbstractContextManager:
        if autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=example.device.type, dtype=autocast_dtype)

    before = _graph_count()
    out_e, g_e = _grads(module, module, example, 0, ctx())
    out_c, g_c = _grads(compiled, module, example, 0, ctx())
    graphs = _graph_count() - before
    worst, max_err = "", 0.0
    if out_c.shape != out_e.shape:
        return GradCheck(
            False, f"output shape {tuple(out_c.shape)} != eager {tuple(out_e.shape)}", float("inf"), "output", graphs
        )
    out_err = float((out_c - out_e).norm() / (out_e.norm() + 1e-12))
    if not out_err <= rtol:
        return GradCheck(False, f"outputs differ from eager (relative error {out_err:.3g})", out_err, "output", graphs)
    present = [g for g in g_e.values() if g is not None]
    total = sum(float(g.float().square().sum()) for g in present)
    rms = (total / max(1, sum(g.numel() for g in present))) ** 0.5  # typical gradient element
    for name, ge in g_e.items():
        gc = g_c[name]
        if ge is None:
            continue
        ref = float(ge.float().norm())
        floor = _FLOOR * rms * ge.numel() ** 0.5  # below this a gradient is round-off (e.g. a bias before a norm)
        if gc is None or (ref > floor and float(gc.float().norm()) == 0.0):
            return GradCheck(False, f"zero gradient into {name!r} (eager norm {ref:.3g})", float("inf"), name, graphs)
        err = float((gc.float() - ge.float()).norm()) / (ref + floor + 1e-30)
        if err > max_err:
            worst, max_err = name, err
        if not err <= rtol:
            return GradCheck(
                False, f"gradient of {name!r} differs from eager (relative error {err:.3g})", err, name, graphs
            )
    return GradCheck(True, "", max_err, worst, graphs)


def compile_checked(
    module: nn.Module,
    example: torch.Tensor,
    *,
    autocast_dtype: torch.dtype | None = None,
    compile_fn: CompileFn | None = None,
    name: str = "module",
) -> tuple[Callable[[torch.Tensor], torch.Tensor], GradCheck]:
    """``compile_fn(module)`` when its gradients match eager mode, else ``module`` (warning logged).

    Parameters
    ----------
    module : eager module.
    example : an input of the training shape.
    autocast_dtype : the training autocast dtype (None: full precision).
    compile_fn : default ``torch.compile(module, dynamic=False)``; injectable for tests.
    name : used in log messages.

    Returns
    -------
    The callable to train with, and the check result.
    """
    compile_fn = compile_fn or _static_compile
    try:
        compiled = compile_fn(module)
        result = check_compiled_gradients(module, compiled, example, autocast_dtype=autocast_dtype)
    except Exception as err:  # compiler failures are environment problems, not user errors
        result = GradCheck(False, f"compilation failed: {type(err).__name__}: {err}", float("inf"), "", 0)
    if not result.ok:
        log.warning("torch.compile rejected for %s, training it eagerly: %s", name, result.reason)
        return module, result
    log.info(
        "torch.compile accepted for %s (%d graph(s), max relative gradient error %.2g at %s)",
        name,
        result.graphs,
        result.max_rel_err,
        result.worst or "-",
    )
    return compiled, result
