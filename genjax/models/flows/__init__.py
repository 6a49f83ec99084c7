"""Normalizing-flow layers: bijectors with ``forward(x) -> (z, log_det)`` and ``inverse``.

See `genjax.models.flows.bijector` for the direction convention. The family
bundle that trains them is `genjax.models.flow`.
"""

from genjax.models.flows.bijector import Bijector, Chain, Flatten, Reverse, sum_except_batch
from genjax.models.flows.coupling import Coupling, DiagonalScaling, Squeeze, checkerboard

__all__ = [
    "Bijector",
    "Chain",
    "Coupling",
    "DiagonalScaling",
    "Flatten",
    "Reverse",
    "Squeeze",
    "checkerboard",
    "sum_except_batch",
]
