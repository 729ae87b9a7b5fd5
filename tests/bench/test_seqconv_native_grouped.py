"""`benchmarks/seqconv_native_grouped.py`: its replacement of Keras'
grouped convolution computes Keras' result, applies only where it says,
and the script runs end to end (smoke profile)."""

import os

import keras
import numpy as np
import pytest

from tests.testing import load_script

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="the script patches the TensorFlow backend")


def _script():
    return load_script(os.path.join("benchmarks",
                                    "seqconv_native_grouped.py"),
                       "seqconv_native_grouped")


def test_native_conv_equals_keras_grouped_conv_and_the_check_can_fail():
    script = _script()
    script.check_native_conv()  # raises on any difference
    real = script.native_conv

    def off(inputs, kernel, *args):
        return real(inputs, kernel * 1.01, *args)

    script.native_conv = off
    try:
        with pytest.raises(AssertionError):
            script.check_native_conv()
    finally:
        script.native_conv = real


def test_patch_routes_grouped_kernels_only_and_is_undone():
    from keras.src.backend.tensorflow import nn

    script = _script()
    calls = []
    real = script.native_conv

    def spy(inputs, kernel, *args):
        calls.append(tuple(kernel.shape))
        return real(inputs, kernel, *args)

    script.native_conv = spy
    keras_conv = nn.conv
    x = np.ones((1, 5, 5, 8), "float32")
    with script.native_grouped_conv():
        grouped = keras.ops.conv(x, np.ones((3, 3, 2, 8), "float32"))
        dense = keras.ops.conv(x, np.ones((3, 3, 8, 4), "float32"))
    assert calls == [(3, 3, 2, 8)]
    assert nn.conv is keras_conv
    # Each output sums its group's 2 channels over the 3x3 window; the
    # dense one all 8 channels.
    np.testing.assert_allclose(keras.ops.convert_to_numpy(grouped), 18.0)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(dense), 72.0)


def test_grouped_seqconvs_sets_every_nested_seqconv():
    from keras_resvariants import layers as L

    script = _script()

    def build():
        inner_in = keras.Input((4, 4, 8))
        inner = keras.Model(inner_in, L.SeqConv2D(8, 4)(inner_in))
        x = keras.Input((4, 4, 8))
        return keras.Model(x, L.SeqConv2D(8, 4)(inner(x)))

    model = script._grouped_seqconvs(build)()
    seqs = [model.layers[-1], model.layers[1].layers[-1]]
    assert [s.implementation for s in seqs] == ["grouped", "grouped"]
    assert build().layers[-1].implementation is None
    plain = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="No SeqConv2D"):
        script._grouped_seqconvs(lambda: plain)()


@pytest.mark.slow
def test_smoke_run_prints_every_candidate(capsys):
    script = _script()
    assert script.main(["--profile", "smoke", "--rounds", "1",
                        "--min-sample-seconds", "0", "--width", "1",
                        "--blocks", "1", "1", "1", "1"]) == 0
    out = capsys.readouterr().out
    for name in ("control", "loop", "copies", "dense", "grouped"):
        assert f"  {name} " in out
    assert "per MAC" in out
