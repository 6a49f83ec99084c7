"""Conditional autoregressive models p(x | y): exactly normalised for every label, autoregressive in x
whatever y, sampling the label they are given, and a fit to toy_binary's components by exact KL."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy import stats

from experiments.configs import autoregressive as ar_configs
from genjax import models
from genjax.data import load_dataset
from genjax.errors import ConfigError
from genjax.models.autoregressive.family import exact_conditional_kl
from genjax.models.networks.made import MADE
from genjax.spec import DataSpec
from tests.models.flow.bijector_checks import numpy_jitter

NUM_CLASSES = 3


def _spec(shape, num_classes=NUM_CLASSES):
    return DataSpec(shape, 2, num_classes=num_classes, name="labelled_bits")


def _small(variant, **model):
    config = ar_configs.get_config(variant)
    config.model.update(features=8, num_layers=2, output_features=8, hidden_sizes=(16,), **model)
    return config


def _jittered(model, shape, *, seed=1):
    batch = {"x": jnp.zeros((2, *shape)), "label": jnp.zeros((2,), jnp.int32)}
    params = jax.jit(model.init)(jax.random.key(0), batch)
    return {"model": numpy_jitter(params["model"], scale=0.5, seed=seed)}


def _all_bits(shape):
    """Every 0/1 array of ``shape`` in binary counting order: `[2^D, *shape]`."""
    bits = np.array(list(itertools.product((0.0, 1.0), repeat=int(np.prod(shape)))), np.float32)
    return jnp.asarray(bits.reshape(-1, *shape))


NORMALISED = {
    "made": ("made_toy_binary_conditional", (4,), {}),
    "made_ensemble": ("made_toy_binary_conditional", (4,), {"num_masks": 3, "order_agnostic": True}),
    "fvsbn": ("fvsbn_toy_binary_conditional", (4,), {}),
    "gated_pixelcnn": ("gated_pixelcnn_toy_binary_3x3_conditional", (3, 3, 1), {}),
}


# The Gated PixelCNN compiles for seconds: slow tier.
SLOW_GATED = pytest.param("gated_pixelcnn", marks=pytest.mark.slow)


@pytest.mark.parametrize("name", ["made", "made_ensemble", "fvsbn", SLOW_GATED])
def test_conditional_probabilities_sum_to_one_for_every_label(name):
    variant, shape, model_fields = NORMALISED[name]
    model = models.build(_small(variant, **model_fields), _spec(shape))
    params = _jittered(model, shape)
    outcomes = _all_bits(shape)
    score = jax.jit(lambda x, y: model.log_prob(params, {"x": x, "label": y}, None))
    per_label = np.stack(
        [np.asarray(score(outcomes, jnp.full(len(outcomes), k, jnp.int32))) for k in range(NUM_CLASSES)]
    )
    np.testing.assert_allclose(np.exp(per_label.astype(np.float64)).sum(axis=1), 1.0, rtol=1e-5)
    # y reaches the model: every label has its own distribution.
    assert (
        np.abs(per_label[0] - per_label[1]).max() > 1e-2 and np.abs(per_label[1] - per_label[2]).max() > 1e-2
    )


def test_conditional_made_is_autoregressive_in_x_and_sees_all_of_y_in_every_output():
    # tanh units: no dead ReLU can hide a connection the masks allow.
    made = MADE(hidden_sizes=(12, 12), num_params=1, ordering=(2, 0, 3, 1), activation="tanh")
    x, context = jnp.full((1, 4), 0.5), jnp.asarray([[0.0, 1.0, 0.0]])
    variables = numpy_jitter(jax.jit(made.init)(jax.random.key(0), x, 0, context), scale=0.5)

    def outputs(x_row, context_row):
        return made.apply(variables, x_row[None], 0, context_row[None])[0, :, 0]

    d_x, d_context = jax.jit(jax.jacfwd(outputs, argnums=(0, 1)))(x[0], context[0])
    position = np.argsort((2, 0, 3, 1))  # position[d]: when dimension d is generated
    may_see = position[None, :] < position[:, None]  # output d may read input j generated before it
    assert np.all(np.asarray(d_x)[~may_see] == 0)
    assert np.all(np.abs(np.asarray(d_x)[may_see]) > 0)
    # Every output, the first of the ordering (dimension 2) included, depends on y.
    assert np.all(np.abs(np.asarray(d_context)).sum(axis=1) > 0)


@pytest.mark.parametrize("name", ["made", "made_ensemble", SLOW_GATED])
def test_samples_for_a_label_follow_that_labels_distribution(name):
    """Pearson chi-square of 20k draws with ``cond=k`` against the model's own p(x | y = k), for a
    MADE (one pass per dimension), a mask ensemble (each draw its own mask) and a Gated PixelCNN
    (row windows): each sampling path hands y to the network."""
    variant, shape, model_fields = NORMALISED[name]
    shape = (2, 2, 1) if len(shape) == 3 else (3,)
    model = models.build(_small(variant, **model_fields), _spec(shape))
    params = _jittered(model, shape, seed=4)
    outcomes = _all_bits(shape)
    label = 2
    probs = np.exp(
        np.asarray(
            model.log_prob(params, {"x": outcomes, "label": jnp.full(len(outcomes), label)}), np.float64
        )
    )
    num = 20_000
    samples = jax.jit(model.sample, static_argnums=2)(
        params, jax.random.key(5), num, cond=jnp.full(num, label)
    )
    codes = np.asarray(samples).reshape(num, -1).astype(int) @ (2 ** np.arange(outcomes[0].size)[::-1])
    observed = np.bincount(codes, minlength=len(outcomes))
    assert stats.chisquare(observed, probs / probs.sum() * num).pvalue > 1e-3


# The bound. toy_binary:8's four product-Bernoulli components are the labels. A model that ignores y
# has E_y KL(p(x | y) || q(x)) = I(X; Y) + KL(p(x) || q(x)) >= I(X; Y) = 0.445 nats (by enumeration),
# so no unconditional model of any size gets within 40x of the bound. A conditional MADE holds each
# p(x | y) exactly (a constant logit per bit and label reaches every output through the context), so
# what remains is optimisation and the sampling error of 600 x 256 draws (~4 x 8 Bernoulli means,
# expected KL ~ 32 / (2 N) ~ 1e-4 nats); 0.01 nats is 2% of I(X; Y).
KL_BOUND = 0.01


@pytest.mark.slow
def test_conditional_made_learns_toy_binary_components_within_the_exact_kl_bound():
    config = ar_configs.get_config("made_toy_binary_conditional")
    config.model.hidden_sizes = (32,)
    config.data.num_test = 100
    dataset = load_dataset(config.data)
    assert dataset.spec.num_classes == 4
    model = models.build(config, dataset.spec)
    steps, batch_size = 600, 256
    x, y = dataset.train.sampler(np.random.default_rng(0), steps * batch_size)
    batches = {"x": jnp.asarray(x.reshape(steps, batch_size, -1)), "label": jnp.asarray(y.reshape(steps, -1))}
    params = model.init(jax.random.key(0), jax.tree.map(lambda a: a[0], batches))
    optimizer = optax.adam(optax.cosine_decay_schedule(1e-2, steps))

    @jax.jit
    def train(params):
        def step(carry, batch):
            params, state = carry
            grads = jax.grad(lambda p: model.losses["model"](p, batch, jax.random.key(0))[0])(params)
            updates, state = optimizer.update(grads, state, params)
            return (optax.apply_updates(params, updates), state), None

        return jax.lax.scan(step, (params, optimizer.init(params)), batches)[0][0]

    params = train(params)
    outcomes = dataset.outcomes()
    kl, per_label = exact_conditional_kl(
        model, params, outcomes, dataset.conditional_log_density, dataset.label_probs
    )
    assert kl < KL_BOUND and np.all(per_label < 2 * KL_BOUND), (kl, per_label)
    log_p = dataset.log_density(outcomes)
    mutual_information = sum(
        weight * np.sum(np.exp(log_c) * (log_c - log_p))
        for weight, log_c in (
            (w, dataset.conditional_log_density(outcomes, np.full(len(outcomes), k)))
            for k, w in enumerate(dataset.label_probs)
        )
    )
    assert mutual_information > 40 * KL_BOUND


def test_conditional_config_errors_are_one_line():
    with pytest.raises(ConfigError, match=r"^model\.conditional: the dataset 'bits' has no labels"):
        models.build(_small("made_toy_binary_conditional"), DataSpec((4,), 2, name="bits"))
    nade = _small("nade_toy_binary")
    nade.model.conditional = True
    with pytest.raises(ConfigError, match=r"^model\.conditional: nade takes no y; conditional architectures"):
        models.build(nade, _spec((4,)))
    arrays = DataSpec((3, 3, 1), 2, cond_shape=(2,), name="bits")
    with pytest.raises(ConfigError, match=r"^model\.conditional: gated_pixelcnn conditions on class labels"):
        models.build(_small("gated_pixelcnn_toy_binary_3x3_conditional"), arrays)
    with pytest.raises(ConfigError, match=r"^model\.num_classes: got 5"):
        models.build(_small("made_toy_binary_conditional", num_classes=5), _spec((4,)))


def test_the_older_class_conditional_name_still_builds_a_conditional_gated_pixelcnn():
    config = _small("gated_pixelcnn_toy_binary_3x3", class_conditional=True)
    model = models.build(config, _spec((3, 3, 1)))
    assert model.conditioning.num_classes == NUM_CLASSES
    plain = models.build(_small("gated_pixelcnn_toy_binary_3x3"), _spec((3, 3, 1)))
    assert plain.conditioning is None


@pytest.mark.parametrize("variant", ar_configs.CONDITIONAL_VARIANTS)
def test_every_conditional_variant_builds_with_the_data_classes(variant):
    config = ar_configs.get_config(variant)
    data = config.data.name
    if data == "digits":
        levels = 2 if config.data.binarize != "none" else 17
        spec = DataSpec((8, 8, 1), levels, num_classes=10, name=data)
    else:
        assert config.data.component_labels
        shape = {"toy_binary:8": (8,), "toy_binary:3x3": (3, 3, 1), "toy2d:8gaussians": (2,)}[data]
        spec = DataSpec(shape, None if data.startswith("toy2d") else 2, num_classes=4, name=data)
    model = models.build(config, spec)
    assert model.conditioning.num_classes == spec.num_classes
    if variant == "digits_conditional":
        assert config.model.architecture == "gated_pixelcnn" and config.train.select_by == "validation/nll"
