"""The pure-function modules drop into any JAX code: importing them loads no Flax."""

import subprocess
import sys

import pytest


@pytest.mark.subprocess
def test_losses_metrics_distributions_samplers_do_not_import_flax():
    code = (
        "import sys, genjax.losses, genjax.metrics, genjax.distributions, genjax.samplers; "
        "print(sorted(m for m in ('flax', 'optax', 'orbax', 'tensorflow') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]", result.stdout
