"""Data-parallel training on 2 virtual CPU devices matches single-device training."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent / "distributed_training.py"


def _run(backend, extra_env=None):
    env = dict(os.environ, KERAS_BACKEND=backend, **(extra_env or {}))
    result = subprocess.run(
        [sys.executable, str(SCRIPT)], capture_output=True, text=True, env=env, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def _assert_matches(losses):
    assert len(losses["parallel"]) == len(losses["single"]) == 3
    assert losses["parallel"] == pytest.approx(losses["single"], rel=1e-2)


def test_jax_data_parallel_on_two_devices():
    pytest.importorskip("jax")
    _assert_matches(_run("jax", {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}))


def test_tensorflow_mirrored_strategy_on_two_logical_cpus():
    _assert_matches(_run("tensorflow"))
