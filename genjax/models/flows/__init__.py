"""Normalizing-flow layers: bijectors with ``forward(x) -> (z, log_det)`` and ``inverse``.

See `genjax.models.flows.bijector` for the direction convention. The family
bundle that trains them is `genjax.models.flow`.
"""

from genjax.models.flows.autoregressive import IAF, MAF
from genjax.models.flows.bijector import Bijector, Chain, Flatten, Reverse, sum_except_batch
from genjax.models.flows.coupling import Coupling, DiagonalScaling, Squeeze, checkerboard
from genjax.models.flows.glow import ActNorm, InvertibleLinear, glow_step
from genjax.models.flows.made import MADE, MaskedDense
from genjax.models.flows.multiscale import MultiScale, glow_multiscale, realnvp_multiscale
from genjax.models.flows.planar import Planar
from genjax.models.flows.radial import Radial

__all__ = [
    "IAF",
    "MADE",
    "MAF",
    "ActNorm",
    "Bijector",
    "Chain",
    "Coupling",
    "DiagonalScaling",
    "Flatten",
    "InvertibleLinear",
    "MaskedDense",
    "MultiScale",
    "Planar",
    "Radial",
    "Reverse",
    "Squeeze",
    "checkerboard",
    "glow_multiscale",
    "glow_step",
    "realnvp_multiscale",
    "sum_except_batch",
]
