"""Turns spec values into layers. One registered function per spec type.

Every function takes the incoming tensor(s), the spec value, the
`BuildContext` and a layer-name prefix, and returns the outgoing tensor(s).
Dispatch is on the spec's type (`functools.singledispatch`), so a new
variant registers a function here instead of editing an `if` chain.
"""

import functools

import keras

from keras_resvariants import layers
from keras_resvariants.blocks import specs as s

# --------------------------------------------------------------------------
# Stems. Return the state the blocks work on: one tensor, or a tuple.


@functools.singledispatch
def apply_stem(stem, x, ctx):
    raise TypeError(f"Unknown stem spec: {stem!r}")


@apply_stem.register
def _(stem: s.CifarStem, x, ctx):
    return ctx.conv_bn_relu(x, stem.filters, 3, name="stem")


@apply_stem.register
def _(stem: s.ImageNetStem, x, ctx):
    x = ctx.conv_bn_relu(x, stem.filters, 7, strides=2, name="stem")
    return keras.layers.MaxPooling2D(3, strides=2, padding="same",
                                     data_format=ctx.data_format,
                                     name="stem_pool")(x)


@apply_stem.register
def _(stem: s.TwoStreamStem, x, ctx):
    # The streams stay joined, `concat(r, m)`, from here to the head (see
    # the RiRBlock function below).
    r = ctx.conv_bn_relu(x, stem.filters_r, 3, name="stem_r")
    m = ctx.conv_bn_relu(x, stem.filters_m, 3, name="stem_m")
    return keras.layers.Concatenate(axis=ctx.channel_axis,
                                    name="stem_concat")([r, m])


@apply_stem.register
def _(stem: s.SeqStem, x, ctx):
    for i, filters in enumerate(stem.conv_filters):
        strides = 2 if (stem.downsample and i == 0) else 1
        x = ctx.conv_bn_relu(x, filters, 3, strides=strides,
                             name=f"stem_{i + 1}")
    seq = layers.SeqConv2D(
        stem.filters,
        stem.group_width,
        window=None,  # the head SeqConv is dense (docs/design.md)
        bottleneck=stem.bottleneck,
        subgroups=stem.subgroups,
        kernel_initializer=ctx.conv_init,
        data_format=ctx.data_format,
        name="stem_seqconv",
    )
    if not stem.downsample:
        raw, act = seq(x)
        return raw, act
    act = seq(x)[1]
    return _seq_downsize(act, stem.filters, 2,
                         stem.filters // stem.group_width * stem.subgroups,
                         ctx, name="stem_downsize")


def _seq_downsize(x, filters, strides, groups, ctx, *, name):
    raw = ctx.conv(x, filters, 3, strides=strides, groups=groups,
                   name=f"{name}_conv")
    act = ctx.relu(ctx.bn(raw, name=f"{name}_bn"), name=f"{name}_relu")
    return raw, act


# --------------------------------------------------------------------------
# Shortcuts


def apply_shortcut(spec: s.Shortcut, x, filters, strides, ctx, *, name):
    """Identity op when the shape is kept, projection op otherwise."""
    if strides == 1 and ctx.channels(x) == filters:
        return apply_identity(spec.identity, x, ctx, name=name)
    return apply_projection(spec.projection, x, filters, strides, ctx,
                            name=name)


@functools.singledispatch
def apply_identity(op, x, ctx, *, name):
    raise TypeError(f"Unknown identity shortcut spec: {op!r}")


@apply_identity.register
def _(op: s.Identity, x, ctx, *, name):
    return x


@apply_identity.register
def _(op: s.RGIdentity, x, ctx, *, name):
    rg = layers.RGShortcut(groups=op.groups, epsilon=ctx.bn_epsilon,
                           data_format=ctx.data_format,
                           name=f"{name}_rg")(x)
    if op.keep_identity:
        return keras.layers.Add(name=f"{name}_rg_add")([rg, x])
    return rg


@functools.singledispatch
def apply_projection(op, x, filters, strides, ctx, *, name):
    raise TypeError(f"Unknown projection shortcut spec: {op!r}")


@apply_projection.register
def _(op: s.Projection, x, filters, strides, ctx, *, name):
    x = ctx.conv(x, filters, 1, strides=strides, name=f"{name}_proj")
    x = ctx.bn(x, name=f"{name}_proj_bn")
    if op.se_reduction is not None:
        x = layers.BridgeSE(reduction=op.se_reduction,
                            data_format=ctx.data_format,
                            name=f"{name}_se")(x)
    return x


@apply_projection.register
def _(op: s.NoProjection, x, filters, strides, ctx, *, name):
    return None


@apply_projection.register
def _(op: s.PadProjection, x, filters, strides, ctx, *, name):
    return layers.ChannelPadShortcut(filters, strides=strides,
                                     data_format=ctx.data_format,
                                     name=f"{name}_pad")(x)


# --------------------------------------------------------------------------
# Merges


@functools.singledispatch
def apply_merge(merge, shortcut, residual, ctx, *, name):
    raise TypeError(f"Unknown merge spec: {merge!r}")


@apply_merge.register
def _(merge: s.AddMerge, shortcut, residual, ctx, *, name):
    return keras.layers.Add(name=name)([shortcut, residual])


@apply_merge.register
def _(merge: s.RoRMerge, shortcut, residual, ctx, *, name):
    return layers.RoRAdd(
        represent_ratio=merge.represent_ratio,
        drop_rate=merge.drop_rate,
        drop_mode=merge.drop_mode,
        scale_at=merge.scale_at,
        seed=ctx.next_block_seed(),
        data_format=ctx.data_format,
        name=name,
    )([shortcut, residual])


# --------------------------------------------------------------------------
# Residual bodies


@functools.singledispatch
def apply_body(body, x, stage, strides, ctx, *, name):
    raise TypeError(f"Unknown body spec: {body!r}")


def _se(x, reduction, ctx, *, name):
    if reduction is None:
        return x
    return layers.BridgeSE(reduction=reduction, data_format=ctx.data_format,
                           name=name)(x)


@apply_body.register
def _(body: s.BasicBody, x, stage, strides, ctx, *, name):
    x = ctx.conv_bn_relu(x, stage.filters, 3, strides=strides,
                         name=f"{name}_1")
    x = ctx.conv(x, stage.filters, 3, name=f"{name}_2_conv")
    x = ctx.bn(x, name=f"{name}_2_bn")
    return _se(x, body.se_reduction, ctx, name=f"{name}_se")


@apply_body.register
def _(body: s.BottleneckBody, x, stage, strides, ctx, *, name):
    width = stage.width or stage.filters // 4
    first, middle = (strides, 1) if body.stride_at == "first" else (1, strides)
    u = ctx.conv_bn_relu(x, width, 1, strides=first, name=f"{name}_1")
    x = ctx.conv(u, width, 3, strides=middle, groups=body.groups,
                 name=f"{name}_2_conv")
    x = ctx.bn(x, name=f"{name}_2_bn")
    if body.inner_rg_groups is not None and middle == 1:
        # d-RGSNet: an RG shortcut around the stride-1 3x3 (docs/design.md).
        rg = layers.RGShortcut(groups=body.inner_rg_groups,
                               epsilon=ctx.bn_epsilon,
                               data_format=ctx.data_format,
                               name=f"{name}_2_rg")(u)
        x = keras.layers.Add(name=f"{name}_2_add")([x, rg])
    x = ctx.relu(x, name=f"{name}_2_relu")
    x = ctx.conv(x, stage.filters, 1, name=f"{name}_3_conv")
    x = ctx.bn(x, name=f"{name}_3_bn")
    return _se(x, body.se_reduction, ctx, name=f"{name}_se")


# --------------------------------------------------------------------------
# Blocks: state in, state out.


@functools.singledispatch
def apply_block(block, state, stage, index, prev_stage, ctx, *, name):
    raise TypeError(f"Unknown block spec: {block!r}")


@apply_block.register
def _(block: s.ResidualBlock, x, stage, index, prev_stage, ctx, *, name):
    strides = stage.stride if index == 0 else 1
    shortcut = apply_shortcut(block.shortcut, x, stage.filters, strides, ctx,
                              name=f"{name}_shortcut")
    residual = apply_body(block.body, x, stage, strides, ctx, name=name)
    if shortcut is None:
        y = residual
    else:
        y = apply_merge(block.merge, shortcut, residual, ctx,
                        name=f"{name}_merge")
    if block.post_relu:
        y = ctx.relu(y, name=f"{name}_out")
    return y


def _seq_conv(block, filters, group_width, subgroups, ctx, *, name,
              zero_init=False, return_raw=False):
    return layers.SeqConv2D(
        filters,
        group_width,
        window=None if block.dense else "auto",
        bottleneck=block.bottleneck,
        subgroups=subgroups,
        dropout=block.dropout,
        zero_init=zero_init,
        return_raw=return_raw,
        kernel_initializer=ctx.conv_init,
        data_format=ctx.data_format,
        name=name,
    )


@apply_block.register
def _(block: s.SeqBlock, state, stage, index, prev_stage, ctx, *, name):
    raw, act = state
    in_channels = ctx.channels(act)
    if index == 0 and (in_channels != stage.filters or stage.stride != 1):
        # Down-sampling block (docs/design.md): extension SeqConv with the
        # previous stage's k and c, concat, grouped strided down-sizing.
        ext = _seq_conv(block, stage.filters - in_channels,
                        prev_stage.group_width, prev_stage.subgroups, ctx,
                        name=f"{name}_extension")(act)
        act = keras.layers.Concatenate(axis=ctx.channel_axis,
                                       name=f"{name}_concat")([act, ext])
        groups = stage.filters // stage.group_width * stage.subgroups
        raw, act = _seq_downsize(act, stage.filters, stage.stride, groups,
                                 ctx, name=f"{name}_downsize")
    a = _seq_conv(block, stage.filters, stage.group_width, stage.subgroups,
                  ctx, name=f"{name}_seqconv1")(act)
    raw, act = _seq_conv(block, stage.filters, stage.group_width,
                         stage.subgroups, ctx, name=f"{name}_seqconv2",
                         zero_init=True, return_raw=True)([a, raw])
    return raw, act


def _rir_inner_shortcut(block, reshapes):
    """`(shortcut, resnet_init)` of one RiRConv of `block`."""
    if block.inner_identity is None:
        return None, False
    if reshapes and block.projection:
        return "projection", False
    if block.inner_identity == "fixed":
        return "identity", False
    return None, True


def _rir_outer_shortcuts(block, r_in, m_in, stage, strides, ctx, *, name):
    """The outer shortcut's tensors for the residual and transient streams
    (`None` where a stream gets none)."""
    filters_m = stage.width or stage.filters
    projection = s.Projection() if block.projection else s.PadProjection()
    if block.outer_shortcut == "residual":
        return apply_shortcut(s.Shortcut(projection=projection), r_in,
                              stage.filters, strides, ctx,
                              name=f"{name}_shortcut"), None
    # "both": He et al.'s shortcut over concat(r, m), stream by stream.
    if (strides == 1 and ctx.channels(r_in) == stage.filters
            and ctx.channels(m_in) == filters_m):
        return r_in, m_in
    if block.projection:
        # One 1x1 projection of concat(r, m), its outputs split by stream.
        x = keras.layers.Concatenate(axis=ctx.channel_axis,
                                     name=f"{name}_shortcut_concat")(
            [r_in, m_in])
        return tuple(
            apply_projection(projection, x, filters, strides, ctx,
                             name=f"{name}_shortcut{suffix}")
            for filters, suffix in ((stage.filters, ""),
                                    (filters_m, "_transient")))
    # Option A per stream: the same zero-padded identity as on concat(r,
    # m), with the zero channels placed at the end of each stream.
    return tuple(
        apply_projection(projection, x, filters, strides, ctx,
                         name=f"{name}_shortcut{suffix}")
        for x, filters, suffix in ((r_in, stage.filters, ""),
                                   (m_in, filters_m, "_transient")))


def _stream_widths(spec):
    """`(residual, transient)` widths of the streams a stem or stage
    outputs."""
    if isinstance(spec, s.TwoStreamStem):
        return spec.filters_r, spec.filters_m
    return spec.filters, spec.width or spec.filters


# False builds every shape-changing RiR block on split streams (the tests'
# reference for the joined formulation).
_JOIN_RESHAPING_RIR_BLOCKS = True


def _rir_joins_reshape(block):
    """Whether a shape-changing RiR block can run on the joined streams:
    its reshaping layer has no inner shortcut to split off (the identity
    is learnable, or absent), and its outer shortcut, if any, is option A
    on the residual stream, inside the last ReLU."""
    return (block.inner_identity != "fixed" and not block.projection
            and (block.outer_shortcut is None
                 or (block.outer_shortcut == "residual"
                     and block.outer_join == "pre_relu")))


@apply_block.register
def _(block: s.RiRBlock, state, stage, index, prev_stage, ctx, *, name):
    """One RiR block on the joined streams `concat(r, m)`.

    The RiRConv layers run on the joined tensor and the outer shortcut is
    added inside the last layer's ReLU, so no layer concatenates or splits
    the streams. A block that changes shape does the same when
    `_rir_joins_reshape`: its first layer convolves the joined input with
    the stride (the learnable identity is only an initialisation), and
    its outer shortcut is `r` alone, subsampled and zero-padded to the
    joined output's width (`[r, 0]`: option A on the residual stream,
    nothing on the transient), the one split such a block needs. Other
    blocks (a fixed or projected shortcut where the shape changes, or an
    outer shortcut after the ReLU or over both streams) split the streams,
    build the same layers on `[r, m]` and join them again: the same
    function and weights, in the same layer order.
    """
    widths_in = _stream_widths(stage if index else prev_stage)
    widths_out = _stream_widths(stage)
    strides = stage.stride if index == 0 else 1
    outer = block.outer_shortcut
    reshapes = strides != 1 or widths_in != widths_out
    joined = (outer is None or block.outer_join == "pre_relu") and (
        not reshapes
        or (_JOIN_RESHAPING_RIR_BLOCKS and _rir_joins_reshape(block)))
    if not joined:
        streams = layers.StreamSplit(widths_in[0],
                                     data_format=ctx.data_format,
                                     name=f"{name}_split")(state)
        r, m = _rir_block_on_streams(block, streams, stage, strides, ctx,
                                     name=name)
        return keras.layers.Concatenate(axis=ctx.channel_axis,
                                        name=f"{name}_join")([r, m])
    shortcut_input, outer_streams = state, outer or "both"
    if outer is not None and reshapes:
        r_in, _ = layers.StreamSplit(widths_in[0],
                                     data_format=ctx.data_format,
                                     name=f"{name}_split")(state)
        shortcut_input = apply_projection(
            s.PadProjection(), r_in, sum(widths_out), strides, ctx,
            name=f"{name}_shortcut")
        outer_streams = "both"  # its transient channels are zeros
    x = state
    for layer in range(block.layers):
        shortcut, resnet_init = _rir_inner_shortcut(block,
                                                    reshapes and not layer)
        last = layer == block.layers - 1
        x = layers.RiRConv(
            *widths_out,
            strides=strides if layer == 0 else 1,
            shortcut=shortcut,
            resnet_init=resnet_init,
            momentum=ctx.bn_momentum,
            epsilon=ctx.bn_epsilon,
            kernel_initializer=ctx.conv_init,
            data_format=ctx.data_format,
            residual_channels=(widths_in if layer == 0 else widths_out)[0],
            outer_streams=outer_streams,
            name=f"{name}_rir{layer + 1}",
        )([x, shortcut_input] if last and outer else x)
    return x


def _rir_block_on_streams(block, state, stage, strides, ctx, *, name):
    """One RiR block on the separate streams `[r, m]`."""
    r_in, m_in = state
    r, m = state
    joins_inside = (block.outer_shortcut is not None
                    and block.outer_join == "pre_relu")
    for layer in range(block.layers):
        layer_strides = strides if layer == 0 else 1
        reshapes = layer_strides != 1 or ctx.channels(r) != stage.filters
        shortcut, resnet_init = _rir_inner_shortcut(block, reshapes)
        last = layer == block.layers - 1
        r, m = layers.RiRConv(
            stage.filters,
            stage.width or stage.filters,
            strides=layer_strides,
            shortcut=shortcut,
            resnet_init=resnet_init,
            momentum=ctx.bn_momentum,
            epsilon=ctx.bn_epsilon,
            kernel_initializer=ctx.conv_init,
            activation=None if last and joins_inside else "relu",
            data_format=ctx.data_format,
            name=f"{name}_rir{layer + 1}",
        )([r, m])
    if block.outer_shortcut is None:
        return r, m
    s_r, s_m = _rir_outer_shortcuts(block, r_in, m_in, stage, strides, ctx,
                                    name=name)
    r = keras.layers.Add(name=f"{name}_add")([r, s_r])
    if s_m is not None:
        m = keras.layers.Add(name=f"{name}_add_transient")([m, s_m])
    if joins_inside:
        r = ctx.relu(r, name=f"{name}_relu")
        m = ctx.relu(m, name=f"{name}_relu_transient")
    return r, m


# --------------------------------------------------------------------------
# Tails: after the last stage, before pooling. Return one tensor.


@functools.singledispatch
def apply_tail(tail, state, ctx):
    raise TypeError(f"Unknown tail spec: {tail!r}")


@apply_tail.register
def _(tail: s.FinalReLU, x, ctx):
    return ctx.relu(x, name="final_relu")


@apply_tail.register
def _(tail: s.SeqTail, state, ctx):
    _, act = state
    if tail.dropout:
        act = keras.layers.SpatialDropout2D(tail.dropout,
                                            data_format=ctx.data_format,
                                            name="blender_dropout")(act)
    return ctx.conv_bn_relu(act, ctx.channels(act), 1, name="blender")


