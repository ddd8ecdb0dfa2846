"""EMA of weights: plain decay, and the warm-up that forgets a fresh initialisation."""

import torch
from torch import nn

from id2reflectance.model.engine.ema import EMA


def _pair():
    m = nn.Linear(3, 2)
    with torch.no_grad():
        m.weight.fill_(1.0)
        m.bias.fill_(1.0)
    ema = EMA(m, decay=0.999)
    with torch.no_grad():
        m.weight.fill_(0.0)
        m.bias.fill_(0.0)
    return m, ema


def test_without_step_the_plain_decay_applies():
    m, ema = _pair()
    ema.update(m)
    assert torch.allclose(ema.shadow["weight"], torch.full((2, 3), 0.999))


def test_warm_up_forgets_the_initial_weights():
    m, ema = _pair()
    ema.update(m, step=0)  # d = min(0.999, 1 / 10) = 0.1
    assert torch.allclose(ema.shadow["weight"], torch.full((2, 3), 0.1))
    for step in range(1, 2000):
        ema.update(m, step=step)
    # plain decay would keep 0.999 ** 2000 = 13.5% of the initial weights
    assert float(ema.shadow["weight"].max()) < 1e-3
