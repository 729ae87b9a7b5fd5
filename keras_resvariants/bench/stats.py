"""Paired-ratio statistics and the noise-control check of the benchmark.

Pure NumPy, no Keras: everything here works on lists of per-round timings
and is tested on its own (`tests/bench/test_stats.py`).

The method (docs/benchmarks.md): every candidate of a comparison
group is timed once per round, round-robin, in one process. For each round
the variant's time is divided by the baseline's time *of the same round*,
so a slow-down of the machine that hits a whole round cancels out. The
median of those per-round ratios is the headline figure, the inter-quartile
range its spread. A second, identical copy of the baseline (the *control*)
is timed like any variant: its ratio to the baseline should be 1, and a
group whose control strays further than the tolerance was disturbed by
other work on the machine (*contaminated*).
"""

import math

import numpy as np

# A control whose median paired ratio is outside 1 +- this is contaminated
# (docs/benchmarks.md: repeat ratios held to about +-3% on this machine).
DEFAULT_TOLERANCE = 0.03


def paired_ratios(variant_times, baseline_times):
    """Per-round ratios `variant / baseline` of two equally long series.

    Args:
        variant_times: sequence of seconds, one per round.
        baseline_times: sequence of seconds, one per round (same length).

    Returns:
        float64 NumPy array of the per-round ratios.
    """
    variant = np.asarray(variant_times, dtype="float64")
    baseline = np.asarray(baseline_times, dtype="float64")
    if variant.shape != baseline.shape or variant.ndim != 1:
        raise ValueError(
            "`variant_times` and `baseline_times` must be 1-D sequences of "
            f"the same length (one time per round). Received lengths "
            f"{variant.shape} and {baseline.shape}"
        )
    if variant.size == 0:
        raise ValueError("At least one round is needed. Received 0 rounds.")
    if np.any(baseline <= 0) or np.any(variant <= 0):
        raise ValueError(
            "Timings must be positive seconds. Received: "
            f"variant_times={variant.tolist()}, "
            f"baseline_times={baseline.tolist()}"
        )
    return variant / baseline


def efficiency_ratios(variant_times, baseline_times, variant_work,
                      baseline_work):
    """Per-round ratios of work-per-second (e.g. MACs/s), variant over
    baseline: `(variant_work / variant_time) / (baseline_work /
    baseline_time)`. Above 1 the variant does more work per second.

    Args:
        variant_times, baseline_times: per-round seconds, as in
            `paired_ratios`.
        variant_work, baseline_work: positive numbers: the work one timed
            call does (e.g. batch size x MACs per example).
    """
    if not (variant_work > 0 and baseline_work > 0):
        raise ValueError(
            "`variant_work` and `baseline_work` must be positive. Received: "
            f"variant_work={variant_work!r}, baseline_work={baseline_work!r}"
        )
    return (variant_work / baseline_work) / paired_ratios(
        variant_times, baseline_times
    )


def summarize(values):
    """Median, quartiles and range of a sample.

    Quartiles use linear interpolation (NumPy's default), so with one value
    every statistic equals it.

    Returns:
        dict with `median`, `q1`, `q3`, `min`, `max` (floats) and `n`.
    """
    values = np.asarray(values, dtype="float64").reshape(-1)
    if values.size == 0:
        raise ValueError("Cannot summarize an empty sample.")
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    return {
        "median": float(median),
        "q1": float(q1),
        "q3": float(q3),
        "min": float(values.min()),
        "max": float(values.max()),
        "n": int(values.size),
    }


def control_verdict(control_ratios, tolerance=DEFAULT_TOLERANCE):
    """Whether a plain-vs-plain control says the group was disturbed.

    Args:
        control_ratios: per-round ratios control / baseline of two
            identical candidates.
        tolerance: float > 0. Largest accepted `|median - 1|`.

    Returns:
        dict: `contaminated` (bool), `deviation` (`|median - 1|`) and
        `summary` (`summarize(control_ratios)`).
    """
    if not (isinstance(tolerance, (int, float)) and tolerance > 0):
        raise ValueError(
            "`tolerance` must be a number > 0. Received: "
            f"tolerance={tolerance!r}"
        )
    summary = summarize(control_ratios)
    deviation = abs(summary["median"] - 1.0)
    return {
        "contaminated": bool(deviation > tolerance),
        "deviation": float(deviation),
        "summary": summary,
    }


def choose_reps(seconds_per_call, min_sample_seconds, max_reps=1000):
    """Calls per timed sample so that one sample lasts at least
    `min_sample_seconds` (short calls are dominated by timer and dispatch
    jitter otherwise). At least 1, at most `max_reps`."""
    if seconds_per_call <= 0:
        return max_reps
    return int(min(max_reps, max(1, math.ceil(
        min_sample_seconds / seconds_per_call))))


def round_robin_order(names, round_index):
    """The candidates' order in round `round_index`: rotated by one each
    round, so no candidate always runs first (after the other process's
    burst) or right after the same neighbour."""
    names = list(names)
    if not names:
        return names
    shift = round_index % len(names)
    return names[shift:] + names[:shift]
