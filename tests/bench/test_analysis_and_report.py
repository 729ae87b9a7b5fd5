"""Ratios, targets, contamination handling and report writing, on
hand-made results whose ratios are known by construction."""

import json
import os

import pytest

from keras_resvariants.bench import analysis
from keras_resvariants.bench import report
from keras_resvariants.bench import runner
from keras_resvariants.bench.groups import Target
from tests.bench.fake_results import fake_result
from tests.bench.fake_results import mac_target
from tests.bench.fake_results import time_target


def test_analysis_recovers_constructed_ratios():
    result = fake_result(variant_scale=1.1, macs=(100, 150))
    a = analysis.analyse_group(result)
    assert not a["contaminated"]
    row = a["modes"]["train"]["variants"][0]
    assert row["time"]["median"] == pytest.approx(1.1)
    assert row["time"]["q1"] == pytest.approx(1.1)
    # 1.5x the MACs in 1.1x the time.
    assert row["per_mac"]["median"] == pytest.approx(1.5 / 1.1)
    # Images/s: batch 4 over the median time (median of 1,2,1,2,1 = 1).
    assert row["images_per_s"] == pytest.approx(4 / 1.1)
    assert a["modes"]["train"]["baseline_images_per_s"] == pytest.approx(4.0)


@pytest.mark.parametrize(
    "target, scale, met",
    [(time_target(1.03), 1.02, True), (time_target(1.03), 1.05, False),
     (mac_target(0.75), 2.0, True),   # 1.5 MACs / 2.0 time = 0.75
     (mac_target(0.75), 2.1, False)],
)
def test_targets_are_judged_on_their_metric(target, scale, met):
    a = analysis.analyse_group(
        fake_result(variant_scale=scale, target=target, macs=(100, 150)))
    train = a["modes"]["train"]["variants"][0]
    assert train["target_met"] is met
    assert train["target"] == target["text"]
    # A train target says nothing about inference.
    assert a["modes"]["infer"]["variants"][0]["target"] is None


def _with_floor(result, floor_scale):
    """`result` plus a candidate measuring the variant's floor, at a fixed
    multiple of each round's baseline."""
    base = result["candidates"][0]
    result["candidates"].append(dict(
        base, name="floor", label="Floor", role="variant", target=None,
        floor_for="var"))
    for data in result["modes"].values():
        data["times"]["floor"] = [t * floor_scale
                                  for t in data["times"]["base"]]
    return result


@pytest.mark.parametrize("floor_scale, reachable, worse", [
    (1.02, True, False), (1.04, False, False),
    # A floor slower than the variant (1.05) it bounds: noise, no verdict.
    (1.07, False, True)])
def test_a_floor_shows_whether_a_missed_target_is_reachable(
        floor_scale, reachable, worse, tmp_path):
    result = _with_floor(fake_result(variant_scale=1.05,
                                     target=time_target(1.03)), floor_scale)
    a = analysis.analyse_group(result)
    var, floor = a["modes"]["train"]["variants"]
    assert not var["target_met"]
    assert var["floor_ratio"] == pytest.approx(floor_scale)
    assert var["floor_met"] is reachable
    assert var["floor_worse_than_variant"] is worse
    # The floor is not judged itself, and says nothing where there is no
    # target (inference).
    assert floor["target"] is None and floor["floor_ratio"] is None
    assert a["modes"]["infer"]["variants"][0]["floor_ratio"] is None
    md = report.render_markdown(
        {"machine": runner.machine_info(), "profile": "smoke",
         "tolerance": 0.03, "jit_compile": False, "elapsed_s": 1.0,
         "errors": {}, "groups": [{"name": "g", "result": result,
                                   "analysis": a, "flagged": False,
                                   "attempts": 1}]}, chart=None)
    row = (f"| Title of g | Variant | train | time <= 1.03x | 1.050 "
           f"| {floor_scale:.3f} | **not met**")
    assert row in md
    status = md.split(row)[1].split("\n")[0]
    assert ("out of reach" in status) is (not reachable and not worse)
    assert ("no verdict from the floor" in status) is worse


def test_target_dataclass_agrees_with_analysis():
    assert Target(1.03).met(1.03) and not Target(1.03).met(1.031)
    assert Target(0.75, metric="per_mac").met(0.8)
    with pytest.raises(ValueError, match="metric"):
        Target(1.0, metric="speed")


def test_off_control_marks_the_group_contaminated():
    assert analysis.analyse_group(
        fake_result(control_scale=1.05))["contaminated"]
    assert not analysis.analyse_group(
        fake_result(control_scale=1.02))["contaminated"]
    assert not analysis.analyse_group(
        fake_result(control_scale=1.05), tolerance=0.1)["contaminated"]


def test_pick_attempt_prefers_clean_then_least_deviation():
    dirty = fake_result(control_scale=1.10)
    dirtier = fake_result(control_scale=0.80)
    clean = fake_result(control_scale=1.0)
    assert analysis.pick_attempt([dirty, clean, dirtier])[0] is clean
    assert analysis.pick_attempt([dirtier, dirty])[0] is dirty


class _ScriptedRunner:
    """Returns the given results in turn, records the calls."""

    def __init__(self, results):
        self.results = list(results)
        self.calls = []

    def __call__(self, name, profile, **kwargs):
        self.calls.append(name)
        item = self.results.pop(0)
        if isinstance(item, Exception):
            raise item
        return dict(item, group=name, title=f"Title of {name}")


def test_suite_reruns_contaminated_group_and_flags_persistent_noise(
        tmp_path):
    scripted = _ScriptedRunner([
        fake_result(control_scale=1.2),   # ror: dirty, then clean
        fake_result(control_scale=1.0),
        fake_result(control_scale=1.2, target=time_target(1.03),
                    variant_scale=1.01),  # rg: dirty twice -> flagged
        fake_result(control_scale=1.15, target=time_target(1.03),
                    variant_scale=1.01),
        RuntimeError("boom"),             # rir fails
    ])
    suite = runner.run_suite(["ror", "rg", "rir"], profile="smoke",
                             output_dir=str(tmp_path), retries=1,
                             runner=scripted, log=None)
    assert scripted.calls == ["ror", "ror", "rg", "rg", "rir"]
    by_name = {g["name"]: g for g in suite["groups"]}
    assert by_name["ror"]["attempts"] == 2 and not by_name["ror"]["flagged"]
    assert by_name["rg"]["attempts"] == 2 and by_name["rg"]["flagged"]
    # The least disturbed attempt (control 1.15) was kept.
    kept = by_name["rg"]["analysis"]["modes"]["train"]["control"]
    assert kept["summary"]["median"] == pytest.approx(1.15)
    assert set(suite["errors"]) == {"rir"}

    with open(tmp_path / "results.json") as f:
        assert json.load(f)["groups"][1]["flagged"] is True
    md = (tmp_path / "benchmarks.md").read_text()
    assert "**contaminated** after 2 attempt(s)" in md
    assert "| Title of rg | Variant | train | time <= 1.03x | 1.010 | – " \
           "| met (noisy run) |" in md
    assert "`rir`: boom" in md
    png = (tmp_path / "benchmarks.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


def test_markdown_rows_carry_the_computed_numbers():
    suite = {
        "machine": runner.machine_info(),
        "profile": "smoke",
        "tolerance": 0.03,
        "jit_compile": False,
        "groups": [],
        "errors": {},
        "elapsed_s": 3.0,
    }
    result = fake_result(variant_scale=1.25, macs=(100, 100))
    a = analysis.analyse_group(result)
    suite["groups"].append({"name": "g", "result": result, "analysis": a,
                            "attempts": 1, "flagged": False})
    md = report.render_markdown(suite)
    # Variant row: 1.25 time, 0.8 per MAC (same MACs), 4/1.25 = 3.2 img/s.
    assert ("| Variant | 1.0k | 100 | 1.250 [1.25–1.25] | "
            "0.800 [0.80–0.80] | 3.2 |") in md
    assert suite["machine"]["date"][:4] in md
    assert "clean" in md
    rows = report.chart_rows(suite)
    assert [(r[0], r[2]) for r in rows] == [("g: Variant", "train"),
                                            ("g: Variant", "infer")]


def test_report_module_rerenders_saved_results(tmp_path):
    runner.run_suite(["ror"], profile="smoke", output_dir=str(tmp_path),
                     runner=_ScriptedRunner([fake_result()]), log=None)
    out = tmp_path / "again"
    assert report.main([str(tmp_path / "results.json"), str(out)]) == 0
    # Identical rendering from the saved JSON.
    assert (out / "benchmarks.md").read_text() == (
        tmp_path / "benchmarks.md").read_text()
    assert os.path.getsize(out / "benchmarks.png") > 5000


def test_docs_page_is_written_and_rerendered_from_its_json(tmp_path):
    runner.run_suite(["ror"], profile="smoke", output_dir=str(tmp_path),
                     runner=_ScriptedRunner([fake_result()]), log=None)
    with open(tmp_path / "results.json") as f:
        suite = json.load(f)
    page = tmp_path / "docs" / "benchmarks.md"
    page.parent.mkdir()
    json_path = report.docs_json_path(str(page))
    assert json_path == str(tmp_path / "docs" / "benchmarks.json")
    report.write_docs(suite, str(page), json_path)
    text = page.read_text()
    # The run's tables and machine, one heading level below the page's.
    assert text.startswith("# Benchmarks: every variant against its "
                           "baseline\n")
    assert "\n## Measured run: profile `smoke`" in text
    assert "\n### Model level\n" in text and "\n#### " in text
    assert suite["machine"]["cpu"] in text
    assert "benchmarks.png" not in text
    # Re-rendering recomputes the analysis from the stored timings, so a
    # stale one (here: a verdict flipped by hand) does not survive.
    stale = json.loads(json.dumps(suite))
    stale["groups"][0]["analysis"]["contaminated"] = "stale"
    with open(json_path, "w") as f:
        json.dump(stale, f)
    again = tmp_path / "again.md"
    assert report.main(["--docs", json_path, str(again)]) == 0
    assert again.read_text() == text
    with open(tmp_path / "again.json") as f:
        assert json.load(f) == suite
    assert report.main(["--docs", json_path]) == 2


@pytest.mark.parametrize("page, profile", [("benchmarks", "quick"),
                                           ("benchmarks_papers", "full")])
def test_committed_docs_page_is_the_rendering_of_its_json(page, profile):
    root = os.path.join(os.path.dirname(__file__), "..", "..", "docs")
    with open(os.path.join(root, page + ".json")) as f:
        suite = json.load(f)
    assert suite["profile"] == profile
    stored = json.loads(json.dumps(suite))
    redo = (f"python -m keras_resvariants.bench.report --docs "
            f"docs/{page}.json docs/{page}.md")
    # The stored analysis is what today's analysis code says of the stored
    # timings (else the page's verdicts are an older code's).
    assert analysis.reanalyse(suite) == stored, (
        f"docs/{page}.json holds a stale analysis: {redo}")
    with open(os.path.join(root, page + ".md")) as f:
        assert f.read() == report.render_docs(suite, page + ".md"), (
            f"docs/{page}.md is stale: {redo}")
    names = {entry["name"] for entry in suite["groups"]}
    if page == "benchmarks":
        # The quick suite, with the goals as targets.
        assert {"rir", "layer_rir", "layer_seqconv_dropout"} <= names
    else:
        # The papers' own SeqResNet and (Seq)ResNeXt networks.
        assert names == {"seqconv", "grouped"}


def test_a_candidate_at_another_batch_is_compared_by_its_work():
    # The variant runs 8 images per step against the baseline's 4, in
    # twice the time: the same MACs per second, the same images/s.
    result = fake_result(variant_scale=2.0, macs=(100, 100),
                         target=mac_target(1.0))
    result["candidates"][2]["batch"] = 8
    a = analysis.analyse_group(result)
    row = a["modes"]["train"]["variants"][0]
    assert row["time"]["median"] == pytest.approx(2.0)
    assert row["per_mac"]["median"] == pytest.approx(1.0)
    assert row["images_per_s"] == pytest.approx(8 / 2.0)
    md = report.render_markdown({
        "machine": runner.machine_info(), "profile": "smoke",
        "tolerance": 0.03, "jit_compile": False, "errors": {},
        "elapsed_s": 1.0,
        "groups": [{"name": "g", "result": result, "analysis": a,
                    "attempts": 1, "flagged": False}]})
    assert "Batch 4 (var: 8; a time ratio compares steps" in md
