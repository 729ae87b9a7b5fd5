"""`examples/export_and_serve.py` end to end (slow: a fresh interpreter
exports ResNet-20 and starts a server)."""

import os
import subprocess
import sys

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))

pytestmark = [pytest.mark.tf_only, pytest.mark.slow]


def test_export_and_serve_example(tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (REPO_ROOT, env.get("PYTHONPATH")) if p)
    result = subprocess.run(
        [sys.executable, os.path.join(REPO_ROOT, "examples",
                                      "export_and_serve.py"),
         "--output", str(tmp_path), "--bench", "--requests", "40",
         "--concurrency", "4"],
        capture_output=True, text=True, env=env, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "class ids equal: True" in result.stdout
    assert '"errors_or_wrong": 0' in result.stdout
