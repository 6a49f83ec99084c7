"""Hierarchical VAEs: the `HVAE` module (IWAE-paper stack or ladder) and the ``hvae`` family."""

from genjax.models.hvae.family import HVAE, build

__all__ = ["HVAE", "build"]
