"""Hierarchical VAEs: two or more Gaussian stochastic layers z_1 (nearest x), ..., z_L.

The generative model is the chain p(z_L) p(z_{L-1} | z_L) ... p(z_1 | z_2) p(x | z_1),
with p(z_L) = N(0, I), Gaussian conditionals and the VAE family's likelihoods for
p(x | z_1) (``bernoulli``, ``gaussian``, ``discretized_logistic``). Two posteriors:

* ``model.architecture="iwae"``: the bottom-up chain q(z_1 | x) q(z_2 | z_1) ... of
  Burda et al. (2016); with ``hidden_sizes=(200, 100)``, ``latent_dims=(100, 50)``
  and two tanh layers per block it is their 784-200-200-100-100-50 network.
* ``"ladder"``: the ladder VAE of Sønderby et al. (2016): a deterministic bottom-up
  pass gives a Gaussian estimate per layer, and the top-down pass merges each with
  the generative conditional p(z_i | z_{i+1}) by precision weighting. (The paper's
  batch normalisation and KL warm-up are left out.)

Training maximises the ELBO or the IWAE bound (``model.objective``) with
``model.num_train_samples`` draws; ``log_prob`` is the IWAE estimate with
``eval.num_importance_samples`` draws (5000 for the published numbers), chunked.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from genjax import fields, losses
from genjax.distributions import normal_log_prob, standard_normal_log_prob
from genjax.errors import ConfigError
from genjax.losses.hierarchical import precision_weighted_merge
from genjax.models import precision
from genjax.models.bundle import Batch, GenerativeModel, Params, masked_mean
from genjax.models.networks.layers import MLP, activation
from genjax.models.vae.family import (
    LIKELIHOODS,
    decoder_mean,
    largest_divisor_at_most,
    likelihood_log_prob_fn,
)
from genjax.spec import DataSpec

Array = jax.Array
ARCHITECTURES = ("iwae", "ladder")
OBJECTIVES = ("elbo", "iwae")


class HVAE(nn.Module):
    """The networks of an L-layer hierarchical VAE (layer 0 is nearest the data).

    Attributes:
      element_shape: shape of one example, e.g. (28, 28, 1).
      hidden_sizes: width of the deterministic layers of each stochastic layer's blocks, `[L]`.
      latent_dims: size of each stochastic layer, `[L]`.
      num_hidden_layers: deterministic layers per block (2 in the IWAE paper).
    """

    element_shape: tuple[int, ...]
    hidden_sizes: tuple[int, ...]
    latent_dims: tuple[int, ...]
    architecture: str = "iwae"
    num_hidden_layers: int = 2
    activation: str = "tanh"

    def setup(self):
        depth = self.num_hidden_layers
        num_layers = len(self.latent_dims)
        if self.architecture == "iwae":
            # q(z_i | z_{i-1}) (z_0 = x): `depth` layers of width hidden_sizes[i] to (mean, log_var).
            self.encoders = [MLP((h,) * depth, 2 * d, self.activation) for h, d in self.zipped()]
        else:
            # Deterministic bottom-up features d_i, each read by a linear head into (mean, log_var).
            self.up = [[nn.Dense(h) for _ in range(depth)] for h in self.hidden_sizes]
            self.heads = [nn.Dense(2 * d) for d in self.latent_dims]
        # p(z_i | z_{i+1}) reads z_{i+1} through blocks as wide as layer i+1's (IWAE: two 100-unit layers).
        self.conditionals = [
            MLP((self.hidden_sizes[i + 1],) * depth, 2 * self.latent_dims[i], self.activation)
            for i in range(num_layers - 1)
        ]
        self.decoder = MLP((self.hidden_sizes[0],) * depth, math.prod(self.element_shape), self.activation)
        # Per-dimension log-scale of the Gaussian / logistic likelihoods (unused by Bernoulli).
        self.log_scale = self.param("log_scale", nn.initializers.zeros, self.element_shape)

    def zipped(self) -> list[tuple[int, int]]:
        return list(zip(self.hidden_sizes, self.latent_dims, strict=True))

    def encode_layer(self, below: Array, index: int) -> tuple[Array, Array]:
        """q(z_index | below), below `[B, ...]` being x or z_{index-1} -> (mean, log_var) `[B, L_i]`."""
        return tuple(jnp.split(self.encoders[index](below), 2, axis=-1))

    def bottom_up(self, x: Array) -> tuple[tuple[Array, Array], ...]:
        """Ladder: the bottom-up (mean, log_var) estimate of every layer, each `[B, L_i]`."""
        act = activation(self.activation)
        h = x.reshape(x.shape[0], -1)
        estimates = []
        for dense_layers, head in zip(self.up, self.heads, strict=True):
            for dense in dense_layers:
                h = act(dense(h))
            estimates.append(tuple(jnp.split(head(h), 2, axis=-1)))
        return tuple(estimates)

    def conditional(self, above: Array, index: int) -> tuple[Array, Array]:
        """p(z_index | z_{index+1} = above) -> (mean, log_var), each `[B, L_index]`."""
        return tuple(jnp.split(self.conditionals[index](above), 2, axis=-1))

    def decode(self, z1: Array) -> Array:
        """z_1 `[B, L_0]` -> location parameters `[B, *element_shape]` (logits or means)."""
        return self.decoder(z1).reshape(z1.shape[0], *self.element_shape)

    def __call__(self, x: Array) -> Array:
        """Posterior means through every network (creates all parameters at init)."""
        num_layers = len(self.latent_dims)
        if self.architecture == "iwae":
            below, means = x, []
            for index in range(num_layers):
                below = self.encode_layer(below, index)[0]
                means.append(below)
            for index in range(num_layers - 1):
                self.conditional(means[index + 1], index)
            return self.decode(means[0])
        estimates = self.bottom_up(x)
        z = estimates[-1][0]
        for index in reversed(range(num_layers - 1)):
            z = precision_weighted_merge(*estimates[index], *self.conditional(z, index))[0]
        return self.decode(z)


def validate(config: ml_collections.ConfigDict, num_levels: int | None) -> None:
    m = config.model
    fields.choice(m, "architecture", ARCHITECTURES)
    fields.choice(m, "objective", OBJECTIVES)
    fields.choice(m, "likelihood", LIKELIHOODS)
    hidden_sizes, latent_dims = fields.widths(m, "hidden_sizes"), fields.widths(m, "latent_dims")
    if len(latent_dims) < 2 or len(hidden_sizes) != len(latent_dims):
        raise ConfigError(
            f"model.latent_dims: got {tuple(latent_dims)!r} with model.hidden_sizes {tuple(hidden_sizes)!r}; "
            "need two or more stochastic layers and one hidden size per layer."
        )
    fields.number(m, "num_hidden_layers", integer=True, positive=True)
    fields.number(m, "num_train_samples", integer=True, positive=True)
    fields.check_number(
        config.eval.num_importance_samples, "eval.num_importance_samples", integer=True, positive=True
    )
    if m.likelihood == "discretized_logistic" and not num_levels:
        raise ConfigError(
            "model.likelihood: discretized_logistic needs discrete data (a dataset with num_levels); "
            "use gaussian for continuous data."
        )


def build(config: ml_collections.ConfigDict, spec: DataSpec) -> GenerativeModel:
    """Builds the hierarchical VAE bundle from ``config.model`` and the dataset's shape."""
    element_shape = spec.element_shape
    validate(config, spec.num_levels)
    m = config.model
    # float32 only: bfloat16 is refused with a ConfigError rather than silently ignored.
    precision.policy(config, family="hvae", architecture=m.architecture, supported=())
    module = HVAE(
        element_shape=element_shape,
        hidden_sizes=tuple(m.hidden_sizes),
        latent_dims=tuple(m.latent_dims),
        architecture=m.architecture,
        num_hidden_layers=m.num_hidden_layers,
        activation=m.activation,
    )
    num_layers = len(m.latent_dims)
    likelihood_log_prob = likelihood_log_prob_fn(m.likelihood, spec.num_levels)
    num_eval_samples = config.eval.num_importance_samples
    eval_chunk = largest_divisor_at_most(num_eval_samples, config.eval.get("importance_chunk_size", 100))
    # The posterior samples bottom-up (z_1 first) for "iwae", top-down (z_L first) for "ladder".
    bottom_up_order = m.architecture == "iwae"

    def networks(model_params: Params, x: Array):
        """(posterior_layers, generative_log_probs) for `genjax.losses.hierarchical`."""

        def apply(*args, method):
            return module.apply(model_params, *args, method=method)

        def generative_log_probs(zs: tuple[Array, ...], x: Array):
            zs_up = zs if bottom_up_order else zs[::-1]  # z_1, ..., z_L
            log_priors = [
                normal_log_prob(zs_up[i], *apply(zs_up[i + 1], i, method=HVAE.conditional), event_ndims=1)
                for i in range(num_layers - 1)
            ]
            log_priors.append(standard_normal_log_prob(zs_up[-1], event_ndims=1))
            location = apply(zs_up[0], method=HVAE.decode)
            log_likelihood = likelihood_log_prob(x, location, model_params["params"]["log_scale"])
            return log_likelihood, tuple(log_priors if bottom_up_order else log_priors[::-1])

        if bottom_up_order:
            posterior_layers = [
                lambda below, i=i: apply(x if i == 0 else below, i, method=HVAE.encode_layer)
                for i in range(num_layers)
            ]
        else:
            estimates = apply(x, method=HVAE.bottom_up)
            posterior_layers = [lambda _: estimates[-1]] + [
                lambda above, i=i: precision_weighted_merge(
                    *estimates[i], *apply(above, i, method=HVAE.conditional)
                )
                for i in reversed(range(num_layers - 1))
            ]
        return posterior_layers, generative_log_probs

    def terms(params: Params, x: Array, rng: Array, num_samples: int) -> losses.HierarchicalTerms:
        return losses.hierarchical_terms(rng, *networks(params["model"], x), x, num_samples=num_samples)

    def init(rng: Array, batch: Batch) -> Params:
        return {"model": module.init(rng, batch["x"])}

    def layer_kl_metrics(layer_kl: Array) -> dict[str, Array]:
        """`[S, B, L]` KL samples in sampling order -> {"kl_z1": [B], ...} by layer (z1 nearest x)."""
        per_layer = jnp.mean(layer_kl, axis=0)
        if not bottom_up_order:
            per_layer = per_layer[:, ::-1]
        return {f"kl_z{i + 1}": per_layer[:, i] for i in range(num_layers)}

    def loss(params: Params, batch: Batch, rng: Array):
        drawn = terms(params, batch["x"], rng, m.num_train_samples)
        if m.objective == "iwae":
            bound = losses.iwae_from_log_weights(drawn.log_weights)
        else:
            bound = losses.elbo_from_log_weights(drawn.log_weights)
        objective = masked_mean(bound, batch)
        metrics = {name: masked_mean(kl, batch) for name, kl in layer_kl_metrics(drawn.layer_kl).items()}
        return -objective, {"bound": objective, **metrics}

    def log_prob(params: Params, batch: Batch, rng: Array) -> Array:
        x = batch["x"]
        return losses.hierarchical_iwae_bound(
            rng, *networks(params["model"], x), x, num_samples=num_eval_samples, chunk_size=eval_chunk
        )

    def eval_metrics(params: Params, batch: Batch, rng: Array) -> dict[str, Array]:
        drawn = terms(params, batch["x"], rng, 1)
        per_layer = layer_kl_metrics(drawn.layer_kl)
        return {
            "elbo": losses.elbo_from_log_weights(drawn.log_weights),
            "kl": sum(per_layer.values()),
            **per_layer,
        }

    def sample(params: Params, rng: Array, num_samples: int) -> Array:
        """Ancestral: z_L ~ N(0, I), z_i ~ p(z_i | z_{i+1}); returns the decoder means at z_1."""
        keys = jax.random.split(rng, num_layers)
        z = jax.random.normal(keys[-1], (num_samples, m.latent_dims[-1]))
        for index in reversed(range(num_layers - 1)):
            mean, log_var = module.apply(params["model"], z, index, method=HVAE.conditional)
            z = mean + jnp.exp(0.5 * log_var) * jax.random.normal(keys[index], mean.shape)
        location = module.apply(params["model"], z, method=HVAE.decode)
        return decoder_mean(m.likelihood, location, num_levels=spec.num_levels)

    return GenerativeModel(
        init=init,
        losses={"model": loss},
        sample=sample,
        log_prob=log_prob,
        eval_metrics=eval_metrics,
        element_shape=element_shape,
    )
