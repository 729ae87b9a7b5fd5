"""What RoRAdd's drop-layer gate costs in ResNet-20, in three formulations,
against the mask alone (the suite's floor for the `ror` target).

    python benchmarks/ror_gate_forms.py                  # quick, 41 rounds
    python benchmarks/ror_gate_forms.py --jit-compile    # TensorFlow + XLA
    python benchmarks/ror_gate_forms.py --profile smoke --rounds 1

One process, the suite's harness (`keras_resvariants.bench.harness`:
same weights and batch, interleaved rounds, a control copy of the
baseline), training steps only. Candidates, each a ResNet-20 whose block
merges are:

- `resnet20`: `x + F` (the baseline);
- `cond`: `RoRAdd` as shipped (5% Represent channels, drop 0.2): a kept
  gate runs `x*m + F`, a dropped one `x*m + F*(1-m)`, chosen by a graph
  conditional on TensorFlow;
- `arith`: the same merge as arithmetic, `x*m + F*c` with the per-channel
  coefficient `c = 1 - m*(1-g)` (what `drop_mode="sample"` and JAX run);
- `where`: the conditional, with the dropped branch as a select,
  `where(m, x, F)`, so nothing multiplies the residual;
- `nodrop`: `RoRAdd` with `drop_rate=0`, the mask alone (`x*m + F`).

The three gated forms compute the same outputs for the same gate draws
(checked before timing). Prints the median and quartiles of each paired
time ratio to the baseline.
"""

import argparse
import dataclasses
import sys

import keras
import numpy as np
from keras import ops

from keras_resvariants.bench import analysis
from keras_resvariants.bench import groups as g
from keras_resvariants.bench.harness import run_group
from keras_resvariants.blocks import specs as s
from keras_resvariants.layers.ror_add import RoRAdd
from keras_resvariants.models.resnet import cifar_basic


class _GateForm(RoRAdd):
    """RoRAdd with another formulation of the training-time gate (one gate
    per batch, drawn as RoRAdd draws it); inference is RoRAdd's."""

    def call(self, inputs, training=None):
        if not (training and self.drop_rate > 0.0):
            return super().call(inputs, training=training)
        shortcut, residual = inputs
        m = self.refine_mask
        masked = ops.multiply(shortcut, ops.cast(m, shortcut.dtype))
        kept = keras.random.uniform((), seed=self.seed_generator) < (
            1.0 - self.drop_rate)
        return self.gated(shortcut, residual, masked, m, kept)


class _ArithmeticGate(_GateForm):
    """`x*m + F*(1 - m*(1-g))`: one multiply of the residual, no branch."""

    def gated(self, shortcut, residual, masked, m, kept):
        coef = 1.0 - m * (1.0 - ops.cast(kept, "float32"))
        return ops.add(masked,
                       ops.multiply(residual, ops.cast(coef, residual.dtype)))


class _SelectGate(_GateForm):
    """The conditional, the dropped branch as `where(m, x, F)`."""

    def gated(self, shortcut, residual, masked, m, kept):
        return ops.cond(kept, lambda: ops.add(masked, residual),
                        lambda: ops.where(m > 0.5, shortcut, residual))


def _with_merge(build, cls):
    """`build`, with every RoRAdd rebuilt from its config as `cls`."""

    def rebuilt():
        def clone(layer):
            kind = cls if isinstance(layer, RoRAdd) else type(layer)
            return kind.from_config(layer.get_config())

        return keras.models.clone_model(build(), clone_function=clone)

    return rebuilt


def check_forms(trials=8):
    """The gated forms agree with RoRAdd for the same gate draws."""
    rng = np.random.default_rng(0)
    x, f = (rng.normal(size=(2, 4, 4, 16)).astype("float32")
            for _ in range(2))
    for cls in (_ArithmeticGate, _SelectGate):
        for seed in range(trials):
            a, b = (c(represent_ratio=0.25, drop_rate=0.5, seed=3,
                      gate_seed=seed) for c in (RoRAdd, cls))
            ya = ops.convert_to_numpy(a([x, f], training=True))
            yb = ops.convert_to_numpy(b([x, f], training=True))
            np.testing.assert_allclose(ya, yb, rtol=1e-6, atol=1e-6)


def group(profile):
    size, batch = profile.cifar_size, profile.model_batch
    ror = g.spec_model(lambda: cifar_basic(20, merge=s.RoRMerge()), size,
                       "ror20")
    return g.Group(
        name="ror_gate_forms", title="RoRAdd's gate, three ways",
        level="model", claim="The gate's cost does not hang on its form.",
        baseline=g.Candidate("resnet20", "ResNet-20, x + F", g.spec_model(
            lambda: cifar_basic(20), size, "resnet20"), batch),
        variants=(
            g.Candidate("cond", "RoRAdd (conditional)", ror, batch),
            g.Candidate("arith", "RoRAdd, arithmetic gate",
                        _with_merge(ror, _ArithmeticGate), batch),
            g.Candidate("where", "RoRAdd, select when dropped",
                        _with_merge(ror, _SelectGate), batch),
            g.Candidate("nodrop", "RoRAdd drop 0: the mask alone",
                        g.spec_model(lambda: cifar_basic(
                            20, merge=s.RoRMerge(drop_rate=0.0)), size,
                            "ror20_nodrop"), batch),
        ))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--rounds", type=int, default=41)
    parser.add_argument("--min-sample-seconds", type=float, default=0.3)
    parser.add_argument("--jit-compile", action="store_true")
    args = parser.parse_args(argv)
    check_forms()
    profile = dataclasses.replace(
        g.get_profile(args.profile), rounds=args.rounds,
        min_sample_seconds=args.min_sample_seconds)
    result = run_group(group(profile), profile, modes=("train",),
                       jit_compile=args.jit_compile, log=print)
    train = analysis.analyse_group(result)["modes"]["train"]
    rows = [("control", train["control"]["summary"])] + [
        (v["name"], v["time"]) for v in train["variants"]]
    print(f"train step time / ResNet-20's ({keras.backend.backend()}"
          f"{', XLA' if args.jit_compile else ''}, {args.rounds} rounds)")
    for name, t in rows:
        print(f"  {name:8s} median {t['median']:.3f}  "
              f"[q1 {t['q1']:.3f}, q3 {t['q3']:.3f}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
