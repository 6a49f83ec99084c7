"""Exact conditional likelihoods on digits: what knowing the label is worth to a flow and a PixelCNN.

For each ``digits_conditional`` workdir (the flow's multi-scale RealNVP, the
autoregressive family's Gated PixelCNN) it restores the best checkpoint
(selected on validation) and evaluates the test split with the loop's own
inputs (the eval pipeline's fixed dequantization noise):

* ``log p(x | y)`` with the true label, the figure the loop reports;
* the label-free ``log p(x) = logsumexp_k [log pi_k + log p(x | y = k)]`` of the
  mixture the conditional model defines, ``pi`` the training split's class
  frequencies: an exact unconditional likelihood, comparable with the
  unconditional models' rows, and never more than ``-log pi_y`` above
  ``-log p(x | y)`` (``log 10`` nats, 0.052 bits/dim for 64 pixels, with
  balanced classes);
* ``log p(y | x)`` by Bayes' rule, whose argmax is a classifier: its test
  accuracy says how much of the label the density has learnt.

::

    python -m experiments.benchmarks.conditional_likelihood \\
        --workdirs=flow=/tmp/flow_cond,autoregressive=/tmp/ar_cond \\
        --json=experiments/benchmarks/results/conditional_likelihood.json
"""

from __future__ import annotations

import argparse
import json
import math
import time

import jax
import jax.numpy as jnp
import numpy as np


def judge(workdir: str) -> dict:
    """The test split's conditional, mixture and Bayes-classifier figures for one workdir."""
    from genjax.data.pipeline import eval_batches
    from genjax.train.checkpoint import load_config
    from genjax.train.restore import restore_from_workdir

    config = load_config(workdir)
    model, dataset, state, _ = restore_from_workdir(config, workdir, checkpoint="best")
    params = state.ema_params if config.train.ema_decay > 0 else state.params
    num_classes = model.conditioning.num_classes
    train_labels = np.concatenate(
        [batch["label"][batch["mask"] > 0] for batch in eval_batches(dataset, config.data, split="train")]
    )
    log_prior = np.log(np.bincount(train_labels, minlength=num_classes) / len(train_labels))
    score = jax.jit(lambda x, y: model.log_prob(params, {"x": x, "label": y}, None))
    conditional, mixture, correct = [], [], []
    for batch in eval_batches(dataset, config.data, split="test"):
        real = batch["mask"] > 0
        x = jnp.asarray(batch["x"])
        per_label = np.stack(
            [np.asarray(score(x, jnp.full(len(x), k, jnp.int32)), np.float64) for k in range(num_classes)], 1
        )[real]
        labels = batch["label"][real]
        conditional.append(per_label[np.arange(len(labels)), labels])
        joint = per_label + log_prior
        mixture.append(np.logaddexp.reduce(joint, axis=1))
        correct.append(np.argmax(joint, axis=1) == labels)
    conditional, mixture, correct = map(np.concatenate, (conditional, mixture, correct))
    num_dims = math.prod(model.element_shape)

    def bits(nll: float) -> float:
        return nll / (num_dims * math.log(2))

    nll_conditional, nll_mixture = -conditional.mean(), -mixture.mean()
    return {
        "workdir": workdir,
        "config": f"{config.model.name}: {config.model.architecture}",
        "step": int(state.step),
        "num_test": len(conditional),
        "test_nll_given_label": round(float(nll_conditional), 4),
        "test_bits_per_dim_given_label": round(bits(nll_conditional), 4),
        "test_nll_mixture": round(float(nll_mixture), 4),
        "test_bits_per_dim_mixture": round(bits(nll_mixture), 4),
        "bayes_classifier_accuracy": round(float(correct.mean()), 4),
        "label_prior": [round(float(p), 4) for p in np.exp(log_prior)],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdirs", required=True, help="family=path pairs, comma-separated")
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args(argv)
    results = {}
    for item in args.workdirs.split(","):
        family, _, path = item.partition("=")
        start = time.time()
        results[family] = {**judge(path), "wall_seconds": round(time.time() - start, 1)}
        print(json.dumps({family: results[family]}, indent=2))
    if args.json:
        record = {
            "benchmark": "conditional_likelihood",
            "date": time.strftime("%Y-%m-%d"),
            "results": results,
        }
        with open(args.json, "w") as out:
            json.dump(record, out, indent=2)


if __name__ == "__main__":
    main()
