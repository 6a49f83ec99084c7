"""Score-based models (NCSN): the ``score`` family, one noise-conditional score network over a sigma list."""

from genjax.models.score.family import build

__all__ = ["build"]
