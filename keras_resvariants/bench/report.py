"""Markdown table and PNG chart of a suite run.

`write_report(suite, output_dir)` writes `benchmarks.md` (`render_markdown`)
and `benchmarks.png` (`render_chart`) from the dict `runner.run_suite`
returns (also what `results.json` holds, so a saved run can be re-rendered
with `python -m keras_resvariants.bench.report results.json OUT_DIR`, its
analysis recomputed from the stored timings by the current code).
"""

import json
import os
import sys

from keras_resvariants import _extras
from keras_resvariants.bench import analysis

METHOD = (
    "Each group runs in its own process. Every candidate is built with the "
    "same seed, compiled once and warmed up; then the candidates are timed "
    "in interleaved round-robin rounds (order rotated each round), each "
    "call blocking until its result is computed. A ratio is the median of "
    "the per-round ratios variant / baseline (time) or variant / baseline "
    "(MACs per second, 'per MAC'); brackets give the inter-quartile range "
    "of the per-round ratios. A copy of the baseline (the control) is timed "
    "like a variant: a group whose control strays from 1 by more than the "
    "tolerance is re-run and, if it stays off, flagged. Train = one SGD "
    "step on synthetic data (model) or forward + backward w.r.t. inputs "
    "and weights (layer); infer = one forward pass, training=False. "
    "Images/s are context only: they move with the machine's load."
)


def _ratio(summary, digits=3):
    if summary is None:
        return "–"
    lo, hi = summary["q1"], summary["q3"]
    return (f"{summary['median']:.{digits}f} "
            f"[{lo:.{digits - 1}f}–{hi:.{digits - 1}f}]")


def _count(n):
    if n is None:
        return "–"
    if n >= 1e9:
        return f"{n / 1e9:.2f}G"
    if n >= 1e6:
        return f"{n / 1e6:.2f}M"
    if n >= 1e3:
        return f"{n / 1e3:.1f}k"
    return str(n)


def _rate(x):
    return "–" if x is None else (f"{x:,.0f}" if x >= 100 else f"{x:.1f}")


def _machine_lines(suite):
    m = suite["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items() if v)
    load = m.get("load_at_start")
    load_end = m.get("load_at_end")
    xla = ("XLA on" if suite.get("jit_compile") else "XLA off")
    if m.get("backend") == "jax":
        xla = "jax.jit (XLA)"
    lines = [
        f"- Date: {m['date']}; profile `{suite['profile']}`; "
        f"{suite.get('elapsed_s', 0):.0f} s in all.",
        f"- Machine: {m['cpu']}, {m['cores']} cores, {m['platform']}; "
        f"GPU: {m.get('gpu') or 'none'}.",
        f"- Software: Python {m['python']}, {versions}; backend "
        f"`{m['backend']}`, {xla}.",
    ]
    if load:
        end = (f", at end {load_end[0]:.2f}" if load_end else "")
        lines.append(f"- Load average (1 min) at start {load[0]:.2f}{end} "
                     f"(other users' jobs share the cores).")
    lines.append(f"- Control tolerance ±{suite['tolerance']:.0%}.")
    return lines


def _targets_table(suite):
    rows = []
    for entry in suite["groups"]:
        for mode, m in entry["analysis"]["modes"].items():
            for v in m["variants"]:
                if v["target"] is None:
                    continue
                status = "met" if v["target_met"] else "**not met**"
                floor = "–"
                if v.get("floor_ratio") is not None:
                    floor = f"{v['floor_ratio']:.3f}"
                    if v.get("floor_worse_than_variant"):
                        status += (", no verdict from the floor: it "
                                   "measured worse than the variant")
                    elif not v["floor_met"]:
                        status += ", out of reach: its floor misses it"
                if entry["flagged"]:
                    status += " (noisy run)"
                rows.append(
                    f"| {entry['result']['title']} | {v['label']} | {mode} "
                    f"| {v['target']} | {v['target_ratio']:.3f} | {floor} "
                    f"| {status} |"
                )
    if not rows:
        return []
    return [
        "| group | variant | mode | target | measured | floor | status |",
        "|---|---|---|---|---|---|---|",
        *rows,
    ]


def _group_section(entry):
    result, analysed = entry["result"], entry["analysis"]
    base = next(c for c in result["candidates"] if c["role"] == "baseline")
    modes = analysed["modes"]
    lines = [f"### {result['title']}", "", f"Claim: {result['claim']}", ""]
    controls = "; ".join(
        f"{mode} {_ratio(m['control']['summary'])}"
        for mode, m in modes.items()
    )
    state = "clean"
    if entry["flagged"]:
        state = (f"**contaminated** after {entry['attempts']} attempt(s): "
                 "read these ratios with care")
    elif entry["attempts"] > 1:
        state = f"clean on attempt {entry['attempts']}"
    others = [c for c in result["candidates"]
              if c["batch"] != base["batch"]]
    batch = f"Batch {base['batch']}" + (
        " (" + ", ".join(f"{c['name']}: {c['batch']}" for c in others)
        + "; a time ratio compares steps of different batches, the "
          "per-MAC ratio their work)" if others else "")
    lines.append(f"Control (plain vs plain): {controls} — {state}. "
                 f"{batch}, {result['rounds']} rounds.")
    lines.append("")
    header = ("| candidate | params | MACs/example | train time ratio | "
              "train per-MAC | train img/s | infer time ratio | "
              "infer per-MAC | infer img/s |")
    lines += [header, "|---|---|---|---|---|---|---|---|---|"]
    lines.append(
        f"| {base['label']} (baseline) | {_count(base['params'])} | "
        f"{_count(base['macs'])} | 1 | 1 | "
        f"{_rate(modes.get('train', {}).get('baseline_images_per_s'))} | "
        f"1 | 1 | "
        f"{_rate(modes.get('infer', {}).get('baseline_images_per_s'))} |"
    )
    by_name = {}
    for mode, m in modes.items():
        for v in m["variants"]:
            by_name.setdefault(v["name"], {})[mode] = v
    for name, per_mode in by_name.items():
        any_row = next(iter(per_mode.values()))
        cells = [any_row["label"], _count(any_row["params"]),
                 _count(any_row["macs"])]
        for mode in ("train", "infer"):
            v = per_mode.get(mode)
            if v is None:
                cells += ["–", "–", "–"]
                continue
            time_cell = _ratio(v["time"])
            if v["target"] is not None and v["target"].startswith("time"):
                time_cell += " ✓" if v["target_met"] else " ✗"
            mac_cell = _ratio(v["per_mac"])
            if v["target"] is not None and v["target"].startswith("MACs"):
                mac_cell += " ✓" if v["target_met"] else " ✗"
            cells += [time_cell, mac_cell, _rate(v["images_per_s"])]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    return lines


FLOORS = (
    "Floor: the ratio, in the same run and on the same metric, of the "
    "same step with the variant's extra work cut down to what no "
    "formulation of it can avoid (for RoR, the mask's one multiply with "
    "no drop-layer; for RG, the shortcut's ReLU and one multiply-add, "
    "without the GroupNorm's moments). A target that its floor misses is "
    "out of reach on this machine's kernels, whatever the layer's code "
    "does, unless the floor measured worse than the variant it bounds "
    "(only noise puts it there: no verdict); '–' where the group measures "
    "no floor."
)


def render_markdown(suite, *, title="Benchmarks: every variant against its "
                    "baseline", chart="benchmarks.png"):
    """The report as Markdown text."""
    lines = [f"# {title}", ""]
    lines += _machine_lines(suite)
    lines += ["", METHOD, ""]
    if chart:
        lines += [f"![paired train/infer time ratios]({chart})", ""]
    targets = _targets_table(suite)
    if targets:
        lines += ["## Targets", "", FLOORS, "", *targets, ""]
    for level, heading in (("model", "Model level"),
                           ("layer", "Layer level (one layer, forward + "
                                     "backward)")):
        entries = [e for e in suite["groups"]
                   if e["result"]["level"] == level]
        if not entries:
            continue
        lines += [f"## {heading}", ""]
        for entry in entries:
            lines += _group_section(entry)
    if suite.get("errors"):
        lines += ["## Groups that failed", ""]
        for name, message in suite["errors"].items():
            first = message.strip().splitlines()[0] if message else ""
            lines.append(f"- `{name}`: {first}")
        lines.append("")
    return "\n".join(lines)


def chart_rows(suite):
    """(label, level, mode, summary, target_limit) for every variant with a
    time ratio; the chart's data (tested without matplotlib)."""
    rows = []
    for entry in suite["groups"]:
        result = entry["result"]
        for mode, m in entry["analysis"]["modes"].items():
            for v in m["variants"]:
                target = None
                for c in result["candidates"]:
                    t = c.get("target")
                    if (c["name"] == v["name"] and t and t["mode"] == mode
                            and t["metric"] == "time"):
                        target = t["limit"]
                rows.append((f"{result['group']}: {v['label']}",
                             result["level"], mode, v["time"], target))
    return rows


def render_chart(suite, path):
    """Horizontal bars of the median paired time ratios with their IQR, one
    panel per level, train and infer side by side; target limits marked."""
    _extras.require("train", "The benchmark chart", "matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = chart_rows(suite)
    levels = [lv for lv in ("model", "layer")
              if any(r[1] == lv for r in rows)]
    if not levels:
        levels = ["model"]
    heights = [max(1, len({r[0] for r in rows if r[1] == lv}))
               for lv in levels]
    fig, axes = plt.subplots(
        len(levels), 1, squeeze=False,
        figsize=(10, 1.2 + 0.42 * sum(heights) + 0.8 * len(levels)),
        gridspec_kw={"height_ratios": heights},
    )
    colors = {"train": "#3b6ea8", "infer": "#e0a030"}
    for ax, level in zip(axes[:, 0], levels):
        level_rows = [r for r in rows if r[1] == level]
        labels = list(dict.fromkeys(r[0] for r in level_rows))
        top = max([r[3]["q3"] for r in level_rows] + [1.1])
        legend = set()

        def once(name):
            if name in legend:
                return None
            legend.add(name)
            return name

        for i, label in enumerate(labels):
            for j, mode in enumerate(("train", "infer")):
                match = [r for r in level_rows
                         if r[0] == label and r[2] == mode]
                if not match:
                    continue
                _, _, _, s, target = match[0]
                y = i + (j - 0.5) * 0.38
                ax.barh(y, s["median"], height=0.36, color=colors[mode],
                        label=once(mode))
                ax.errorbar(s["median"], y,
                            xerr=[[s["median"] - s["q1"]],
                                  [s["q3"] - s["median"]]],
                            fmt="none", ecolor="black", capsize=2, lw=0.8)
                if target is not None:
                    ax.plot([target, target], [y - 0.2, y + 0.2],
                            color="red", lw=2, label=once("target"))
        ax.axvline(1.0, color="gray", lw=0.8, ls="--")
        ax.set_yticks(range(len(labels)))
        ax.set_yticklabels(labels, fontsize=8)
        ax.invert_yaxis()
        if top > 4:
            ax.set_xscale("log")
        ax.set_xlabel("time ratio to baseline (median of paired rounds, "
                      "IQR bars; lower is faster)")
        ax.set_title(f"{level} level", fontsize=10)
        handles, names = ax.get_legend_handles_labels()
        if handles:
            ax.legend(fontsize=8, loc="lower right")
    m = suite["machine"]
    fig.suptitle(f"keras-resvariants bench ({suite['profile']}), "
                 f"{m['date'][:10]}, {m['backend']}, {m['cores']} cores",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


DOCS_INTRO = """\
This page is generated: `resvariants bench --quick --docs
docs/benchmarks.md` runs the quick suite and writes it, with the run's raw
timings in `docs/benchmarks.json`;
`python -m keras_resvariants.bench.report --docs docs/benchmarks.json
docs/benchmarks.md` renders it again from them (a test checks that the
two agree). The papers' own SeqResNet k8 r4, ResNeXt-29 8x64d and
SeqResNeXt-24 (the full profile of the `seqconv` and `grouped` groups)
are on [benchmarks_papers.md](benchmarks_papers.md), generated the same
way. Earlier measurements are kept as they were written in
[benchmarks_history.md](benchmarks_history.md).

Other runs:

```bash
resvariants bench --quick --output bench_out     # the same suite, to bench_out/
resvariants bench --output bench_out             # full profile (batch 128; 30+ min)
resvariants bench --groups rir layer_rir --output /tmp/b   # some groups only
python -m keras_resvariants.bench.report bench_out/results.json OUT  # re-render
KERAS_BACKEND=jax python -m keras_resvariants.bench.gpu --output bench_gpu
```

The last command is the GPU suite: the model-level groups at the `gpu`
profile (batch 256 at 32x32, 64 at 224x224, the papers' full-size
networks) in float32 and `mixed_bfloat16`, next to a dense-convolution
reference timed in the same run, reporting images/s and each network's
MACs/s as a fraction of the reference's. It needs JAX, Keras and this
package only (no TensorFlow, no network). Its goals: >= 40% of the
dense-conv throughput on the ResNet-50-class networks, SeqResNeXt-24
within 1.5x ResNet-50's time per MAC, the whole command within 5 minutes.
It has not run yet: no GPU machine has been lent since it was written.

Ratios are the figures to read: they are paired in time and share the
machine's state. Images/s move with the load; the targets below are the
goals of the issues that set them.
"""


PAPERS_INTRO = """\
This page is generated: `resvariants bench --profile full --groups seqconv
grouped --docs docs/benchmarks_papers.md` times the papers' own networks
(the full profile: batch 128 at 32x32, 4 at 224x224) and writes it, with
the run's raw timings in `docs/benchmarks_papers.json`;
`python -m keras_resvariants.bench.report --docs
docs/benchmarks_papers.json docs/benchmarks_papers.md` renders it again
from them (a test checks that the two agree). The quick suite, with every
layer and its floors, is on [benchmarks.md](benchmarks.md); earlier
measurements of these networks (the full profile of 2026-11-22) are in
[benchmarks_history.md](benchmarks_history.md).

Where they started, in that run (training, MACs/s per the baseline's):
SeqResNet k8 r4 0.301 with the paper's dropout 0.1 and 0.521 without,
against ResNet-110; SeqResNeXt-24 0.413 and ResNeXt-29 8x64d 0.988,
against ResNet-50. What TensorFlow's own grouped kernel would change for
SeqResNeXt-24's subgroups and for SeqConv's dropout (little: the
sequential groups are the cost) is measured by
`benchmarks/seqconv_native_grouped.py`
(see `keras_resvariants/layers/implementation.py`). On a machine without
an accelerator the SeqResNet group also times the paper's network with
dropout's per-group loop but without its masks, which splits what
dropout costs into the loop's share and the masks'.

Ratios are the figures to read: they are paired in time and share the
machine's state. Images/s move with the load; the targets below are the
goals of the issues that set them.
"""


# The generated pages by file name: their heading and introduction. Any
# other name gets the quick suite's.
DOCS_PAGES = {
    "benchmarks.md": ("Benchmarks: every variant against its baseline",
                      DOCS_INTRO),
    "benchmarks_papers.md": ("Benchmarks: the papers' own networks",
                             PAPERS_INTRO),
}


def render_docs(suite, page="benchmarks.md"):
    """The docs page `page` (a file name or path: `DOCS_PAGES` gives its
    heading and fixed introduction), then the run (its machine, targets
    and tables, headings one level down)."""
    heading, intro = DOCS_PAGES.get(os.path.basename(page),
                                    DOCS_PAGES["benchmarks.md"])
    m = suite["machine"]
    body = render_markdown(
        suite, chart=None,
        title=f"Measured run: profile `{suite['profile']}`, "
              f"{m['date'][:10]}, {m['cpu']}",
    )
    lines = [f"# {heading}", "", intro]
    for line in body.splitlines():
        lines.append("#" + line if line.startswith("#") else line)
    return "\n".join(lines).rstrip("\n") + "\n"


def write_docs(suite, md_path, json_path):
    """Writes the docs page and the run's raw results beside it."""
    with open(json_path, "w") as f:
        json.dump(suite, f, indent=1)
        f.write("\n")
    with open(md_path, "w") as f:
        f.write(render_docs(suite, md_path))
    return md_path, json_path


def docs_json_path(md_path):
    """Where the raw results of a docs page go: beside it, `.json`."""
    root, _ = os.path.splitext(md_path)
    return root + ".json"


def write_report(suite, output_dir):
    """Writes `benchmarks.md` and `benchmarks.png`; returns their paths."""
    os.makedirs(output_dir, exist_ok=True)
    md_path = os.path.join(output_dir, "benchmarks.md")
    png_path = os.path.join(output_dir, "benchmarks.png")
    render_chart(suite, png_path)
    with open(md_path, "w") as f:
        f.write(render_markdown(suite, chart="benchmarks.png"))
    return md_path, png_path


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    docs = bool(argv) and argv[0] == "--docs"
    if docs:
        argv = argv[1:]
    if len(argv) != 2:
        print("usage: python -m keras_resvariants.bench.report "
              "[--docs] results.json OUTPUT (a folder; with --docs, the "
              "page, its JSON written beside it)", file=sys.stderr)
        return 2
    with open(argv[0]) as f:
        suite = analysis.reanalyse(json.load(f))
    if docs:
        for path in write_docs(suite, argv[1], docs_json_path(argv[1])):
            print(path)
        return 0
    for path in write_report(suite, argv[1]):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
