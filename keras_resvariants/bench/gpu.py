"""The model-level speed groups on one GPU with JAX, in float32 and
bfloat16, against the GPU's own dense-convolution throughput.

    KERAS_BACKEND=jax python -m keras_resvariants.bench.gpu \\
        --output bench_gpu            # ~5 minutes on one H200 (goal)

For every dtype policy (`float32`, `mixed_bfloat16`) and every model-level
group of the suite (`keras_resvariants.bench.groups`, at the `gpu`
profile: batch 256 at 32x32, 64 at 224x224, the papers' full-size
networks), the training step of each network is timed by the suite's own
harness (synthetic batch on the device, compiled `jax.jit` step, warm-up,
interleaved rounds, medians). The same run times a *dense-convolution
reference*: a stack of 3x3 convolutions, 256 channels at 56x56, no
normalisation, the shape on which a GPU's convolution kernels reach their
best throughput. Every network's multiply-accumulates per second
(forward MACs per example x batch / step time, the papers' counting) over
the reference's is its **fraction of dense-conv throughput**; the issue's
goal is >= 40% on the ResNet-50-class networks, and SeqResNeXt-24 within
1.5x ResNet-50's time per MAC.

The GPU machine has JAX and no TensorFlow and no network: carry Keras (a
wheel), this package and nothing else (the inputs are synthetic). The
tests run it at the `smoke` profile on the CPU with JAX.

Writes `OUTPUT/gpu_benchmarks.md` (the table `docs/benchmarks.md` quotes)
and `OUTPUT/gpu_results.json` (every timing).
"""

import argparse
import json
import os
import sys
import time

import keras
import numpy as np

from keras_resvariants.bench import groups as groups_lib
from keras_resvariants.bench.harness import run_group
from keras_resvariants.bench.runner import machine_info

# The suite's model-level groups (`groups_lib.get_group(name).level`).
MODEL_GROUPS = ("ror", "bridge_se", "rg", "rir", "seqconv", "grouped")
DTYPE_POLICIES = ("float32", "mixed_bfloat16")
REFERENCE = "dense_conv"


def dense_conv_group(profile):
    """The reference: 8 3x3 convolutions, 256 channels at 56x56 (2, 16
    channels at 8x8 for the small profiles), a pooled logits head."""
    size = 56 if profile.imagenet_size >= 112 else 8
    channels, depth = (256, 8) if size == 56 else (16, 2)

    def build():
        inputs = keras.Input((size, size, channels))
        x = inputs
        for i in range(depth):
            x = keras.layers.Conv2D(channels, 3, padding="same",
                                    use_bias=False, name=f"conv{i}")(x)
        x = keras.layers.GlobalAveragePooling2D()(x)
        outputs = keras.layers.Dense(10, dtype="float32")(x)
        return keras.Model(inputs, outputs, name=REFERENCE)

    batch = profile.imagenet_batch
    reference = groups_lib.Candidate(
        REFERENCE, f"{depth} x Conv2D 3x3 {channels}->{channels} at "
                   f"{size}x{size}", build, batch)
    return groups_lib.Group(
        name=REFERENCE, title="Dense-convolution reference", level="model",
        claim="The GPU's dense-conv throughput, measured in this run.",
        baseline=reference, variants=())


def _rows(result):
    """Per candidate: name, label, batch, MACs, median train step
    seconds, images/s, MACs/s (the control copy is left out)."""
    times = result["modes"]["train"]["times"]
    out = []
    for cand in result["candidates"]:
        if cand["role"] == "control":
            continue
        seconds = float(np.median(times[cand["name"]]))
        macs = cand["macs"]
        out.append({
            "group": result["group"],
            "name": cand["name"],
            "label": cand["label"],
            "role": cand["role"],
            "batch": cand["batch"],
            "macs": macs,
            "step_s": seconds,
            "images_per_s": cand["batch"] / seconds,
            "macs_per_s": None if macs is None
            else macs * cand["batch"] / seconds,
        })
    return out


def run_gpu_bench(groups=MODEL_GROUPS, *, dtypes=DTYPE_POLICIES,
                  profile="gpu", output_dir="bench_gpu", seed=0, log=print):
    """Times the groups under each dtype policy; writes the report.

    Returns:
        The results dict written to `gpu_results.json`.
    """
    if keras.backend.backend() != "jax":
        raise ValueError(
            "The GPU benchmark runs on the JAX backend (set "
            "KERAS_BACKEND=jax). Received: backend="
            f"{keras.backend.backend()!r}")
    unknown = sorted(set(groups) - set(MODEL_GROUPS))
    if unknown:
        raise ValueError(
            f"`groups` must be model-level groups: {', '.join(MODEL_GROUPS)}"
            f". Received: groups={list(groups)!r}")
    unknown = sorted(set(dtypes) - set(DTYPE_POLICIES))
    if unknown:
        raise ValueError(
            f"`dtypes` must be among {', '.join(DTYPE_POLICIES)}. "
            f"Received: dtypes={list(dtypes)!r}")
    profile = groups_lib.get_profile(profile)
    started = time.perf_counter()
    import jax

    machine = dict(machine_info(),
                   gpu=", ".join(sorted({d.device_kind
                                         for d in jax.devices()})),
                   devices=[str(d) for d in jax.devices()])
    rows = []
    previous = keras.config.dtype_policy()
    try:
        for dtype in dtypes:
            keras.config.set_dtype_policy(dtype)
            for group in (dense_conv_group(profile),
                          *(groups_lib.get_group(g, profile)
                            for g in groups)):
                log(f"[{dtype}] {group.name}")
                result = run_group(group, profile, seed=seed,
                                   modes=("train",), log=log)
                rows += [dict(r, dtype=dtype) for r in _rows(result)]
    finally:
        keras.config.set_dtype_policy(previous)
    for dtype in dtypes:
        mine = [r for r in rows if r["dtype"] == dtype]
        reference = next(r for r in mine if r["group"] == REFERENCE)
        for r in mine:
            r["dense_fraction"] = (None if r["macs_per_s"] is None
                                   else r["macs_per_s"]
                                   / reference["macs_per_s"])
    results = {"machine": machine, "profile": profile.name,
               "groups": list(groups), "dtypes": list(dtypes),
               "rows": rows,
               "wall_s": time.perf_counter() - started}
    os.makedirs(output_dir, exist_ok=True)
    with open(os.path.join(output_dir, "gpu_results.json"), "w") as f:
        json.dump(results, f, indent=1, sort_keys=True)
    with open(os.path.join(output_dir, "gpu_benchmarks.md"), "w") as f:
        f.write(markdown(results))
    return results


def markdown(results):
    """The report: one table per dtype policy."""
    m = results["machine"]
    lines = [
        "# GPU benchmarks (JAX)", "",
        f"{m['date']}; {m['gpu'] or 'no GPU'} ({', '.join(m['devices'])});"
        f" host {m['cpu']}; Keras {m['versions'].get('keras')}, JAX "
        f"{m['versions'].get('jax')}; profile `{results['profile']}`; "
        f"{results['wall_s']:.0f} s in all.", "",
        "Training step (forward, backward, SGD update) on a synthetic "
        "batch; median over the rounds. Fraction = the network's MACs/s "
        "(forward MACs per example x batch / step time) over the "
        "dense-convolution reference's, measured in the same run.",
    ]
    for dtype in results["dtypes"]:
        lines += ["", f"## {dtype}", "",
                  "| group | network | batch | MACs/example | step ms | "
                  "images/s | fraction of dense-conv MACs/s |",
                  "|---|---|---|---|---|---|---|"]
        for r in results["rows"]:
            if r["dtype"] != dtype:
                continue
            macs = "–" if r["macs"] is None else f"{r['macs'] / 1e6:,.1f}M"
            fraction = ("–" if r["dense_fraction"] is None
                        else f"{100 * r['dense_fraction']:.0f}%")
            lines.append(
                f"| {r['group']} | {r['label']} | {r['batch']} | {macs} | "
                f"{1e3 * r['step_s']:.1f} | {r['images_per_s']:,.0f} | "
                f"{fraction} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m keras_resvariants.bench.gpu",
        description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="bench_gpu")
    parser.add_argument("--groups", nargs="+", default=list(MODEL_GROUPS),
                        metavar="GROUP")
    parser.add_argument("--dtypes", nargs="+", default=list(DTYPE_POLICIES))
    parser.add_argument("--profile", default="gpu",
                        help="gpu (default) or smoke (tests)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        run_gpu_bench(args.groups, dtypes=args.dtypes, profile=args.profile,
                      output_dir=args.output, seed=args.seed)
    except ValueError as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 2
    print(os.path.join(args.output, "gpu_benchmarks.md"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
