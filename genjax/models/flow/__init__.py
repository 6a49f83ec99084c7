"""Normalizing flows: bijectors with ``forward(x) -> (z, log_det)`` and ``inverse``, and the family.

See `genjax.models.flow.bijector` for the direction convention; ``family.py``
builds the ``flow`` family's bundle from a config.
"""

from genjax.models.flow.autoregressive import IAF, MAF
from genjax.models.flow.bijector import Bijector, Chain, Flatten, Reverse
from genjax.models.flow.coupling import Coupling, DiagonalScaling, Squeeze, checkerboard
from genjax.models.flow.family import build, make_flow
from genjax.models.flow.glow import ActNorm, InvertibleLinear, glow_step
from genjax.models.flow.multiscale import MultiScale, glow_multiscale, realnvp_multiscale
from genjax.models.flow.planar import Planar
from genjax.models.flow.radial import Radial
from genjax.models.flow.spline import SplineAutoregressive, SplineCoupling
from genjax.models.networks.made import MADE, MaskedDense

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
    "SplineAutoregressive",
    "SplineCoupling",
    "build",
    "make_flow",
    "Squeeze",
    "checkerboard",
    "glow_multiscale",
    "glow_step",
    "realnvp_multiscale",
]
