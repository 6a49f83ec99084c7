"""Kernel density estimation: the ``kde`` family, `fit_kde` (bandwidth on validation) and `kde_params`."""

from genjax.models.kde.family import KDEFit, build, fit_kde, kde_params

__all__ = ["KDEFit", "build", "fit_kde", "kde_params"]
