"""The grouped group's equal-work batch: its MAC constants and its rule,
against the MACs counted on the built networks."""

import pytest

from keras_resvariants.bench import groups as g
from keras_resvariants.macs import count_macs


def _macs(key, size, **hparams):
    return count_macs(g.registry_model(key, size, **hparams)())


def test_mac_constants_are_the_counted_macs():
    assert _macs("resnet_50", 224) == g.RESNET50_MACS_224
    assert _macs("resnext_29", 32, base_width=16) == g.RESNEXT29_8X16D_MACS


@pytest.mark.parametrize("profile", ["quick", "smoke"])
def test_resnext_batch_is_the_smallest_with_resnet50_work(profile):
    p = g.get_profile(profile)
    group = g.get_group("grouped", p)
    base = _macs("resnet_50", p.imagenet_size) * group.baseline.batch
    target, = [c for c in group.variants if c.target is not None]
    per_image = g.RESNEXT29_8X16D_MACS
    assert target.batch >= group.baseline.batch
    assert target.batch * per_image >= base
    if target.batch > group.baseline.batch:
        assert (target.batch - 1) * per_image < base
        same, = [c for c in group.variants if c.target is None]
        assert same.batch == group.baseline.batch
