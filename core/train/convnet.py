"""The torch network built from a layer table (the only model module that imports torch).

``ConvNet`` is defined at module level, so a trained model pickles (``torch.save(model)``) and loads
again anywhere ``core.train.convnet`` can be imported. Random numbers come from generators the caller owns
(``build_model(spec, generator=...)`` for the initial weights, ``model.use_generator(g)`` for dropout),
so two students training at once never share or disturb one global random state.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn as nn

from core.arch.spec import INPUT_SHAPE, NUM_CLASSES, ArchSpec
from core.arch.layer_table import LayerRow, layer_table, table_reason


def activation_module(name: str) -> nn.Module:
    # ReLU in place: it always follows a conv, dense or batch-norm layer, whose backward pass needs its
    # input, not its output; saves one activation-sized copy per layer (LeNet-5 epoch 0.28 → 0.23 s here).
    return {
        "relu": lambda: nn.ReLU(inplace=True), "leaky_relu": lambda: nn.LeakyReLU(0.01), "elu": nn.ELU,
        "gelu": nn.GELU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid,
    }[name]()


class SeededDropout(nn.Module):
    """``nn.Dropout`` that draws its mask from a generator the training run owns (None: torch's global one).

    At test time (``eval()``) it is the identity, as ``nn.Dropout`` is, so exported models are unchanged.
    """

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = float(p)
        self.generator: torch.Generator | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        mask = torch.empty_like(x).bernoulli_(keep, generator=self.generator).div_(keep)
        return x * mask

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["generator"] = None  # a run's generator is not part of the trained model
        return state

    def extra_repr(self) -> str:
        return f"p={self.p:g}"


def _module_for(row: LayerRow, spec: ArchSpec, device: Any = None) -> nn.Module | None:
    """The torch module of one table row (None for a row that builds nothing)."""
    layer = spec.layers[row.index] if 0 <= row.index < len(spec.layers) else None
    in_shape = row.in_shape or ()
    if row.kind == "conv":
        return nn.Conv2d(in_shape[0], layer.out_channels, layer.kernel, layer.effective_stride, layer.padding,
                         device=device)
    if row.kind == "pool":
        cls = nn.MaxPool2d if layer.mode == "max" else nn.AvgPool2d
        return cls(layer.size, layer.effective_stride)
    if row.kind == "flatten":
        return nn.Flatten()
    if row.kind == "dense":
        return nn.Linear(in_shape[0], row.out_shape[0], device=device)  # type: ignore[index]
    if row.kind == "batchnorm":
        cls = nn.BatchNorm2d if len(in_shape) == 3 else nn.BatchNorm1d
        return cls(in_shape[0], device=device)
    if row.kind == "dropout":
        return SeededDropout(layer.p)
    if row.kind == "output":
        return nn.Linear(in_shape[0], NUM_CLASSES, device=device)
    return None


class ConvNet(nn.Module):
    """Sequential network built from ``layer_table(spec, in_shape)``; can hand back each conv activation."""

    def __init__(self, spec: ArchSpec, in_shape: tuple[int, int, int] = INPUT_SHAPE, device: Any = None) -> None:
        super().__init__()
        rows = layer_table(spec, in_shape)
        reason = table_reason(rows)
        if reason:
            raise ValueError(reason)
        self.spec = spec
        self.in_shape = tuple(in_shape)
        self.layer_rows = rows
        mods: list[nn.Module] = []
        capture: list[int] = []  # module indices whose output is a conv activation
        pending: LayerRow | None = None  # the conv/dense row whose nonlinearity is still to come

        for row in rows[1:]:
            # The nonlinearity follows a conv/dense layer after any batch norms directly behind it.
            if row.kind != "batchnorm" and pending is not None:
                mods.append(activation_module(spec.activation))
                if pending.kind == "conv":
                    capture.append(len(mods) - 1)
                pending = None
            module = _module_for(row, spec, device)
            if module is not None:
                mods.append(module)
            if row.activation:
                pending = row
        self.layers = nn.ModuleList(mods)
        self.capture = tuple(capture)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, C, H, W) → (N, 10)
        for layer in self.layers:
            x = layer(x)
        return x

    def forward_with_activations(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Logits (N, 10) and the activation after each conv layer's nonlinearity, (N, C, H, W) each."""
        acts: list[torch.Tensor] = []
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i in self.capture:
                acts.append(x)
        return x, acts

    def use_generator(self, generator: torch.Generator | None) -> None:
        """Dropout masks come from ``generator`` from now on (None: torch's global generator)."""
        for module in self.modules():
            if isinstance(module, SeededDropout):
                module.generator = generator


def init_weights(model: nn.Module, generator: torch.Generator, kind: str = "default", sigma: float = 0.1) -> None:
    """Initialise conv and dense layers from ``generator``.

    "default": the same distributions as ``reset_parameters`` (Kaiming-uniform weights with a = √5, biases
    uniform in ±1/√fan_in); "normal": weights and biases from N(0, σ²), as the TensorFlow lesson does;
    "zeros": every weight and bias 0. Batch norm starts at weight 1, bias 0 and running statistics 0/1.
    """
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.reset_parameters()
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                _init_layer(module, generator, kind, sigma)


def _init_layer(module: nn.Module, generator: torch.Generator, kind: str, sigma: float) -> None:
    if kind == "zeros":
        nn.init.zeros_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif kind == "normal":
        nn.init.normal_(module.weight, 0.0, sigma, generator=generator)
        if module.bias is not None:
            nn.init.normal_(module.bias, 0.0, sigma, generator=generator)
    else:
        nn.init.kaiming_uniform_(module.weight, a=math.sqrt(5), generator=generator)
        if module.bias is not None:
            fan_in = module.weight[0].numel()
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            nn.init.uniform_(module.bias, -bound, bound, generator=generator)


def build_model(spec: ArchSpec, in_shape: tuple[int, int, int] = INPUT_SHAPE,
                generator: torch.Generator | None = None, init: str = "default", sigma: float = 0.1) -> ConvNet:
    """The ``ConvNet`` for ``spec``; ``ValueError`` with the table's reason if the stack is impossible.

    With a ``generator`` the initial weights are drawn from it as ``init`` says (see ``init_weights``;
    reproducible, touches no global state); without one, torch's global RNG draws them as usual.
    """
    if generator is None:
        return ConvNet(spec, in_shape)
    # Built without storage ("meta"), so the modules' own initialisation draws nothing from the global RNG.
    model = ConvNet(spec, in_shape, device="meta").to_empty(device="cpu")
    init_weights(model, generator, init, sigma)
    return model


def seeded_model(spec: ArchSpec, in_shape: tuple[int, int, int], seed: int, init: str = "default",
                 sigma: float = 0.1) -> ConvNet:
    """The network exactly as a training run with this seed and initialisation starts it."""
    return build_model(spec, in_shape, generator=torch.Generator().manual_seed(seed), init=init, sigma=sigma)


def first_conv_weight(model: nn.Module) -> "Any | None":
    """The first conv layer's kernels as a NumPy array (out, in, k, k), or None for a network without conv."""
    for layer in model.layers:
        if isinstance(layer, nn.Conv2d):
            return layer.weight.detach().cpu().numpy().copy()
    return None


__all__ = ["ConvNet", "SeededDropout", "activation_module", "build_model", "first_conv_weight", "init_weights",
           "seeded_model"]
