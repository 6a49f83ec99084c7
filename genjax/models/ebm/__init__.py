"""Energy-based models: the ``ebm`` family (contrastive divergence, NCE, score matching on an energy)."""

from genjax.models.ebm.family import build

__all__ = ["build"]
