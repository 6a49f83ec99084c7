"""Normalizing flows: NICE, RealNVP, Glow, MAF, IAF, neural spline flows, planar and radial.

Variants are ``<architecture>_<data>`` (plus ``smoke``):

* architectures: nice, realnvp, glow, maf, iaf, nsf_coupling, nsf_autoregressive
  (rational-quadratic neural spline flows, Durkan et al. 2019), planar, radial;
* data: the eight toy2d densities (8gaussians, 25gaussians, ring, two_moons,
  checkerboard, swiss_roll, pinwheel, circles); ``digits`` (scikit-learn's 8x8
  digits, 17 levels, dequantized); ``binarized_mnist`` (the shared 28x28 file,
  2 levels, dequantized); ``tfds_mnist`` and ``tfds_cifar10`` for users who have
  prepared those TFDS datasets (``tfds build mnist``).

Examples::

    python -m experiments.train --config=experiments/configs/flow.py:realnvp_8gaussians --workdir=/tmp/rnvp
    python -m experiments.train --config=experiments/configs/flow.py:glow_digits --workdir=/tmp/glow
    python -m experiments.train --config=experiments/configs/flow.py:nsf_coupling_checkerboard \
        --workdir=/tmp/nsf
    python -m experiments.train --config=experiments/configs/flow.py:maf_checkerboard --workdir=/tmp/maf
    python -m experiments.train --config=experiments/configs/flow.py:nsf_autoregressive_digits \
        --workdir=/tmp/nsfa
    python -m experiments.sample --workdir=/tmp/glow --temperature=0.7

and the tiny local variant the tests run::

    python -m experiments.train --config=experiments/configs/flow.py:smoke --workdir=/tmp/flow_smoke

Conditional flows p(x | y) (``model.conditional=True``; every coupling
conditioner or MADE also sees y): ``<variant>_conditional`` for the nice,
realnvp, glow, maf and iaf variants on labelled data, the mixture toys
(8gaussians, 25gaussians, ring, whose component is the label under
``data.component_labels``) and digits; ``digits_conditional`` (class-conditional
multi-scale RealNVP on digits, selected on validation) and ``smoke_conditional``
(tests, notebooks)::

    python -m experiments.train --config=experiments/configs/flow.py:digits_conditional \
        --workdir=/tmp/flow_cond
    python -m experiments.sample --workdir=/tmp/flow_cond --label=3

Likelihoods are exact; on discrete data they are reported in the original
discrete space (dequantization accounted for), so bits/dim compare with papers.
"""

from __future__ import annotations

import ml_collections

from experiments.configs.common import TOY2D, adam, base_config, shared_data_path, split_variant

ARCHITECTURES = (
    "nice",
    "realnvp",
    "glow",
    "maf",
    "iaf",
    "nsf_coupling",
    "nsf_autoregressive",
    "planar",
    "radial",
)
SPLINES = ("nsf_coupling", "nsf_autoregressive")
IMAGES = ("digits", "binarized_mnist", "tfds_mnist", "tfds_cifar10")
# Conditional variants: architectures with a conditioner network, data with labels.
CONDITIONAL_ARCHITECTURES = ("nice", "realnvp", "glow", "maf", "iaf", "nsf_coupling", "nsf_autoregressive")
LABELLED_DATA = ("8gaussians", "25gaussians", "ring", "digits")
CONDITIONAL_VARIANTS = (
    "smoke_conditional",
    "digits_conditional",
    *(f"{arch}_{data}_conditional" for arch in CONDITIONAL_ARCHITECTURES for data in LABELLED_DATA),
)
VARIANTS = (
    "smoke",
    *(f"{arch}_{data}" for arch in ARCHITECTURES for data in TOY2D + IMAGES),
    *CONDITIONAL_VARIANTS,
)

# Per architecture: (num_layers, hidden_sizes) for 2-D data and for images.
_TOY2D_SIZES = {
    # Many narrow layers beat few wide ones on 2-D data at the same cost: each
    # coupling (or MADE) layer only bends one coordinate as a function of the other.
    "nice": (16, (64, 64)),
    "realnvp": (16, (64, 64)),
    "glow": (16, (64, 64)),
    "maf": (16, (64, 64)),
    "iaf": (16, (64, 64)),
    # A spline layer bends a coordinate in K pieces, so far fewer layers are needed.
    "nsf_coupling": (8, (64, 64)),
    "nsf_autoregressive": (8, (64, 64)),
    "planar": (32, ()),
    "radial": (32, ()),
}
_IMAGE_SIZES = {
    # Sized for the 1500 digits: wider MLPs memorise them (test NLL rises after ~1k steps).
    "nice": (4, (256, 256)),
    "realnvp": (1, (64, 64)),
    "glow": (1, (64, 64)),
    "maf": (5, (128, 128)),
    "iaf": (5, (128, 128)),
    "nsf_coupling": (5, (128, 128)),
    "nsf_autoregressive": (5, (128, 128)),
    "planar": (16, ()),
    "radial": (16, ()),
}


def _model_defaults(architecture: str) -> dict:
    spline = {"num_bins": 8, "tail_bound": 3.0} if architecture in SPLINES else {}
    return {
        **spline,
        "architecture": architecture,
        "num_layers": 8,
        "hidden_sizes": (128, 128),
        "num_scales": 2,
        "steps_per_scale": 4,
        # Glow's sigmoid scale; RealNVP's learned tanh bound otherwise.
        "scale_fn": "sigmoid" if architecture == "glow" else "tanh",
        "lu": True,
        "activation": "relu",
        "base": "logistic" if architecture == "nice" else "normal",
        "preprocess": "none",
        "logit_alpha": 0.05,
        "temperature": 1.0,
    }


def get_config(variant: str | None = None) -> ml_collections.ConfigDict:
    variant = variant or "realnvp_digits"
    if variant.endswith("_conditional"):
        return _conditional_config(variant)
    architecture, data = split_variant(variant, ARCHITECTURES, TOY2D + IMAGES, smoke=("realnvp", "digits"))
    config = base_config("flow")
    config.model.update(_model_defaults(architecture))
    config.optim.model = adam(1e-3, schedule="cosine", grad_clip_norm=100.0)
    config.train.update(steps_per_call=100, eval_every=0, sample_every=0)

    if data in TOY2D:
        num_layers, hidden = _TOY2D_SIZES[architecture]
        config.model.update(num_layers=num_layers, hidden_sizes=hidden)
        if architecture in SPLINES:
            # The toys live in about [-4.5, 4.5]^2; the splines must cover them, tails are the identity.
            config.model.tail_bound = 5.0
        config.data.update(name=f"toy2d:{data}", batch_size=256, num_test=100_000, eval_batch_size=10_000)
        # About 4 minutes on 2 idle CPU cores for the coupling and autoregressive flows.
        config.train.update(num_steps=100_000, log_every=10_000, checkpoint_every=20_000, sample_every=50_000)
        if architecture in SPLINES:
            # Each step costs ~2x a RealNVP step; 40k steps stay within 5 CPU minutes (BENCHMARKS.md).
            config.train.update(num_steps=40_000, log_every=5_000, sample_every=20_000)
        if architecture in ("realnvp", "maf") and data == "checkerboard":
            # Chosen on the validation split (docs/decisions.md, issue 19): 100k steps cost ~520 CPU s;
            # batch 512 beat a 3x larger step size, and the step counts fit 5 CPU minutes (MAF's
            # MADE costs ~20% more per step than RealNVP's couplings).
            config.data.batch_size = 512
            steps = 35_000 if architecture == "realnvp" else 30_000
            config.train.update(num_steps=steps, log_every=5_000, sample_every=20_000)
        config.eval.num_samples = 5_000
    else:
        num_layers, hidden = _IMAGE_SIZES[architecture]
        config.model.update(num_layers=num_layers, hidden_sizes=hidden, preprocess="logit")
        config.data.update(name="digits", dequantize=True, batch_size=128, eval_batch_size=500)
        # 1500 training images: every flow here overfits beyond ~2000 steps (170 epochs).
        config.train.update(num_steps=2_000, log_every=500, checkpoint_every=1_000, sample_every=1_000)
        if data == "binarized_mnist":
            config.data.update(
                name="npz:" + shared_data_path("binarized_mnist.npz"), validation_split="valid"
            )
            config.model.num_scales = 2
        elif data == "tfds_mnist":
            config.data.update(name="tfds:mnist")
        elif data == "tfds_cifar10":
            config.data.update(name="tfds:cifar10")
            config.model.update(num_scales=3, steps_per_scale=8, hidden_sizes=(256, 256))
        if data != "digits":
            config.train.update(
                num_steps=100_000, log_every=1_000, checkpoint_every=5_000, sample_every=20_000
            )
            config.data.batch_size = 64
            config.optim.model = adam(
                1e-3, schedule="warmup_cosine", warmup_steps=1_000, grad_clip_norm=100.0
            )

    if architecture in SPLINES and data == "digits":
        # The spline MLP flows memorise the 1350 training digits within 2000 steps (train NLL 61 against
        # test 104 nats at the last step): keep the step with the best validation NLL.
        config.train.update(eval_every=250, select_by="validation/nll")
        config.eval.num_batches = None

    if variant == "smoke":
        config.model.update(hidden_sizes=(16,), steps_per_scale=2)
        config.data.batch_size = 32
        config.train.update(
            num_steps=20, steps_per_call=5, log_every=10, eval_every=10, checkpoint_every=10, sample_every=10
        )
        config.eval.update(num_batches=1, num_samples=16)
    return config


def _conditional_config(variant: str) -> ml_collections.ConfigDict:
    """``<variant>_conditional``: the unconditional variant with ``model.conditional=True`` on labels."""
    if variant not in CONDITIONAL_VARIANTS:
        raise ValueError(f"config variant: got {variant!r}; allowed: {', '.join(CONDITIONAL_VARIANTS)}")
    base = {"smoke_conditional": "smoke", "digits_conditional": "realnvp_digits"}
    config = get_config(base.get(variant, variant.removesuffix("_conditional")))
    config.model.conditional = True
    if config.data.name.startswith("toy2d:"):
        config.data.component_labels = True  # the mixture component is the label
    if variant == "digits_conditional":
        # Select on validation: with y the flow has 10 more inputs per conditioner and overfits the
        # 1350 training digits sooner than the unconditional one (see BENCHMARKS.md).
        config.train.update(eval_every=250, select_by="validation/nll")
        config.eval.num_batches = None
    return config
