"""genjax: a functional research codebase for deep generative models in JAX/Flax."""

__version__ = "0.1.0"
