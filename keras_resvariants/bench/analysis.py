"""From raw per-round timings to paired ratios, control verdicts, targets.

Works on the JSON dicts `harness.run_group` returns, so a saved
`results.json` can be re-analysed (e.g. with another tolerance) without
re-running anything.
"""

import numpy as np

from keras_resvariants.bench import stats


def analyse_group(result, tolerance=stats.DEFAULT_TOLERANCE):
    """Ratios of every variant to the baseline, per mode.

    Args:
        result: dict from `harness.run_group`.
        tolerance: control tolerance (see `stats.control_verdict`).

    Returns:
        dict: `contaminated` (bool, any mode), per mode `control` (the
        verdict) and `variants`: a list of dicts with `name`, `label`,
        `time` (summary of the paired time ratios), `per_mac` (summary of
        the paired MACs/s ratios, or None without MAC counts),
        `images_per_s` and `baseline_images_per_s` (context only), and
        `target` / `target_ratio` / `target_met` where the variant has a
        target in this mode, and then `floor_ratio` / `floor_met`: the
        same metric for the candidate that measures its floor (see
        `groups.Candidate.floor_for`), None without one, and
        `floor_worse_than_variant`: the floor measured worse than the variant
        it bounds (it does a part of the variant's work, so only noise
        puts it there, and its verdict then proves nothing).
    """
    candidates = {c["name"]: c for c in result["candidates"]}
    baseline = candidates[result["baseline"]]
    control = next(c for c in result["candidates"] if c["role"] == "control")
    out = {"group": result["group"], "modes": {}, "contaminated": False}
    for mode, data in result["modes"].items():
        times = data["times"]
        base_times = times[baseline["name"]]
        verdict = stats.control_verdict(
            stats.paired_ratios(times[control["name"]], base_times),
            tolerance,
        )
        out["contaminated"] |= verdict["contaminated"]
        rows = []
        for cand in result["candidates"]:
            if cand["role"] != "variant":
                continue
            row = _variant_row(cand, baseline, times[cand["name"]],
                               base_times, mode)
            rows.append(row)
        _add_floors(rows, candidates)
        out["modes"][mode] = {
            "control": verdict,
            "variants": rows,
            "baseline_images_per_s": _images_per_s(baseline, base_times),
        }
    return out


def _images_per_s(cand, times):
    return float(cand["batch"] / np.median(times))


def _variant_row(cand, baseline, times, base_times, mode):
    row = {
        "name": cand["name"],
        "label": cand["label"],
        "params": cand["params"],
        "macs": cand["macs"],
        "time": stats.summarize(stats.paired_ratios(times, base_times)),
        "per_mac": None,
        "images_per_s": _images_per_s(cand, times),
        "target": None,
        "target_ratio": None,
        "target_met": None,
        "floor_ratio": None,
        "floor_met": None,
        "floor_worse_than_variant": None,
    }
    if cand["macs"] and baseline["macs"]:
        row["per_mac"] = stats.summarize(stats.efficiency_ratios(
            times, base_times,
            cand["batch"] * cand["macs"], baseline["batch"] * baseline["macs"],
        ))
    target = cand.get("target")
    if target and target["mode"] == mode:
        summary = row["time"] if target["metric"] == "time" else row["per_mac"]
        if summary is not None:
            ratio = summary["median"]
            row["target"] = target["text"]
            row["target_ratio"] = ratio
            row["target_met"] = _meets(ratio, target)
    return row


def _meets(ratio, target):
    """`groups.Target.met` for a target stored as a dict."""
    if target["metric"] == "time":
        return bool(ratio <= target["limit"])
    return bool(ratio >= target["limit"])


def _add_floors(rows, candidates):
    """Each targeted row gets its floor candidate's ratio on the target's
    metric, whether the floor itself meets the target, and whether it
    measured worse than the variant."""
    by_name = {r["name"]: r for r in rows}
    for floor in rows:
        of = candidates[floor["name"]].get("floor_for")
        row = by_name.get(of)
        if row is None or row["target"] is None:
            continue
        target = candidates[of]["target"]
        summary = (floor["time"] if target["metric"] == "time"
                   else floor["per_mac"])
        if summary is None:
            continue
        row["floor_ratio"] = summary["median"]
        row["floor_met"] = _meets(row["floor_ratio"], target)
        row["floor_worse_than_variant"] = not _meets(
            row["floor_ratio"], dict(target, limit=row["target_ratio"]))


def reanalyse(suite):
    """The suite with every group's analysis recomputed from its stored
    (picked) result: a saved run read by newer analysis code reports what
    that code says of the same timings. The suite is changed in place and
    returned."""
    tolerance = suite.get("tolerance", stats.DEFAULT_TOLERANCE)
    for entry in suite["groups"]:
        entry["analysis"] = analyse_group(entry["result"], tolerance)
    return suite


def pick_attempt(attempts, tolerance=stats.DEFAULT_TOLERANCE):
    """Of several runs of one group, the first clean one, else the one whose
    control deviates least (summed over modes).

    Returns:
        `(result, analysis)`.
    """
    if not attempts:
        raise ValueError("No attempts to choose from.")
    analysed = [(r, analyse_group(r, tolerance)) for r in attempts]
    for result, analysis in analysed:
        if not analysis["contaminated"]:
            return result, analysis

    def deviation(pair):
        return sum(m["control"]["deviation"]
                   for m in pair[1]["modes"].values())

    return min(analysed, key=deviation)
