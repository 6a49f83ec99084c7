"""Conditional flows p(x | y): exact per-label densities, bijections for every fixed y, and a fit
to a mixture whose components are the labels, where p(x | y) is known in closed form."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from experiments.configs import flow as flow_configs
from genjax import models
from genjax.data import load_dataset
from genjax.errors import ConfigError
from genjax.models.flow import IAF, MAF, Coupling, glow_multiscale, glow_step, realnvp_multiscale
from genjax.models.flow.spline import SplineAutoregressive, SplineCoupling
from genjax.spec import DataSpec
from tests.models.flow.bijector_checks import jitter

NUM_CLASSES = 3


BIJECTORS = {
    "affine_coupling": (lambda: Coupling((8,), parity=1), (5, 4)),
    "additive_coupling": (lambda: Coupling((8,), affine=False), (5, 4)),
    "checkerboard_coupling": (lambda: Coupling((4,), mask="checkerboard"), (3, 4, 4, 2)),
    "glow_step": (lambda: glow_step((8,)), (5, 4)),
    "maf": (lambda: MAF(hidden_sizes=(8,)), (5, 3)),
    "iaf": (lambda: IAF(hidden_sizes=(8,)), (5, 3)),
    "spline_coupling": (lambda: SplineCoupling((8,), num_bins=4, parity=1), (5, 4)),
    "spline_autoregressive": (lambda: SplineAutoregressive((8,), num_bins=4), (5, 3)),
    "realnvp_multiscale": (
        lambda: realnvp_multiscale((4, 4, 1), num_scales=2, hidden_channels=(4,)),
        (3, 4, 4, 1),
    ),
    "glow_multiscale": (
        lambda: glow_multiscale((4, 4, 1), num_levels=1, steps_per_level=2, hidden_channels=(4,)),
        (3, 4, 4, 1),
    ),
}


def _fixed_y_checks(layer):
    """One compiled ``(params, x, row) -> (z, log_det, x_back, inverse_log_det, autodiff_log_det)``
    with y's features fixed to ``row`` `[C]` for every example (as `check_bijector` does for
    unconditional layers; here y is a traced argument, so every label shares one compilation)."""

    @jax.jit
    def checks(params, x, row):
        context = jnp.broadcast_to(row, (x.shape[0], row.shape[0]))
        z, log_det = layer.apply(params, x, context, method="forward")
        x_back, inverse_log_det = layer.apply(params, z, context, method="inverse")

        def forward_one(flat):
            one = layer.apply(params, flat.reshape(1, *x.shape[1:]), context[:1], method="forward")[0]
            return one.reshape(-1)

        jacobians = jax.vmap(jax.jacfwd(forward_one))(x.reshape(x.shape[0], -1))
        return z, log_det, x_back, inverse_log_det, jnp.linalg.slogdet(jacobians)

    return checks


@pytest.mark.parametrize("name", BIJECTORS)
def test_conditional_bijectors_invert_exactly_with_autodiff_log_det_for_each_fixed_y(name):
    make, shape = BIJECTORS[name]
    layer = make()
    x = jax.random.uniform(jax.random.key(0), shape, minval=-1.0, maxval=1.0)
    rows = jnp.eye(NUM_CLASSES)
    context = jnp.broadcast_to(rows[0], (shape[0], NUM_CLASSES))
    variables = jax.jit(lambda key, x, c: layer.init(key, x, c, method="forward"))(
        jax.random.key(1), x, context
    )
    params = jitter(variables, scale=0.1, seed=2)
    checks = _fixed_y_checks(layer)
    latents = []
    for label in (0, 2):
        z, log_det, x_back, inverse_log_det, (sign, autodiff_log_det) = checks(params, x, rows[label])
        np.testing.assert_allclose(x_back, x, atol=2e-4, rtol=1e-4)
        np.testing.assert_allclose(inverse_log_det, -log_det, atol=2e-4, rtol=1e-4)
        assert np.all(np.asarray(sign) != 0)
        np.testing.assert_allclose(log_det, autodiff_log_det, atol=2e-3, rtol=1e-4)
        latents.append(z)
    # The conditioners see y: another label is another bijection.
    assert float(jnp.max(jnp.abs(latents[0] - latents[1]))) > 1e-2


def _spec(num_classes=NUM_CLASSES):
    return DataSpec((2,), None, num_classes=num_classes, name="labelled2d")


def _conditional_config(architecture, **model):
    config = flow_configs.get_config(f"{architecture}_8gaussians_conditional")
    config.model.update({"num_layers": 4, "hidden_sizes": (16,), **model})
    return config


# Coupling (affine and Glow's) and MADE conditioners; NICE's additive coupling and IAF's MADE are
# the same context paths (the bijector test above covers them).
@pytest.mark.slow
@pytest.mark.parametrize("architecture", ["realnvp", "glow", "maf"])
def test_random_conditional_2d_flow_integrates_to_one_for_every_label(architecture):
    model = models.build(_conditional_config(architecture), _spec())
    init = {"x": 2 * jax.random.normal(jax.random.key(0), (64, 2)), "label": jnp.arange(64) % NUM_CLASSES}
    params = {"model": jitter(model.init(jax.random.key(1), init)["model"], scale=0.1, seed=3)}
    half_width, resolution = 12.0, 600
    cell = 2 * half_width / resolution
    centres = -half_width + cell * (np.arange(resolution) + 0.5)
    grid = jnp.asarray(np.stack(np.meshgrid(centres, centres), -1).reshape(-1, 2), jnp.float32)
    density = jax.jit(lambda x, y: jnp.exp(model.log_prob(params, {"x": x, "label": y}, None)))
    log_q = [density(grid, jnp.full(len(grid), k, jnp.int32)) for k in range(NUM_CLASSES)]
    masses = [float(jnp.sum(q)) * cell**2 for q in log_q]
    np.testing.assert_allclose(masses, 1.0, atol=1e-2)
    assert float(jnp.max(jnp.abs(log_q[0] - log_q[1]))) > 1e-3  # three different densities


@pytest.fixture(scope="module")
def labelled_8gaussians():
    config = _conditional_config("realnvp")
    config.data.update(num_test=20_000)
    return config, load_dataset(config.data)


def _fit(model, dataset, *, steps: int, batch_size: int = 256, learning_rate: float = 5e-3):
    """Adam on fresh labelled batches (a seeded draw from the toy), in one jitted scan."""
    x, y = dataset.train.sampler(np.random.default_rng(0), steps * batch_size)
    batches = {
        "x": jnp.asarray(x.reshape(steps, batch_size, -1)),
        "label": jnp.asarray(y.reshape(steps, batch_size)),
    }
    params = model.init(jax.random.key(0), jax.tree.map(lambda a: a[0], batches))
    optimizer = optax.adam(optax.cosine_decay_schedule(learning_rate, steps))
    loss = model.losses["model"]

    @jax.jit
    def train(params):
        def step(carry, batch):
            params, state = carry
            grads = jax.grad(lambda p: loss(p, batch, jax.random.key(0))[0])(params)
            updates, state = optimizer.update(grads, state, params)
            return (optax.apply_updates(params, updates), state), None

        return jax.lax.scan(step, (params, optimizer.init(params)), batches)[0][0]

    return train(params)


# The bound. A model that ignores y has E_y KL(p(x | y) || q(x)) = I(X; Y) + KL(p(x) || q(x))
# >= I(X; Y), about 2.07 nats here (8 nearly separate Gaussians: log 8 = 2.08 less their overlap),
# so an unconditional flow of any size stays 100x above it. A conditional RealNVP can hold each
# p(x | y) = N(c_y, s^2 I) exactly (an affine map per y), so what remains is optimisation and
# the Monte Carlo error of the estimate; 0.02 nats is 1% of I(X; Y).
KL_BOUND = 0.02


@pytest.mark.slow
def test_conditional_realnvp_learns_each_component_of_labelled_8gaussians(labelled_8gaussians):
    config, dataset = labelled_8gaussians
    model = models.build(config, dataset.spec)
    params = _fit(model, dataset, steps=600)
    x, y = dataset.test.x, dataset.test.label  # 20k fixed draws of (x, y) ~ p(y) p(x | y)
    log_q = np.asarray(model.log_prob(params, {"x": jnp.asarray(x), "label": jnp.asarray(y)}), np.float64)
    log_p = dataset.conditional_log_density(x, y)
    gaps = log_p - log_q
    kl, standard_error = gaps.mean(), gaps.std() / np.sqrt(len(gaps))
    assert kl + 4 * standard_error < KL_BOUND, (kl, standard_error)
    mutual_information = np.mean(log_p - dataset.log_density(x))
    assert mutual_information > 100 * KL_BOUND
    # Samples for a given label come from that label's Gaussian: its centre and std.
    centres, std = dataset.spec.modes
    for label in (0, 5):
        drawn = np.asarray(model.sample(params, jax.random.key(label), 4000, cond=jnp.full(4000, label)))
        np.testing.assert_allclose(drawn.mean(axis=0), centres[label], atol=5 * std / np.sqrt(4000) + 0.01)
        np.testing.assert_allclose(drawn.std(axis=0), std, rtol=0.05)


def test_conditional_flow_bundle_samples_default_labels_and_refuses_cond_when_unconditional():
    model = models.build(_conditional_config("realnvp", num_layers=2), _spec())
    assert model.conditioning.num_classes == NUM_CLASSES
    batch = {"x": jnp.ones((4, 2)), "label": jnp.arange(4) % NUM_CLASSES}
    params = {"model": jitter(jax.jit(model.init)(jax.random.key(0), batch)["model"], scale=0.3)}
    # The default labels arange(n) % K: the same draws as passing them.
    sample = jax.jit(model.sample, static_argnums=2)
    default = sample(params, jax.random.key(1), 6)
    explicit = sample(params, jax.random.key(1), 6, cond=jnp.arange(6) % NUM_CLASSES)
    np.testing.assert_array_equal(default, explicit)
    assert not np.allclose(explicit, sample(params, jax.random.key(1), 6, cond=jnp.zeros(6, jnp.int32)))
    with pytest.raises(ValueError, match="batch\\['label'\\]"):
        model.log_prob(params, {"x": batch["x"]}, None)
    plain = flow_configs.get_config("realnvp_8gaussians")
    plain.model.num_layers = 2
    unconditional = models.build(plain, _spec())
    assert unconditional.conditioning is None
    with pytest.raises(ValueError, match="unconditional"):
        unconditional.sample(
            unconditional.init(jax.random.key(0), batch), jax.random.key(1), 4, cond=batch["label"]
        )


def test_conditional_flow_config_errors_are_one_line():
    unlabelled = DataSpec((2,), None, name="toy2d:two_moons")
    with pytest.raises(
        ConfigError, match=r"^model\.conditional: the dataset 'toy2d:two_moons' has no labels"
    ):
        models.build(_conditional_config("realnvp"), unlabelled)
    planar = flow_configs.get_config("planar_8gaussians")
    planar.model.conditional = True
    with pytest.raises(ConfigError, match=r"^model\.conditional: planar layers have no conditioner"):
        models.build(planar, _spec())
    with pytest.raises(ValueError, match="allowed"):
        flow_configs.get_config("planar_8gaussians_conditional")


# Every architecture once on a toy, and every digits variant (the other toys differ only in data.name).
BUILD_VARIANTS = [
    v for v in flow_configs.CONDITIONAL_VARIANTS if "gaussians" not in v and "ring" not in v
] + [f"{a}_8gaussians_conditional" for a in flow_configs.CONDITIONAL_ARCHITECTURES]


@pytest.mark.slow
@pytest.mark.parametrize("variant", BUILD_VARIANTS)
def test_every_conditional_variant_builds_with_the_data_classes(variant):
    config = flow_configs.get_config(variant)
    assert config.model.conditional
    if config.data.name == "digits":
        spec = DataSpec((8, 8, 1), 17, num_classes=10, name="digits")
    else:
        assert config.data.component_labels
        spec = DataSpec((2,), None, num_classes=7, name=config.data.name)
    model = models.build(config, spec)
    assert model.conditioning.num_classes == spec.num_classes


def test_digits_conditional_is_a_multiscale_realnvp_selected_on_validation():
    config = flow_configs.get_config("digits_conditional")
    model = models.build(config, DataSpec((8, 8, 1), 17, num_classes=10, name="digits"))
    assert config.model.architecture == "realnvp" and model.convolutional
    assert config.train.select_by == "validation/nll" and config.train.eval_every > 0


@pytest.mark.parametrize(
    ("variant", "num_classes"), [("maf_ring_conditional", 8), ("nice_25gaussians_conditional", 25)]
)
def test_conditional_toy_variants_take_their_classes_from_the_components(variant, num_classes):
    config = flow_configs.get_config(variant)
    config.data.num_test = 100
    spec = load_dataset(config.data).spec
    assert spec.num_classes == num_classes
    assert models.build(config, spec).conditioning.num_classes == num_classes


def test_a_flow_conditioned_on_a_cond_array_is_normalised_for_each_array_and_needs_one_to_sample():
    # A 1-D MAF: with nothing before x, its shift and scale come from the cond array alone.
    config = _conditional_config("maf", num_layers=2)
    model = models.build(config, DataSpec((1,), None, cond_shape=(2,), name="regression"))
    assert model.conditioning.key == "cond"
    batch = {"x": jnp.zeros((4, 1)), "cond": jnp.ones((4, 2))}
    params = {"model": jitter(jax.jit(model.init)(jax.random.key(0), batch)["model"], scale=0.3)}
    cell = 0.01
    grid = jnp.arange(-20.0, 20.0, cell)[:, None] + cell / 2  # a 1-D density: a fine midpoint rule
    score = jax.jit(lambda x, c: model.log_prob(params, {"x": x, "cond": c}, None))
    densities = [
        np.exp(np.asarray(score(grid, jnp.broadcast_to(jnp.asarray(c, jnp.float32), (len(grid), 2)))))
        for c in ([0, 1], [2, -1])
    ]
    np.testing.assert_allclose([d.sum() * cell for d in densities], 1.0, atol=1e-3)
    assert np.abs(densities[0] - densities[1]).max() > 1e-3
    sample = jax.jit(model.sample, static_argnums=2)
    with pytest.raises(ValueError, match="pass cond"):
        sample(params, jax.random.key(1), 4)
    assert sample(params, jax.random.key(1), 4, cond=jnp.ones((4, 2))).shape == (4, 1)
