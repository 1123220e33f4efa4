r"""RMSProp exactly as TensorFlow 1's ``tf.train.RMSPropOptimizer`` (momentum 0, not centred), which the official
MaskAAE code trains every player with.

.. math::

    ms \leftarrow \rho\, ms + (1 - \rho)\, g^2, \qquad w \leftarrow w - \eta\, g / \sqrt{ms + \epsilon}

with TensorFlow 1's defaults rho = 0.9 and epsilon = 1e-10, and the mean square ``ms`` starting at **1** (TF1
creates its ``rms`` slot with ones). PyTorch's ``RMSprop`` starts it at 0 and adds epsilon outside the root, so its
first steps are sign-like steps of size about 3.2 eta whatever the gradient's size; TF1's first steps are eta g,
small where the gradient is small, until ms has decayed towards g^2 (0.9^k: after about 50 steps).
"""
from __future__ import annotations

from collections.abc import Iterable

import torch


class TF1RMSProp(torch.optim.Optimizer):
    """``tf.compat.v1.train.RMSPropOptimizer(lr, decay=0.9, momentum=0.0, epsilon=1e-10)``."""

    def __init__(self, params: Iterable[torch.nn.Parameter], lr: float, decay: float = 0.9, eps: float = 1e-10,
                 initial_ms: float = 1.0) -> None:  # initial_ms: TF1's ones initialiser of the rms slot
        if lr <= 0 or not 0 <= decay < 1 or eps < 0 or initial_ms < 0:
            raise ValueError(f"TF1RMSProp: need lr > 0, 0 <= decay < 1, eps >= 0, initial_ms >= 0; got "
                             f"lr={lr}, decay={decay}, eps={eps}, initial_ms={initial_ms}")
        super().__init__(params, {"lr": lr, "decay": decay, "eps": eps, "initial_ms": initial_ms})

    @torch.no_grad()
    def step(self, closure=None):
        loss = None if closure is None else torch.enable_grad()(closure)()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["ms"] = torch.full_like(p, group["initial_ms"], memory_format=torch.preserve_format)
                ms = state["ms"]
                ms.mul_(group["decay"]).addcmul_(p.grad, p.grad, value=1 - group["decay"])
                p.addcdiv_(p.grad, (ms + group["eps"]).sqrt(), value=-group["lr"])
        return loss
