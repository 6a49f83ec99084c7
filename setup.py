"""genjax: deep generative models as pure functions in JAX/Flax.

Not the probabilistic-programming package named ``genjax`` on PyPI.
"""

from setuptools import find_packages, setup

setup(
    name="genjax-dgm",
    version="0.1.0",
    description="A functional research codebase for deep generative models in JAX/Flax.",
    packages=find_packages(include=["genjax", "genjax.*"]),
    # The bundled feature networks' weights (small; each reproduces from its training script).
    package_data={"genjax.features": ["weights/*.npz"]},
    python_requires=">=3.10",
    install_requires=[
        "jax>=0.4.35",
        "flax>=0.10",
        "optax>=0.2.3",
        "chex>=0.1.87",  # trace-time shape assertions in the pure modules; test helpers
        "orbax-checkpoint>=0.10",
        "tensorflow-datasets>=4.9.7",
        "importlib_resources",  # tfds imports it; TensorFlow itself is never needed
        "grain>=0.2.2",
        "absl-py",
        "ml-collections>=0.1.1",
        "scikit-learn",  # the bundled 8x8 digits: the offline default dataset
        "numpy",
        "scipy",  # special functions for exact toy densities
        "pillow",
        "matplotlib",
        "tensorboardX",  # pure-Python TensorBoard event writer (clu's writers import TF)
    ],
    extras_require={
        "test": ["pytest>=7", "pytest-xdist>=3", "ruff"],
        # PyTorch (and normflows' flows) are only the peers in experiments/benchmarks;
        # genjax never imports them.
        # prdc and scikit-image are the references the precision/recall, density/coverage,
        # PSNR and SSIM tests compare with.
        # torch-fidelity is the reference for the FID Inception-v3 (tests/features). It requires
        # torchvision, pinned to the build that matches README's torch==2.13.0 so that pip never
        # swaps torch for a newer one; the tests never import torchvision itself.
        # nflows is the reference for the rational-quadratic spline (tests/test_splines.py).
        "benchmark": [
            "torch",
            "normflows",
            "nflows",
            "prdc",
            "scikit-image",
            "torch-fidelity",
            "torchvision==0.28.0",
        ],
    },
)
