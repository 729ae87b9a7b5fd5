"""Runs the suite: one process per group, re-runs of contaminated groups,
then the report.

`run_suite` starts `python -m keras_resvariants.bench.worker` once per
group (and again, up to `retries` times, when the group's plain-vs-plain
control strays beyond the tolerance), keeps the first clean attempt or the
least disturbed one (flagged), and writes `results.json`, `benchmarks.md`
and `benchmarks.png` to the output directory.
"""

import datetime
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import keras

from keras_resvariants.bench import analysis
from keras_resvariants.bench import report
from keras_resvariants.bench import stats
from keras_resvariants.bench.groups import GROUP_NAMES
from keras_resvariants.bench.groups import default_groups
from keras_resvariants.bench.groups import get_profile
from keras_resvariants.runs import cpu_model


def machine_info():
    """Date, CPU, cores, load, Python and library versions (from the
    installed metadata, so TensorFlow/JAX need not be imported)."""
    cpu = cpu_model(platform.processor() or platform.machine())
    versions = {}
    for package in ("keras", "tensorflow", "jax", "numpy"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    try:
        load = list(os.getloadavg())
    except OSError:
        load = None
    return {
        "date": datetime.datetime.now().astimezone().isoformat(
            timespec="seconds"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
        "backend": keras.backend.backend(),
        "load_at_start": load,
        "gpu": None,
    }


def run_group_process(group, profile, *, seed=0, jit_compile=False,
                      timeout=None, log=None):
    """Runs one group in a fresh interpreter; returns its result dict.

    Raises:
        RuntimeError: the worker failed or timed out (message has the end
            of its stderr).
    """
    log = log or (lambda line: None)
    profile = get_profile(profile)
    with tempfile.TemporaryDirectory(prefix="resvariants_bench_") as tmp:
        out = os.path.join(tmp, "result.json")
        cmd = [sys.executable, "-m", "keras_resvariants.bench.worker",
               "--group", group, "--profile", profile.name, "--out", out,
               "--seed", str(seed)]
        if jit_compile:
            cmd.append("--jit-compile")
        env = dict(os.environ)
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True,
                                  timeout=timeout, env=env)
        except subprocess.TimeoutExpired:
            raise RuntimeError(
                f"group {group!r} timed out after {timeout} s"
            ) from None
        for line in proc.stderr.splitlines():
            if line.startswith("  "):
                log(line)
        if proc.returncode != 0 or not os.path.exists(out):
            raise RuntimeError(
                f"group {group!r} failed (exit {proc.returncode}):\n"
                + proc.stderr[-3000:]
            )
        with open(out) as f:
            return json.load(f)


def run_suite(groups=None, *, profile="quick", output_dir="bench_out",
              retries=None, tolerance=stats.DEFAULT_TOLERANCE, seed=0,
              jit_compile=False, timeout=None, log=print, runner=None):
    """Runs every group, re-running contaminated ones, and writes the
    report.

    Args:
        groups: group names (default: the profile's,
            `groups.default_groups(profile)`).
        profile: `"quick"`, `"full"` or `"smoke"`.
        output_dir: where `results.json`, `benchmarks.md` and
            `benchmarks.png` go (created if needed).
        retries: re-runs of a contaminated group; default from the
            profile.
        tolerance: control tolerance, see `stats.control_verdict`.
        seed: weights/data seed.
        jit_compile: TensorFlow: XLA-compile the timed calls.
        timeout: seconds per group process.
        log: callable taking progress lines (`None` for silence).
        runner: callable `(group, profile, seed=, jit_compile=, timeout=,
            log=) -> result`; defaults to `run_group_process`. Tests swap in
            an in-process runner.

    Returns:
        dict with `machine`, `profile`, `groups` (one entry per group with
        its chosen `result`, `analysis`, `attempts` count and `flagged`)
        and `errors` (group -> message).
    """
    log = log or (lambda line: None)
    runner = runner or run_group_process
    profile = get_profile(profile)
    groups = list(groups or default_groups(profile))
    unknown = [g for g in groups if g not in GROUP_NAMES]
    if unknown:
        raise ValueError(
            f"Unknown benchmark group(s) {unknown}. Accepted: "
            f"{', '.join(GROUP_NAMES)}"
        )
    retries = profile.retries if retries is None else int(retries)
    os.makedirs(output_dir, exist_ok=True)
    suite = {
        "machine": machine_info(),
        "profile": profile.name,
        "tolerance": tolerance,
        "jit_compile": bool(jit_compile),
        "groups": [],
        "errors": {},
    }
    started = time.time()
    for name in groups:
        attempts = []
        for attempt in range(1 + retries):
            if attempt and profile.retry_budget_s is not None and (
                    time.time() - started > profile.retry_budget_s):
                log(f"[{name}] no time left for a re-run: flagged")
                break
            log(f"[{name}] attempt {attempt + 1}")
            try:
                result = runner(name, profile, seed=seed,
                                jit_compile=jit_compile, timeout=timeout,
                                log=log)
            except RuntimeError as error:
                log(f"[{name}] FAILED: {error}")
                suite["errors"][name] = str(error)
                break
            attempts.append(result)
            verdict = analysis.analyse_group(result, tolerance)
            controls = ", ".join(
                f"{mode} {m['control']['summary']['median']:.3f}"
                for mode, m in verdict["modes"].items()
            )
            log(f"[{name}] control {controls} "
                f"({result['elapsed_s']:.0f} s)"
                + (" CONTAMINATED" if verdict["contaminated"] else ""))
            if not verdict["contaminated"]:
                break
        if not attempts:
            continue
        suite["errors"].pop(name, None)
        result, verdict = analysis.pick_attempt(attempts, tolerance)
        suite["groups"].append({
            "name": name,
            "result": result,
            "analysis": verdict,
            "attempts": len(attempts),
            "flagged": verdict["contaminated"],
        })
    suite["elapsed_s"] = time.time() - started
    try:
        suite["machine"]["load_at_end"] = list(os.getloadavg())
    except OSError:
        pass
    with open(os.path.join(output_dir, "results.json"), "w") as f:
        json.dump(suite, f, indent=1)
    report.write_report(suite, output_dir)
    log(f"Wrote {output_dir}/benchmarks.md, benchmarks.png, results.json "
        f"({suite['elapsed_s']:.0f} s)")
    return suite
