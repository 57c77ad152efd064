"""Peak memory of a training job, from the layer table's rows (no torch).

Parts: activations kept for the backward pass and gradients in flight (training, per batch), parameters
with their gradients and optimizer state, the images on the device, and one evaluation batch.

Evaluation runs after training steps in the same process, and the memory those steps took stays with
the process (torch's CPU allocator and glibc keep freed blocks for reuse): evaluation does not reuse the
training heap, it comes on top of it. So the peak is parameters + data + training + evaluation, and the
evaluation batch is chosen to fit what is left of the budget after all three.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

BYTES_PER_VALUE = 4  # float32
OPTIMIZER_TEMPORARIES = 2  # parameter-sized temporaries of one optimizer step (foreach updates)
MB = 1024 * 1024


def format_bytes(n: float) -> str:
    if n >= 1024 * MB:
        return f"{n / (1024 * MB):,.1f} GB"
    if n >= MB:
        return f"{n / MB:,.1f} MB"
    return f"{n / 1024:,.1f} KB"


def _size(shape: Sequence[int]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes one training job needs at its peak, by part (see the module docstring for the model)."""

    batch_size: int
    activations: int  # kept for the backward pass, whole batch
    backward: int  # gradients in flight during the backward pass
    parameters: int  # weights, gradients, optimizer state and the optimizer step's temporaries
    data: int  # the training and validation images on the device
    eval_batch: int  # images per evaluation batch
    evaluation: int  # one evaluation batch in flight (no gradients)

    @property
    def training(self) -> int:
        return self.activations + self.backward

    @property
    def total(self) -> int:
        """Peak: parameters and data stay, and evaluation comes on top of the training steps' memory,
        which the process keeps (see the module docstring)."""
        return self.parameters + self.data + self.training + self.evaluation

    def text(self) -> str:
        """The parts, e.g. "activations 21.0 MB for a batch of 128 + gradients in flight 2.3 MB + ..."."""
        return (f"activations {format_bytes(self.activations)} for a batch of {self.batch_size} + gradients in "
                f"flight {format_bytes(self.backward)} + parameters with gradients and optimizer state "
                f"{format_bytes(self.parameters)} + data {format_bytes(self.data)} + evaluation "
                f"{format_bytes(self.evaluation)} for a batch of {self.eval_batch}")


def per_image_training_values(rows: Sequence[Any]) -> tuple[int, int]:
    """(values kept for the backward pass, values of gradients in flight) for one image."""
    kept = sum(r.kept_values for r in rows)
    largest = max((r.size for r in rows[1:] if r.out_shape is not None), default=0)
    return kept, 2 * largest


def per_image_eval_values(rows: Sequence[Any]) -> int:
    """The most values one image needs at once without gradients: a layer's input and output together,
    plus what it builds besides (a max pooling's int64 indices)."""
    return max((_size(r.in_shape or ()) + r.size + r.eval_extra_values for r in rows[1:] if r.out_shape is not None),
               default=0)


def estimate_memory(rows: Sequence[Any], batch_size: int, optimizer_copies: int = 2,
                    data_values: int = 0, eval_batch: int = 256, data_bytes: int | None = None) -> MemoryEstimate:
    """The training job's peak memory for these rows (``optimizer_copies``: Adam keeps 2, SGD 1).

    The images on the device are ``data_bytes`` (training keeps them as uint8: 1 byte per value, each
    batch made float32 when used, which the input row's kept values count), or ``data_values`` float32s."""
    kept, in_flight = per_image_training_values(rows)
    params = sum(r.params for r in rows)
    return MemoryEstimate(
        batch_size=batch_size,
        activations=kept * batch_size * BYTES_PER_VALUE,
        backward=in_flight * batch_size * BYTES_PER_VALUE,
        parameters=params * (2 + optimizer_copies + OPTIMIZER_TEMPORARIES) * BYTES_PER_VALUE,
        data=data_values * BYTES_PER_VALUE if data_bytes is None else data_bytes,
        eval_batch=eval_batch,
        evaluation=per_image_eval_values(rows) * eval_batch * BYTES_PER_VALUE,
    )


def eval_batch_within(rows: Sequence[Any], budget_bytes: int, fixed_bytes: int, largest: int = 1024) -> int:
    """The largest power-of-two evaluation batch (≤ ``largest``, ≥ 1) whose peak fits the budget;
    ``fixed_bytes``: what stays resident meanwhile (parameters, data and the training steps' memory)."""
    per_image = max(1, per_image_eval_values(rows) * BYTES_PER_VALUE)
    batch = largest
    while batch > 1 and fixed_bytes + per_image * batch > budget_bytes:
        batch //= 2
    return batch
