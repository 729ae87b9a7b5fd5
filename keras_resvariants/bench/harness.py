"""Times one comparison group inside the current process.

`run_group(group, profile)` builds every candidate with the same seed,
compiles its calls, warms them up and then times `profile.rounds` rounds
of round-robin calls (rotated each round), train steps first, then
inference. It returns a JSON-ready dict of raw timings and the candidates'
parameter and MAC counts; `analysis.analyse_group` turns that into ratios.

`python -m keras_resvariants.bench.worker` runs this in a fresh process:
one process per group, so groups cannot disturb each other's memory,
thread pools or compiled-function caches.
"""

import os
import platform
import time

import keras
import numpy as np

from keras_resvariants.bench import stats
from keras_resvariants.bench.groups import CONTROL
from keras_resvariants.bench.groups import get_profile
from keras_resvariants.bench.steps import CompiledCandidate
from keras_resvariants.macs import count_macs
from keras_resvariants.macs import count_parameters

MODES = ("train", "infer")


def _macs(model):
    try:
        return int(count_macs(model))
    except ValueError:
        return None


def run_group(group, profile, *, seed=0, jit_compile=False,
              separate_control=False, modes=MODES, log=None):
    """Times `group` (a `groups.Group`) under `profile`.

    Args:
        group: the comparison group.
        profile: a `groups.Profile` or its name (rounds, warm-up, sample
            length).
        seed: weights and synthetic data seed; identical for every
            candidate, so baseline and control are the same network.
        jit_compile: TensorFlow only: XLA-compile the calls. JAX always
            compiles with XLA.
        separate_control: build and compile the control as a second,
            identical model instead of re-timing the baseline's calls.
        modes: which of `"train"`, `"infer"` to time. Defaults to both.
        log: optional callable taking one progress line.

    Returns:
        dict with `group`, `title`, `level`, `claim`, `baseline`, the
        `candidates` (name, label, role, batch, params, macs, target),
        per mode the raw per-round `times` (seconds per call), `reps`
        (calls per timed sample) and `first_call_s`, plus run metadata.
    """
    profile = get_profile(profile)
    log = log or (lambda line: None)
    started = time.time()
    load_before = _loadavg()
    backend = keras.backend.backend()
    candidates = group.candidates()
    compiled = {}
    meta = []
    for cand in candidates:
        if cand.name == CONTROL and not separate_control:
            # The control re-times the baseline's own compiled calls: the
            # same work, so its paired ratio is pure noise (and the group
            # saves one build and trace).
            compiled[cand.name] = compiled[candidates[0].name]
            model = compiled[cand.name].model
        else:
            keras.utils.set_random_seed(seed)
            model = cand.build()
            keras.utils.set_random_seed(seed)
            compiled[cand.name] = CompiledCandidate(
                model, kind=group.kind, batch=cand.batch, seed=seed,
                jit_compile=jit_compile,
            )
        meta.append({
            "name": cand.name,
            "label": cand.label,
            "role": ("baseline" if cand is candidates[0] else
                     "control" if cand is candidates[1] else "variant"),
            "batch": cand.batch,
            "params": count_parameters(model)["trainable"],
            "macs": _macs(model),
            "target": None if cand.target is None else {
                "limit": cand.target.limit,
                "metric": cand.target.metric,
                "mode": cand.target.mode,
                "text": cand.target.text,
            },
            "floor_for": cand.floor_for,
        })
        log(f"  built {cand.name}: {meta[-1]['params']:,} params")

    unknown = sorted(set(modes) - set(MODES))
    if unknown:
        raise ValueError(
            f"`modes` must be among {', '.join(MODES)}. Received: "
            f"modes={tuple(modes)!r}")
    timed, modes = modes, {}
    for mode in timed:
        calls = {name: getattr(c, mode) for name, c in compiled.items()}
        first = {}
        for name, call in calls.items():
            t0 = time.perf_counter()
            call()
            first[name] = time.perf_counter() - t0
            for _ in range(profile.warmup):
                call()
        log(f"  {mode}: first calls " + ", ".join(
            f"{n} {s:.1f} s" for n, s in first.items()))
        # One more untimed call of the baseline sizes the samples; every
        # candidate uses the same number of calls per sample.
        baseline_call = calls[candidates[0].name]
        t0 = time.perf_counter()
        baseline_call()
        reps = stats.choose_reps(time.perf_counter() - t0,
                                 profile.min_sample_seconds)
        times = {name: [] for name in calls}
        rounds = profile.rounds_for(group.level)
        for r in range(rounds):
            for name in stats.round_robin_order(calls, r):
                call = calls[name]
                t0 = time.perf_counter()
                for _ in range(reps):
                    call()
                times[name].append((time.perf_counter() - t0) / reps)
        modes[mode] = {"times": times, "reps": reps, "first_call_s": first}
        log(f"  {mode}: {rounds} rounds x {reps} calls, baseline "
            f"{np.median(times[candidates[0].name]) * 1e3:.1f} ms")

    return {
        "group": group.name,
        "title": group.title,
        "level": group.level,
        "claim": group.claim,
        "baseline": candidates[0].name,
        "candidates": meta,
        "modes": modes,
        "profile": profile.name,
        "rounds": profile.rounds_for(group.level),
        "backend": backend,
        "jit_compile": bool(jit_compile) if backend == "tensorflow" else True,
        "seed": seed,
        "separate_control": bool(separate_control),
        "started": started,
        "elapsed_s": time.time() - started,
        "pid": os.getpid(),
        "load_before": load_before,
        "load_after": _loadavg(),
        "python": platform.python_version(),
    }


def _loadavg():
    try:
        return list(os.getloadavg())
    except OSError:
        return None
