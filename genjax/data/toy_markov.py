"""Token sequences from a fixed Markov chain: ``toy_markov:V`` and ``toy_markov:VxT``.

A first-order chain over ``V`` states whose transition matrix is drawn from a
seed that depends on ``V`` only (so ``toy_markov:5x8`` and ``toy_markov:5x32``
share one chain). Rows are Dirichlet(0.3) draws, peaked enough that the next
token is predictable yet far from deterministic, mixed with a little uniform
mass so every sequence has positive probability. Sequences of ``T`` tokens
(default 16) start from the chain's stationary distribution, so the process is
stationary and its exact entropy is ``H(pi) + (T - 1) * entropy_rate``.

Values are integer token ids ``0..V-1`` stored as float32 `[n, T]`, like the
other sources; `log_density` and `entropy` are exact, so a sequence model's fit
can be measured as an exact KL or against the true per-token perplexity.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np

DEFAULT_LENGTH = 16
MAX_STATES = 1024  # the V x V transition matrix stays a few MB
MAX_LENGTH = 4096
MAX_OUTCOMES = 2**20  # enumeration limit of `all_outcomes`
DIRICHLET_CONCENTRATION = 0.3
UNIFORM_MIX = 0.01  # floor of UNIFORM_MIX / V on every transition


def _entropies(probs: np.ndarray) -> np.ndarray:
    """Shannon entropy in nats of each distribution along the last axis."""
    return -np.sum(probs * np.log(probs), axis=-1)


@dataclasses.dataclass(frozen=True)
class ToyMarkov:
    """A stationary first-order Markov chain over ``num_states`` tokens, ``length`` steps long.

    Attributes:
      num_states: V.
      length: T, tokens per sequence.
      initial: `[V]` distribution of the first token (the stationary one).
      transition: `[V, V]`, row i is p(x_t | x_{t-1} = i).
    """

    num_states: int
    length: int
    initial: np.ndarray
    transition: np.ndarray

    @property
    def shape(self) -> tuple[int]:
        return (self.length,)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """`[n, T]` float32 token ids, by inverse-CDF sampling one step at a time."""
        last = self.num_states - 1
        tokens = np.empty((n, self.length), np.int64)
        # min(..., last) guards against cumulative sums that end a hair below 1.
        tokens[:, 0] = np.minimum(np.searchsorted(np.cumsum(self.initial), rng.random(n), "right"), last)
        cdf = np.cumsum(self.transition, axis=1)
        for t in range(1, self.length):
            u = rng.random((n, 1))
            tokens[:, t] = np.minimum(np.sum(u >= cdf[tokens[:, t - 1]], axis=1), last)
        return tokens.astype(np.float32)

    def log_density(self, x: np.ndarray) -> np.ndarray:
        """Exact log p(x) in nats: `[N, T]` token ids -> `[N]`."""
        tokens = np.asarray(x).reshape(len(x), self.length)
        ids = tokens.astype(np.int64)
        if np.any(ids != tokens) or np.any(ids < 0) or np.any(ids >= self.num_states):
            raise ValueError(f"toy_markov expects integer token ids in 0..{self.num_states - 1}")
        log_p = np.log(self.initial)[ids[:, 0]]
        return log_p + np.sum(np.log(self.transition)[ids[:, :-1], ids[:, 1:]], axis=1)

    def all_outcomes(self) -> np.ndarray:
        """Every sequence: `[V^T, T]` float32, in base-V counting order (last token fastest)."""
        count = self.num_states**self.length
        if count > MAX_OUTCOMES:
            raise ValueError(f"{count} sequences; at most {MAX_OUTCOMES} are enumerable")
        codes = np.arange(count)[:, None] // self.num_states ** np.arange(self.length)[::-1]
        return (codes % self.num_states).astype(np.float32)

    @property
    def entropy_rate(self) -> float:
        """Limit of H(x_1..x_T) / T: sum_i pi_i H(transition_i), in nats per token."""
        return float(self.initial @ _entropies(self.transition))

    @property
    def entropy(self) -> float:
        """Exact entropy of a length-T sequence, in nats, by the chain rule.

        H = H(x_1) + sum_{t>=2} E_{p(x_{t-1})} H(row x_{t-1}); the marginals are
        propagated explicitly rather than assumed stationary.
        """
        row_entropies = _entropies(self.transition)
        marginal = self.initial
        total = float(_entropies(self.initial))
        for _ in range(1, self.length):
            total += float(marginal @ row_entropies)
            marginal = marginal @ self.transition
        return total


def parse_name(argument: str) -> tuple[int, int]:
    """``"5"`` -> (5, 16); ``"5x32"`` -> (5, 32). Raises ValueError with the allowed forms."""
    match = re.fullmatch(r"(\d+)(?:x(\d+))?", argument)
    if not match:
        raise ValueError(
            f"'toy_markov:{argument}' is not toy_markov:V or toy_markov:VxT (e.g. toy_markov:8x16)"
        )
    num_states = int(match.group(1))
    length = DEFAULT_LENGTH if match.group(2) is None else int(match.group(2))
    if not 2 <= num_states <= MAX_STATES:
        raise ValueError(f"'toy_markov:{argument}' has V = {num_states} states; V must be in 2..{MAX_STATES}")
    if not 1 <= length <= MAX_LENGTH:
        raise ValueError(f"'toy_markov:{argument}' has T = {length} tokens; T must be in 1..{MAX_LENGTH}")
    return num_states, length


def stationary_distribution(transition: np.ndarray) -> np.ndarray:
    """The `[V]` distribution pi with pi @ transition = pi (unique: every entry is positive)."""
    num_states = len(transition)
    # (P^T - I) pi = 0 with sum(pi) = 1, as one least-squares system with an exact solution.
    system = np.vstack([transition.T - np.eye(num_states), np.ones((1, num_states))])
    target = np.zeros(num_states + 1)
    target[-1] = 1.0
    pi = np.linalg.lstsq(system, target, rcond=None)[0]
    pi = np.clip(pi, 0.0, None)
    return pi / pi.sum()


def get(argument: str) -> ToyMarkov:
    """The chain named by ``argument`` (the part after ``toy_markov:``)."""
    num_states, length = parse_name(argument)
    # Seeded by V only: every T sees the same chain.
    rng = np.random.default_rng([0x3A4C, num_states])
    rows = rng.dirichlet(np.full(num_states, DIRICHLET_CONCENTRATION), size=num_states)
    transition = (1.0 - UNIFORM_MIX) * rows + UNIFORM_MIX / num_states
    transition /= transition.sum(axis=1, keepdims=True)
    return ToyMarkov(
        num_states=num_states,
        length=length,
        initial=stationary_distribution(transition),
        transition=transition,
    )
