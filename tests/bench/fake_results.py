"""Hand-made `run_group` results with known ratios (no timing involved)."""

import copy


def fake_result(*, group="g", level="model", control_scale=1.0,
                variant_scale=1.1, rounds=5, target=None, macs=(100, 150),
                batch=4):
    """Baseline rounds alternate 1.0 / 2.0 s (a noisy machine); the control
    and the variant are fixed multiples of the same round's baseline."""
    base = [1.0 if r % 2 == 0 else 2.0 for r in range(rounds)]
    times = {
        "base": base,
        "control": [t * control_scale for t in base],
        "var": [t * variant_scale for t in base],
    }
    candidates = [
        {"name": "base", "label": "Base", "role": "baseline",
         "batch": batch, "params": 1000, "macs": macs[0], "target": None},
        {"name": "control", "label": "Base (control copy)",
         "role": "control", "batch": batch, "params": 1000,
         "macs": macs[0], "target": None},
        {"name": "var", "label": "Variant", "role": "variant",
         "batch": batch, "params": 1010, "macs": macs[1], "target": target},
    ]
    return {
        "group": group,
        "title": f"Title of {group}",
        "level": level,
        "claim": "It is free.",
        "baseline": "base",
        "candidates": candidates,
        "modes": {
            "train": {"times": copy.deepcopy(times), "reps": 1,
                      "first_call_s": {"base": 1.0, "var": 1.0}},
            "infer": {"times": copy.deepcopy(times), "reps": 1,
                      "first_call_s": {"base": 1.0, "var": 1.0}},
        },
        "profile": "smoke",
        "rounds": rounds,
        "backend": "tensorflow",
        "jit_compile": False,
        "seed": 0,
        "elapsed_s": 1.0,
    }


def time_target(limit, mode="train"):
    return {"limit": limit, "metric": "time", "mode": mode,
            "text": f"time <= {limit:g}x"}


def mac_target(limit, mode="train"):
    return {"limit": limit, "metric": "per_mac", "mode": mode,
            "text": f"MACs/s >= {limit:g}x"}
