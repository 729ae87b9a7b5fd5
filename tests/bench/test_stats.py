"""The instrument's statistics, checked against hand-made timings."""

import numpy as np
import pytest

from keras_resvariants.bench import stats


def test_paired_ratios_cancel_a_round_wide_slowdown():
    # Round 2 ran with the machine twice as slow for everyone: a paired
    # ratio is unaffected, a ratio of medians over so few rounds is not.
    baseline = [1.0, 2.0, 1.0]
    variant = [1.1, 2.2, 1.1]
    np.testing.assert_allclose(stats.paired_ratios(variant, baseline),
                               [1.1, 1.1, 1.1])


@pytest.mark.parametrize(
    "variant, baseline",
    [([1.0, 2.0], [1.0]), ([], []), ([1.0, -1.0], [1.0, 1.0]),
     ([[1.0]], [[1.0]])],
)
def test_paired_ratios_reject_bad_input(variant, baseline):
    with pytest.raises(ValueError):
        stats.paired_ratios(variant, baseline)


def test_summarize_against_numpy_percentiles():
    values = np.random.default_rng(0).uniform(0.9, 1.2, 11)
    s = stats.summarize(values)
    assert s["median"] == pytest.approx(np.median(values))
    assert s["q1"] == pytest.approx(np.sort(values)[2] + 0.5 * (
        np.sort(values)[3] - np.sort(values)[2]))
    assert s["q3"] == pytest.approx(np.percentile(values, 75))
    assert (s["min"], s["max"], s["n"]) == (values.min(), values.max(), 11)
    one = stats.summarize([1.5])
    assert one["median"] == one["q1"] == one["q3"] == 1.5


def test_efficiency_ratio_is_work_ratio_over_time_ratio():
    # Variant does 3x the work per call in 2x the time: 1.5x the MACs/s.
    ratios = stats.efficiency_ratios([2.0, 4.0], [1.0, 2.0], 300, 100)
    np.testing.assert_allclose(ratios, [1.5, 1.5])
    with pytest.raises(ValueError, match="variant_work"):
        stats.efficiency_ratios([1.0], [1.0], 0, 100)


def test_control_verdict_flags_only_beyond_tolerance():
    clean = stats.control_verdict([0.99, 1.01, 1.02, 0.98, 1.0], 0.03)
    assert not clean["contaminated"]
    assert clean["deviation"] == pytest.approx(0.0)
    off = stats.control_verdict([1.05, 1.06, 1.04], 0.03)
    assert off["contaminated"]
    assert off["deviation"] == pytest.approx(0.05)
    # The same rounds pass with a looser tolerance.
    assert not stats.control_verdict([1.05, 1.06, 1.04], 0.1)["contaminated"]
    with pytest.raises(ValueError, match="tolerance"):
        stats.control_verdict([1.0], 0)


def test_choose_reps_makes_samples_long_enough():
    assert stats.choose_reps(0.004, 0.05) == 13  # ceil(12.5)
    assert stats.choose_reps(0.5, 0.05) == 1
    assert stats.choose_reps(1e-9, 0.05, max_reps=100) == 100
    assert stats.choose_reps(0.01, 0.0) == 1


def test_round_robin_rotates_every_candidate_through_every_position():
    names = ["a", "b", "c"]
    orders = [stats.round_robin_order(names, r) for r in range(3)]
    assert orders[0] == names
    for position in range(3):
        assert sorted(o[position] for o in orders) == names
    assert stats.round_robin_order(names, 3) == names
