"""Would SeqConv2D's grouped formulation pay off on TensorFlow's CPU if
Keras did not send grouped convolutions through XLA?

    python benchmarks/seqconv_native_grouped.py              # both groups
    python benchmarks/seqconv_native_grouped.py --groups layer
    python benchmarks/seqconv_native_grouped.py --profile smoke --rounds 1 \\
        --width 1 --blocks 1 1 1 1

On a CPU, `SeqConv2D` computes its two grouped parts with dense
convolutions (`implementation="dense"`, the `"auto"` choice there):
training with dropout runs a per-group loop, and SeqResNeXt's subgroups
run as block-diagonal dense kernels (4-8x their MACs). The alternative
(`"grouped"`) uses grouped convolutions at their own MACs, but Keras'
TensorFlow backend compiles every grouped `ops.conv` with XLA, whose CPU
kernels are far slower (keras-team/keras#18180). TensorFlow's own grouped
kernel (oneDNN, no XLA) is not reachable through `keras.ops`, which our
layers keep to; this script reaches it by replacing the backend's `conv`
for grouped kernels only, in this process, and times what the layers'
`"grouped"` formulation would then cost:

- `layer`: `SeqConv2D(64, k=8)` training steps: dropout 0 (the baseline),
  dropout 0.1 as shipped (the per-group loop), dropout 0.1 as grouped
  convolutions over per-group masked copies;
- `model`: ResNet-50 (the baseline), SeqResNeXt-24 as shipped
  (block-diagonal subgroups) and with its subgroups as grouped
  convolutions, per MAC (the suite's `grouped` target is 0.75).

One process, the suite's harness (same weights and batch, interleaved
rounds, a control copy of the baseline), training steps only. Before
timing, the replacement is checked against Keras' own grouped convolution
(outputs and gradients). TensorFlow backend only.
"""

import argparse
import contextlib
import dataclasses
import sys

import keras
import numpy as np

from keras_resvariants.bench import analysis
from keras_resvariants.bench import groups as g
from keras_resvariants.bench.harness import run_group

GROUPS = ("layer", "model")


def native_conv(inputs, kernel, strides=1, padding="valid",
                data_format=None, dilation_rate=1):
    """TensorFlow's convolution op called directly (no XLA): for a grouped
    kernel it runs TensorFlow's own grouped kernel."""
    import tensorflow as tf

    fmt = "NCHW" if data_format == "channels_first" else "NHWC"
    return tf.nn.convolution(inputs, kernel, strides, padding.upper(),
                             data_format=fmt, dilations=dilation_rate)


@contextlib.contextmanager
def native_grouped_conv():
    """Within it, the TensorFlow backend's `conv` runs grouped kernels with
    `native_conv` (ungrouped ones as before)."""
    from keras.src.backend.tensorflow import nn

    keras_conv = nn.conv

    def conv(inputs, kernel, strides=1, padding="valid", data_format=None,
             dilation_rate=1):
        fmt = data_format or keras.config.image_data_format()
        channels = inputs.shape[-1 if fmt == "channels_last" else 1]
        call = native_conv if channels != kernel.shape[-2] else keras_conv
        return call(inputs, kernel, strides, padding, fmt, dilation_rate)

    nn.conv = conv
    try:
        yield
    finally:
        nn.conv = keras_conv


def check_native_conv(groups=4, seed=0):
    """`native_conv` equals Keras' grouped convolution: outputs and
    gradients w.r.t. inputs and kernel, at stride 1 ("same") and stride 2
    ("valid")."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    x = tf.constant(rng.normal(size=(2, 9, 9, 16)).astype("float32"))
    k = tf.constant(rng.normal(size=(3, 3, 16 // groups, 8)).astype(
        "float32"))
    for strides, padding in ((1, "same"), (2, "valid")):
        results = []
        for conv in (native_conv, keras.ops.conv):
            with tf.GradientTape() as tape:
                tape.watch([x, k])
                y = conv(x, k, strides, padding, "channels_last")
                loss = tf.reduce_sum(y * y)
            results.append([y, *tape.gradient(loss, [x, k])])
        for mine, theirs in zip(*results):
            np.testing.assert_allclose(mine.numpy(), theirs.numpy(),
                                       rtol=1e-4, atol=1e-4)


def _grouped_seqconvs(build):
    """`build`, with every `SeqConv2D` of the model set to the `"grouped"`
    formulation (an instance setting, read when the step is traced)."""
    from keras_resvariants.fine_tune import _sublayers
    from keras_resvariants.layers import SeqConv2D

    def rebuilt():
        model = build()
        found = 0
        for layer in _sublayers(model):
            if isinstance(layer, SeqConv2D):
                layer.implementation = "grouped"
                found += 1
        if not found:
            raise ValueError(f"No SeqConv2D in {model.name!r}.")
        return model

    return rebuilt


def layer_group(profile):
    from keras_resvariants import layers as L

    shape = (profile.layer_size, profile.layer_size, 64)

    def seq(name, **kw):
        return g.layer_model(name, [shape], lambda x: L.SeqConv2D(
            64, 8, return_raw=False, seed=0, **kw)(x))

    batch = profile.layer_batch
    drop = seq("seq_k8_drop", dropout=0.1)
    return g.Group(
        name="seqconv_dropout_native",
        title="SeqConv2D(64, k=8) dropout: per-group loop vs masked copies",
        level="layer", claim="(experiment)",
        baseline=g.Candidate("nodrop", "dropout 0", seq("seq_k8"), batch),
        variants=(
            g.Candidate("loop", "dropout 0.1, per-group loop (shipped)",
                        drop, batch),
            g.Candidate("copies", "dropout 0.1, TF grouped conv over "
                                  "masked copies",
                        _grouped_seqconvs(drop), batch),
        ))


def model_group(profile, width=None, blocks=None):
    size, batch = profile.imagenet_size, profile.imagenet_batch
    hparams = {}
    if width is not None:
        hparams["width"] = width
    if blocks is not None:
        hparams["blocks_per_stage"] = tuple(blocks)
    seq = g.registry_model("seq_resnext_24", size, **hparams)
    return g.Group(
        name="seq_resnext_native",
        title="SeqResNeXt-24 subgroups: block-diagonal vs grouped",
        level="model", claim="(experiment)",
        baseline=g.Candidate("resnet_50", f"ResNet-50 ({size}x{size})",
                             g.registry_model("resnet_50", size), batch),
        variants=(
            g.Candidate("dense", "SeqResNeXt-24, block-diagonal subgroups "
                                 "(shipped)", seq, batch),
            g.Candidate("grouped", "SeqResNeXt-24, TF grouped conv "
                                   "subgroups", _grouped_seqconvs(seq),
                        batch),
        ))


def _summary(s):
    return f"{s['median']:.3f} [{s['q1']:.3f}, {s['q3']:.3f}]"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--groups", nargs="+", choices=GROUPS,
                        default=list(GROUPS))
    parser.add_argument("--profile", default="full",
                        help="the suite's profile for sizes and batches "
                             "(default full: SeqResNeXt-24 at 224x224, "
                             "batch 4)")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--min-sample-seconds", type=float, default=0.3)
    parser.add_argument("--width", type=int,
                        help="SeqResNeXt width (default the paper's 4)")
    parser.add_argument("--blocks", type=int, nargs=4,
                        help="SeqResNeXt blocks per stage (default the "
                             "paper's 1 1 3 1)")
    args = parser.parse_args(argv)
    if keras.backend.backend() != "tensorflow":
        print("seqconv_native_grouped.py: error: needs the TensorFlow "
              f"backend (KERAS_BACKEND={keras.backend.backend()})",
              file=sys.stderr)
        return 2
    check_native_conv()
    profile = dataclasses.replace(
        g.get_profile(args.profile), rounds=args.rounds,
        min_sample_seconds=args.min_sample_seconds)
    factories = {"layer": layer_group,
                 "model": lambda p: model_group(p, args.width, args.blocks)}
    with native_grouped_conv():
        for name in args.groups:
            group = factories[name](profile)
            result = run_group(group, profile, modes=("train",), log=print)
            train = analysis.analyse_group(result)["modes"]["train"]
            print(f"{group.title}: train step vs {group.baseline.name} "
                  f"({args.rounds} rounds; control: time)")
            rows = [("control", train["control"]["summary"], None)] + [
                (v["name"], v["time"], v["per_mac"])
                for v in train["variants"]]
            for row, time_ratio, per_mac in rows:
                line = f"  {row:8s} time {_summary(time_ratio)}"
                if per_mac is not None and group.level == "model":
                    line += f"  per MAC {_summary(per_mac)}"
                print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
