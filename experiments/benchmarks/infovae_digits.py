"""InfoVAE beside the plain VAE on binarized 8x8 digits: IWAE test NLL and how well q(z) matches p(z).

Trains ``vae.py:digits`` (the ELBO) and ``vae.py:digits_infovae``, plus the
InfoVAE at each extra ``--extra=ALPHA:LAMBDA`` pair, with the same seed and
steps, and reports for each the loop's test figures (the IWAE estimate with
k = 100, the ELBO, the KL), the squared MMD between the aggregate posterior q(z)
of the 297 test digits (one draw each) and 5000 N(0, I) draws (the quantity
InfoVAE penalises, with `genjax.losses.mmd_penalty`'s Gaussian kernel, but the
unbiased estimate), and
the squared MMD between 1000 samples and the test digits (`genjax.metrics.mmd`,
RBF kernel at the median bandwidth, unbiased)::

    python -m experiments.benchmarks.infovae_digits --workdir=/tmp/infovae_digits \\
        --extra=0:100,1:1000 --json=experiments/benchmarks/results/infovae_digits.json
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from absl import app, flags

from experiments.benchmarks.reports import report_header, write_json
from experiments.cli import parse_flags, run_or_exit

_WORKDIR = flags.DEFINE_string("workdir", None, "Parent of one run directory per variant.")
_NUM_STEPS = flags.DEFINE_integer("num_steps", 0, "Training steps per run (0: the config's).")
_EXTRA = flags.DEFINE_list("extra", [], "Extra InfoVAE runs, each ALPHA:LAMBDA, e.g. 0:100,1:1000.")
_JSON = flags.DEFINE_string("json", None, "Also write the results here.")
flags.mark_flag_as_required("workdir")


def _posterior_prior_mmd(config, dataset, params) -> float:
    """Unbiased squared MMD between one q(z | x) draw per test digit and 5000 prior draws.

    The kernel is `mmd_penalty`'s Gaussian (variance L); the U-statistic is 0 in
    expectation when q(z) = p(z), unlike the penalty's V-statistic, whose floor is ~1/B.
    """
    import functools
    import math

    import jax
    import numpy as np

    from genjax import losses, metrics
    from genjax.data import eval_batches
    from genjax.models.vae import VAE

    m = config.model
    module = VAE(
        element_shape=dataset.element_shape,
        latent_dim=m.latent_dim,
        hidden_sizes=tuple(m.hidden_sizes),
        activation=m.activation,
    )
    x = np.concatenate([b["x"][b["mask"] > 0] for b in eval_batches(dataset, config.data, split="test")])
    mean, log_var = module.apply(params["model"], x, method=VAE.encode)
    rng_q, rng_p = jax.random.split(jax.random.key(7))
    z_q = losses.reparameterize(rng_q, mean, log_var)
    z_p = jax.random.normal(rng_p, (5000, m.latent_dim))
    kernel = functools.partial(metrics.rbf_kernel, bandwidth=math.sqrt(m.latent_dim))
    return float(metrics.mmd(z_q, z_p, kernel=kernel, unbiased=True))


def run_one(variant: str, weights: tuple[float, float] | None, workdir: str, num_steps: int) -> dict:
    import jax
    import numpy as np

    from experiments.configs import vae as vae_configs
    from genjax import metrics
    from genjax.data import eval_batches
    from genjax.train import train_and_evaluate
    from genjax.train.restore import restore_from_workdir

    config = vae_configs.get_config(variant)
    if weights is not None:
        config.model.update(info_alpha=weights[0], info_lambda=weights[1])
    if num_steps:
        config.train.update(num_steps=num_steps, eval_every=num_steps // 3, checkpoint_every=num_steps // 3)
    config.train.sample_every = 0
    started = time.perf_counter()
    final = train_and_evaluate(config, workdir, print_fn=lambda *_: None)
    seconds = time.perf_counter() - started
    model, dataset, state, _ = restore_from_workdir(config, workdir)
    params = state.eval_params()
    samples = np.asarray(jax.jit(model.sample, static_argnums=2)(params, jax.random.key(0), 1000))
    # The test digits at their grey values in [0, 1], as the decoder's means are.
    grey = {**config.data.to_dict(), "binarize": "none"}
    test = np.concatenate([b["x"][b["mask"] > 0] for b in eval_batches(dataset, grey, split="test")])
    return {
        "variant": variant,
        "objective": config.model.objective,
        "info_alpha": config.model.info_alpha if config.model.objective == "infovae" else None,
        "info_lambda": config.model.info_lambda if config.model.objective == "infovae" else None,
        "num_steps": config.train.num_steps,
        "selected_step": final["selection/step"],
        "train_seconds": round(seconds, 1),
        "test_iwae_nll": round(final["test/nll"], 3),
        "test_bits_per_dim": round(final["test/bits_per_dim"], 4),
        "test_elbo": round(final["test/elbo"], 3),
        "test_kl": round(final["test/kl"], 3),
        "posterior_prior_mmd2_unbiased": round(_posterior_prior_mmd(config, dataset, params), 5),
        "samples_test_mmd2": round(
            float(metrics.mmd(samples.reshape(1000, -1), test.reshape(len(test), -1))), 5
        ),
    }


def main(argv):
    del argv

    def run():
        runs = [("digits", None), ("digits_infovae", None)]
        runs += [("digits_infovae", tuple(float(v) for v in pair.split(":"))) for pair in _EXTRA.value]
        report = {**report_header("infovae_digits"), "seed": 0, "results": []}
        for variant, weights in runs:
            name = variant if weights is None else f"{variant}_alpha{weights[0]:g}_lambda{weights[1]:g}"
            entry = run_one(variant, weights, str(Path(_WORKDIR.value) / name), _NUM_STEPS.value)
            print(json.dumps(entry), flush=True)
            report["results"].append(entry)
        write_json(_JSON.value, report)
        return report

    print(json.dumps(run_or_exit(run), indent=2))


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
