"""Stem -> stages -> tail: the feature extractor of every network."""

import functools

import keras

from keras_resvariants.blocks import parts
from keras_resvariants.blocks import specs as s


@functools.singledispatch
def stream_suffixes(block):
    """Name suffixes for the streams of a multi-stream state.

    The stream that feeds the head is `stage{s}_out`; the other one gets a
    suffix, so `model.get_layer("stage2_out")` works for every family.
    """
    return ("",)


@stream_suffixes.register
def _(block: s.SeqBlock):
    return ("_raw", "")


def _mark(state, block, name):
    if not isinstance(state, tuple):
        return keras.layers.Identity(name=name)(state)
    suffixes = stream_suffixes(block)
    return tuple(
        keras.layers.Identity(name=f"{name}{suffix}")(t)
        for t, suffix in zip(state, suffixes)
    )


def apply_features(spec: s.NetSpec, x, ctx):
    """Applies stem, stages and tail; returns one feature tensor."""
    state = parts.apply_stem(spec.stem, x, ctx)
    prev_stage = spec.stem
    for stage_index, stage in enumerate(spec.stages, start=1):
        for block_index in range(stage.depth):
            state = parts.apply_block(
                spec.block,
                state,
                stage,
                block_index,
                prev_stage,
                ctx,
                name=f"stage{stage_index}_block{block_index + 1}",
            )
        state = _mark(state, spec.block, f"stage{stage_index}_out")
        prev_stage = stage
    for tail in spec.tail:
        state = parts.apply_tail(tail, state, ctx)
    if isinstance(state, tuple):
        raise TypeError(
            "A multi-stream network needs a tail that merges its streams "
            f"(e.g. SeqTail). Got tail={spec.tail!r}"
        )
    return state
