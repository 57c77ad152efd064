"""Several trained networks folded into one model that answers with the mean of their probabilities.

Copies of one architecture trained with different seeds make different mistakes, so averaging their
softmax outputs removes a good share of the errors: three BN conv nets trained 30 epochs on the 5,000
shipped digits score 98.98 / 99.09 / 98.97 % alone and 99.18 % together on the official test set.

``Ensemble`` exports like any ConvLab network: its "logits" are ``log(mean probability)``, so the softmax
every reader applies gives exactly the mean probability (Draw page, CLI, robustness scores unchanged),
and its activations are the first member's, so the Draw page's feature maps still show a real network.
It is not one chain of layers, so it is exported without per-layer outputs (``single_chain``), and the
"Inside the network" page points to a single member instead.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn

TINY = 1e-30  # floor under a mean probability before the log: finite logits even for a certain answer


class Ensemble(nn.Module):
    single_chain = False  # core.train.export: no per-layer outputs for a graph of parallel networks

    def __init__(self, members: Sequence[nn.Module]) -> None:
        super().__init__()
        if len(members) < 2:
            raise ValueError("An ensemble needs at least two networks.")
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, 1, 28, 28) → (N, 10)
        return self.forward_with_activations(x)[0]

    def forward_with_activations(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        logits, acts = self.members[0].forward_with_activations(x)
        probs = [torch.softmax(logits, dim=1)] + [torch.softmax(m(x), dim=1) for m in self.members[1:]]
        mean = torch.stack(probs).mean(dim=0)  # (N, 10)
        return torch.log(mean.clamp_min(TINY)), acts
