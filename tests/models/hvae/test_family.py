"""The hvae family: both posteriors build and train, log_prob is the IWAE estimate, bad fields are refused."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from experiments.configs import hvae as hvae_config
from genjax import losses, models
from genjax.errors import ConfigError
from genjax.spec import DataSpec
from tests.models.family_checks import check_bad_field, check_every_variant_builds

DIGITS = DataSpec(name="digits", element_shape=(8, 8, 1), num_levels=17)


def build(**model):
    config = hvae_config.get_config("smoke")
    config.model.update(**model)
    return models.build(config, DIGITS)


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(0)
    # Binary images with structure (a noisy half-plane per example) so that there is something to learn.
    rows = np.arange(8)[None, :, None, None]
    cut = rng.integers(2, 6, size=(32, 1, 1, 1))
    clean = (rows < cut).astype(np.float32) * np.ones((32, 8, 8, 1), np.float32)
    flips = rng.random(clean.shape) < 0.05
    return {"x": np.where(flips, 1.0 - clean, clean).astype(np.float32)}


def checks(model, batch, num_steps):
    """One compiled function: ``num_steps`` Adam steps, then every output at the trained parameters."""
    loss_fn = model.losses["model"]
    optimizer = optax.adam(1e-2)

    @jax.jit
    def run(init_key):
        params = model.init(init_key, batch)

        def step(carry, key):
            params, opt_state = carry
            grad = jax.grad(lambda p: loss_fn(p, batch, key)[0])(params)
            updates, opt_state = optimizer.update(grad, opt_state)
            return (optax.apply_updates(params, updates), opt_state), None

        keys = jax.random.split(jax.random.key(2), num_steps)
        (trained, _), _ = jax.lax.scan(step, (params, optimizer.init(params)), keys)
        key = jax.random.key(3)
        return params, {
            "trained": trained,
            "loss_before": loss_fn(params, batch, key)[0],
            "loss_after": loss_fn(trained, batch, key)[0],
            "log_prob": model.log_prob(trained, batch, jax.random.key(4)),
            "metrics": model.eval_metrics(trained, batch, jax.random.key(4)),
            "samples": model.sample(trained, jax.random.key(5), 6),
        }

    return run(jax.random.key(0))


@pytest.mark.slow
@pytest.mark.parametrize(
    "architecture, num_steps, layers",
    [
        ("iwae", 60, {}),
        ("ladder", 60, {"hidden_sizes": (32, 16, 8), "latent_dims": (8, 4, 2)}),
    ],
)
def test_short_training_lowers_the_loss_and_every_parameter_gets_a_gradient(
    architecture, num_steps, layers, batch
):
    initial, out = checks(build(architecture=architecture, num_hidden_layers=1, **layers), batch, num_steps)
    # Adam moves exactly the parameters that ever had a non-zero gradient: all but the
    # log-scale, which the Bernoulli likelihood does not use.
    moved = jax.tree.map(lambda a, b: bool(np.any(np.asarray(a) != np.asarray(b))), initial, out["trained"])
    for path, changed in jax.tree_util.tree_leaves_with_path(moved):
        assert changed == ("log_scale" not in jax.tree_util.keystr(path)), jax.tree_util.keystr(path)
    assert float(out["loss_after"]) < float(out["loss_before"]) - 5.0
    # log_prob is the IWAE estimate: per example, and on average above the 1-sample ELBO.
    log_prob, metrics = out["log_prob"], out["metrics"]
    assert log_prob.shape == (32,) and np.all(np.isfinite(log_prob))
    assert float(log_prob.mean()) >= float(metrics["elbo"].mean())
    num_layers = len(layers.get("latent_dims", (0, 0)))
    per_layer = sum(metrics[f"kl_z{i + 1}"] for i in range(num_layers))
    np.testing.assert_allclose(metrics["kl"], per_layer, rtol=1e-5)
    assert out["samples"].shape == (6, 8, 8, 1)
    assert np.all((out["samples"] >= 0) & (out["samples"] <= 1))


def test_iwae_objective_is_at_least_the_elbo_objective_on_the_same_draws(batch):
    elbo_model, iwae_model = (
        build(num_train_samples=5, num_hidden_layers=1),
        build(objective="iwae", num_train_samples=5, num_hidden_layers=1),
    )

    @jax.jit
    def both(init_key):
        params, key = elbo_model.init(init_key, batch), jax.random.key(1)
        return elbo_model.losses["model"](params, batch, key)[0], iwae_model.losses["model"](
            params, batch, key
        )[0]

    elbo_loss, iwae_loss = both(jax.random.key(0))
    # Same draws: log-mean-exp of the log weights is at least their mean (Jensen), strictly
    # unless every weight is equal, so the IWAE loss is the lower one.
    assert float(iwae_loss) < float(elbo_loss)


def test_every_variant_builds_and_bad_fields_are_refused():
    check_every_variant_builds(hvae_config)
    check_bad_field(hvae_config, "smoke", "architecture", "resnet")
    check_bad_field(hvae_config, "smoke", "objective", "kl")
    check_bad_field(hvae_config, "smoke", "latent_dims", (8,))
    check_bad_field(hvae_config, "smoke", "hidden_sizes", (32, 16, 8))
    check_bad_field(hvae_config, "smoke", "num_train_samples", 0)
    check_bad_field(hvae_config, "smoke", "likelihood", "poisson")
    config = hvae_config.get_config("smoke")
    config.train.compute_dtype = "bfloat16"
    with pytest.raises(ConfigError, match="train.compute_dtype"):
        models.build(config, DIGITS)
    with pytest.raises(ValueError, match="chunk_size"):
        losses.hierarchical_iwae_bound(
            jax.random.key(0), [], None, jnp.zeros((2, 3)), num_samples=5, chunk_size=2
        )
