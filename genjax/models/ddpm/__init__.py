"""DDPM: the ``ddpm`` family (eps-prediction loss, DDPM/DDIM sampling, the full variational bound)."""

from genjax.models.ddpm.family import build

__all__ = ["build"]
