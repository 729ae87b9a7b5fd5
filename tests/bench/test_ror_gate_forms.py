"""`benchmarks/ror_gate_forms.py`: the gate formulations it times compute
what RoRAdd computes, and the script runs end to end (smoke profile)."""

import os

import pytest

from tests.testing import load_script


def _script():
    return load_script(os.path.join("benchmarks", "ror_gate_forms.py"),
                       "ror_gate_forms")


def test_gate_forms_equal_roradd_for_the_same_draws():
    script = _script()
    script.check_forms(trials=4)  # raises on any difference
    # And the check can fail: a form that ignores the gate is caught.
    class NoGate(script.RoRAdd):
        def call(self, inputs, training=None):
            return super().call(inputs, training=False)

    script._SelectGate, saved = NoGate, script._SelectGate
    try:
        with pytest.raises(AssertionError):
            script.check_forms(trials=4)
    finally:
        script._SelectGate = saved


@pytest.mark.slow
def test_smoke_run_prints_every_form(capsys):
    script = _script()
    assert script.main(["--profile", "smoke", "--rounds", "1",
                        "--min-sample-seconds", "0"]) == 0
    out = capsys.readouterr().out
    for name in ("control", "cond", "arith", "where", "nodrop"):
        assert f"  {name} " in out
