"""The comparison groups: every variant next to its baseline.

A group is one baseline, an identical copy of it (the plain-vs-plain
*control*, added automatically) and the variants, all built with the same
seed and timed in one process. Model-level groups compare whole networks
from the registry (or a `NetSpec` with exactly one slot swapped); layer-
level groups compare a single layer, forward + backward, wrapped in a
functional model.

Each group is a function of a `Profile` (batch sizes, input sizes, number
of rounds), so `--quick` and the full run measure the same comparisons at
different cost, and the tests run them on tiny shapes.
"""

import dataclasses
import functools
import math

import keras
import numpy as np

# --------------------------------------------------------------------------
# Data types


@dataclasses.dataclass(frozen=True)
class Target:
    """A pass/fail goal of the issue for one variant.

    `metric="time"`: the median paired time ratio variant/baseline must be
    at most `limit`. `metric="per_mac"`: the median paired ratio of
    MACs per second (variant over baseline) must be at least `limit`.
    """

    limit: float
    metric: str = "time"
    mode: str = "train"

    def __post_init__(self):
        if self.metric not in ("time", "per_mac"):
            raise ValueError(
                "`metric` must be 'time' or 'per_mac'. Received: "
                f"metric={self.metric!r}"
            )
        if self.mode not in ("train", "infer"):
            raise ValueError(
                "`mode` must be 'train' or 'infer'. Received: "
                f"mode={self.mode!r}"
            )

    @property
    def text(self):
        if self.metric == "time":
            return f"time <= {self.limit:g}x"
        return f"MACs/s >= {self.limit:g}x"

    def met(self, ratio):
        if self.metric == "time":
            return ratio <= self.limit
        return ratio >= self.limit


@dataclasses.dataclass(frozen=True)
class Candidate:
    """One network or layer under test.

    Attributes:
        name: short identifier, unique in its group.
        label: what the report prints.
        build: callable `() -> keras.Model` (functional, static spatial
            shape, logits output for model candidates).
        batch: examples per timed call.
        target: optional `Target` against the group's baseline.
        floor_for: name of the variant (in the same group) whose minimal
            cost this candidate measures: the same step with the variant's
            extra work reduced to what no formulation can avoid (e.g. one
            elementwise multiply). The targets table prints the floor's
            ratio beside the variant's, so a target that its own floor
            misses shows as out of reach on this machine.
    """

    name: str
    label: str
    build: object
    batch: int
    target: Target | None = None
    floor_for: str | None = None


@dataclasses.dataclass(frozen=True)
class Group:
    """A baseline, its variants and what the papers claim about them.

    The control (a second copy of the baseline) is not listed here; the
    harness adds it as `CONTROL`.
    """

    name: str
    title: str
    level: str  # "model" or "layer"
    claim: str
    baseline: Candidate
    variants: tuple

    @property
    def kind(self):
        return self.level

    def candidates(self):
        """Baseline, control, variants: the order of the first round."""
        control = dataclasses.replace(
            self.baseline, name=CONTROL,
            label=f"{self.baseline.label} (control copy)", target=None,
        )
        return (self.baseline, control) + tuple(self.variants)


CONTROL = "control"


@dataclasses.dataclass(frozen=True)
class Profile:
    """How big and how long: shapes, batches, rounds.

    Attributes:
        name: `"quick"`, `"full"`, `"gpu"` or `"smoke"` (tests).
        rounds: timed round-robin rounds per mode.
        layer_rounds: rounds of the layer-level groups (default `rounds`).
        skip: groups left out unless named explicitly.
        warmup: untimed calls after the first (tracing) call.
        model_batch: batch of the CIFAR-size (32x32) networks.
        imagenet_batch, imagenet_size: batch and input size of the
            ImageNet-class networks (grouped-convolution group).
        layer_batch: batch of the layer microbenchmarks.
        layer_size: spatial size of the layer microbenchmarks.
        cifar_size: input size of the CIFAR networks.
        min_sample_seconds: a timed sample repeats short calls until it
            lasts this long.
        retries: re-runs of a contaminated group.
        extras: also time the context variants (SDepth, SE-ResNet, d-/
            Res-RGSNet, RiR 'CNN', SeqResNeXt-24, ...), not only the
            variants that have a target; and use the papers' full-size
            SeqResNet / ResNeXt-29 instead of narrower stand-ins.
        retry_budget_s: no re-runs once the suite has run this long
            (keeps `--quick` under its time budget; contaminated groups
            are then flagged instead).
    """

    name: str
    rounds: int
    warmup: int
    model_batch: int
    imagenet_batch: int
    imagenet_size: int
    layer_batch: int
    layer_size: int = 8
    cifar_size: int = 32
    min_sample_seconds: float = 0.05
    retries: int = 1
    extras: bool = True
    retry_budget_s: float | None = None
    layer_rounds: int | None = None
    skip: tuple = ()

    def rounds_for(self, level):
        """Rounds of a group: layer calls are short, so layer groups can
        afford more rounds (`layer_rounds`) for a steadier median."""
        if level == "layer" and self.layer_rounds is not None:
            return self.layer_rounds
        return self.rounds


PROFILES = {
    "quick": Profile("quick", rounds=7, warmup=1, model_batch=32,
                     imagenet_batch=2, imagenet_size=96, layer_batch=32,
                     min_sample_seconds=0.04, retries=1, extras=False,
                     retry_budget_s=60.0, layer_rounds=15,
                     skip=("grouped_fix",)),
    "full": Profile("full", rounds=11, warmup=2, model_batch=128,
                    imagenet_batch=4, imagenet_size=224, layer_batch=128,
                    min_sample_seconds=0.1, retries=2, layer_rounds=21),
    # One GPU (`keras_resvariants.bench.gpu`): big batches, the papers'
    # full-size networks, few rounds (the GPU is quiet and steady).
    "gpu": Profile("gpu", rounds=5, warmup=2, model_batch=256,
                   imagenet_batch=64, imagenet_size=224, layer_batch=256,
                   min_sample_seconds=0.05, retries=0, extras=True),
    # Tiny shapes for the tests of the instrument itself.
    "smoke": Profile("smoke", rounds=1, warmup=0, model_batch=2,
                     imagenet_batch=1, imagenet_size=32, layer_batch=2,
                     layer_size=4, cifar_size=8, min_sample_seconds=0.0,
                     retries=0, extras=False),
}


def get_profile(name):
    if isinstance(name, Profile):
        return name
    if name not in PROFILES:
        raise ValueError(
            f"`profile` must be one of {sorted(PROFILES)}. Received: "
            f"profile={name!r}"
        )
    return PROFILES[name]


# --------------------------------------------------------------------------
# Candidate builders


def registry_model(key, size, **hparams):
    """`() -> model` for a registered network at `size`x`size`x3, 10
    classes, logits."""

    def build():
        from keras_resvariants.models import create_model

        return create_model(key, input_shape=(size, size, 3), classes=10,
                            classifier_activation=None, **hparams)

    return build


def spec_model(factory, size, name):
    """`() -> model` for an ad-hoc `NetSpec` (one slot swapped)."""

    def build():
        from keras_resvariants.models import build_model

        return build_model(factory(), input_shape=(size, size, 3),
                           classes=10, classifier_activation=None, name=name)

    return build


def with_keras_grouped_convs(build):
    """`() -> model`: the model of `build` with every `GroupedConv2D` of
    its `layers` computed by Keras' own grouped convolution (the run-time
    implementation `"native"`, set on each instance), same weights: the
    "before" of the grouped-conv fix."""

    def rebuild():
        from keras_resvariants.layers import GroupedConv2D

        model = build()
        for layer in model.layers:
            if isinstance(layer, GroupedConv2D):
                layer.implementation = "native"
        return model

    return rebuild


def with_split_rir_transitions(build):
    """`() -> model`: the model of `build` built with every shape-changing
    RiR block on split streams, same weights: the "before" of joining
    them."""

    def rebuild():
        from keras_resvariants.blocks import parts

        parts._JOIN_RESHAPING_RIR_BLOCKS = False
        try:
            return build()
        finally:
            parts._JOIN_RESHAPING_RIR_BLOCKS = True

    return rebuild


def without_dropout_masks(build):
    """`() -> model`: the model of `build` with every `SeqConv2D` that
    has dropout running its training formulation (the per-group loop on
    a CPU) without multiplying by the masks: what the masks' multiplies
    cost is the gap to the model itself."""

    def rebuild():
        from keras_resvariants.layers import SeqConv2D

        model = build()
        for layer in model._flatten_layers():
            if isinstance(layer, SeqConv2D) and layer.dropout > 0:
                # `call` and `_forward_loop` draw the masks here; `None`
                # means no masks.
                layer._dropout_masks = lambda batch: None
        return model

    return rebuild


def with_rg_floor(build):
    """`() -> model`: the model of `build` with every `RGShortcut`
    reduced to its elementwise part, `ReLU(x) * gamma + beta` with its own
    per-channel weights: the ReLU pass and the one multiply-add pass over
    the map that any GroupNorm of a ReLU makes, without the moments (the
    reductions and the small per-group arithmetic). What the shortcut
    costs above this is the moments' cost."""
    return _with_rg_shortcuts_computing(build, _elementwise_affine)


def with_autodiff_group_norm(build):
    """`() -> model`: the model of `build` with every `RGShortcut`'s
    GroupNorm in its accelerator form (reductions over the spatial axes,
    differentiated by the backend) also on a CPU, same weights: the
    "before" of the CPU form (sums by products with ones, the gradient
    written out)."""

    def autodiff(layer):
        from keras_resvariants.layers import rg_shortcut

        return functools.partial(rg_shortcut.group_norm_autodiff_of, layer)

    return _with_rg_shortcuts_computing(build, autodiff)


def _with_rg_shortcuts_computing(build, norm_of):
    """`() -> model`: the model of `build` with each `RGShortcut`
    computing `norm_of(layer)(relu_x)` in place of its GroupNorm."""

    def rebuild():
        from keras_resvariants.layers import RGShortcut

        model = build()
        for layer in model._flatten_layers():
            if isinstance(layer, RGShortcut):
                # `call` computes ReLU, then `_fast_group_norm` of it
                # under the "fast" implementation.
                layer.implementation = "fast"
                layer._fast_group_norm = norm_of(layer)
        return model

    return rebuild


def _elementwise_affine(layer):
    """`x -> x * gamma + beta` with the layer's per-channel weights (in
    float32, as the layer computes), its gamma and beta gradients summed
    as the layer's CPU form sums (`rg_shortcut.spatial_sums`), so that
    the floor is not slower than the layer for want of its fastest
    sums."""
    from keras_resvariants.layers import rg_shortcut

    return functools.partial(rg_shortcut.apply_norm, layer,
                             norm=_affine_floor)


def _affine_floor(x, gamma, beta, *, groups, epsilon, data_format):
    """`x * gamma + beta` (per channel) in the signature of RGShortcut's
    norms; `groups` and `epsilon` are not used."""
    from keras_resvariants.layers import rg_shortcut
    from keras_resvariants.layers._utils import channel_axis

    del groups, epsilon

    @keras.ops.custom_gradient
    def affine(x, gamma, beta):
        shape = [1] * len(x.shape)
        shape[channel_axis(data_format) % len(x.shape)] = -1
        gamma_map = keras.ops.reshape(gamma, shape)

        def grad(*args, upstream=None):
            dy = args[0] if upstream is None else upstream

            def summed(t):
                sums = rg_shortcut.spatial_sums(t, data_format)[0]
                return keras.ops.sum(sums, axis=0)

            return dy * gamma_map, summed(dy * x), summed(dy)

        return x * gamma_map + keras.ops.reshape(beta, shape), grad

    return affine(x, gamma, beta)


def layer_model(name, input_shapes, fn):
    """`() -> model` wrapping `fn(inputs)` (one layer, or a layer and its
    norm/activation) on inputs of the given per-example shapes."""

    def build():
        inputs = [keras.Input(tuple(s)) for s in input_shapes]
        outputs = fn(inputs[0] if len(inputs) == 1 else inputs)
        return keras.Model(inputs, outputs, name=name)

    return build


def _conv_bn_relu(filters, *, strides=1, kernel_size=3, groups=1,
                  conv_class=None):
    def fn(x):
        conv = conv_class or keras.layers.Conv2D
        x = conv(filters, kernel_size, strides=strides, padding="same",
                 groups=groups, use_bias=False)(x)
        x = keras.layers.BatchNormalization(epsilon=1e-5, momentum=0.9)(x)
        return keras.layers.ReLU()(x)

    return fn


# --------------------------------------------------------------------------
# Model-level groups


def _variants(p, *candidates):
    """The candidates with a target or a floor, plus the others if
    `p.extras`."""
    return tuple(c for c in candidates
                 if p.extras or c.target is not None
                 or c.floor_for is not None)


def _ror(p):
    from keras_resvariants.blocks import specs as s
    from keras_resvariants.models.resnet import cifar_basic

    size, batch = p.cifar_size, p.model_batch
    return Group(
        name="ror",
        title="RoR merge vs plain sum (ResNet-20)",
        level="model",
        claim="RoR: the channel merge costs no more than a dropout.",
        baseline=Candidate("resnet20", "ResNet-20, Add merge",
                           spec_model(lambda: cifar_basic(20), size,
                                      "resnet20"), batch),
        variants=_variants(
            p,
            Candidate("ror", "ResNet-20, RoRAdd (5% represent, drop 0.2)",
                      spec_model(lambda: cifar_basic(20, merge=s.RoRMerge()),
                                 size, "ror20"),
                      batch, Target(1.03)),
            Candidate("sdepth", "ResNet-20, RoRAdd (0% represent = SDepth)",
                      spec_model(lambda: cifar_basic(
                          20, merge=s.RoRMerge(represent_ratio=0.0)),
                          size, "sdepth20"), batch),
            # The floor: the Represent channels' mask is one multiply of
            # the shortcut per block (x*m + F), which TF's CPU kernels run
            # as its own pass over the feature map. A kept drop-layer gate
            # adds nothing to it (see RoRAdd.call).
            Candidate("ror_nodrop", "ResNet-20, RoRAdd (5% represent, no "
                                    "drop: the mask alone, the floor)",
                      spec_model(lambda: cifar_basic(
                          20, merge=s.RoRMerge(drop_rate=0.0)),
                          size, "ror20_nodrop"), batch, floor_for="ror"),
        ),
    )


def _bridge_se(p):
    size, batch = p.cifar_size, p.model_batch
    return Group(
        name="bridge_se",
        title="BridgeSE on the bridges vs plain projections (ResNet-20)",
        level="model",
        claim="Res-SE-Net: SE on the two bridges adds negligible cost.",
        baseline=Candidate("resnet_20", "ResNet-20",
                           registry_model("resnet_20", size), batch),
        variants=_variants(
            p,
            Candidate("res_se_net_20", "Res-SE-Net-20 (BridgeSE r=16)",
                      registry_model("res_se_net_20", size), batch,
                      Target(1.03)),
            Candidate("se_resnet_20", "SE-ResNet-20 (SE in every block)",
                      registry_model("se_resnet_20", size), batch),
        ),
    )


def _rg(p):
    from keras_resvariants.layers.implementation import on_accelerator

    size, batch = p.cifar_size, p.model_batch
    base = dict(depth=26, width=0.25)

    def rgsnet(variant):
        return registry_model("rgsnet", size, variant=variant, **base)

    variants = _variants(p, *(
        Candidate(f"rgs_{variant}", f"{variant}-RGSNet-26 (w=0.25, G=8)",
                  rgsnet(variant), batch,
                  Target(1.07) if variant == "b" else None)
        for variant in ("b", "d", "res")
    ), Candidate(
        # The floor: the same network with each shortcut's ReLU and one
        # per-channel multiply-add, the passes over the map a GroupNorm of
        # a ReLU cannot avoid without fusion; only the moments are left
        # out.
        "rgs_b_floor", "b-RGSNet-26, shortcut reduced to ReLU(x) * gamma "
                       "+ beta (no moments: the floor)",
        with_rg_floor(rgsnet("b")), batch, floor_for="rgs_b"))
    if not on_accelerator():
        # In every profile where the CPU form is what runs: its "before".
        variants += (Candidate(
            "rgs_b_autodiff", "b-RGSNet-26, RG by reductions, "
                              "differentiated by the backend (before)",
            with_autodiff_group_norm(rgsnet("b")), batch),)
    return Group(
        name="rg",
        title="RG shortcut vs identity (bottleneck ResNet-26, width 0.25)",
        level="model",
        claim="RGSNet: the RG shortcut's overhead is negligible.",
        baseline=Candidate("resnet_cifar", "ResNet-26 (w=0.25)",
                           registry_model("resnet_cifar", size, **base),
                           batch),
        variants=variants,
    )


def _rir(p):
    size, batch = p.cifar_size, p.model_batch
    return Group(
        name="rir",
        title="ResNet in ResNet vs a plain ResNet of the same total width",
        level="model",
        claim="RiR: no added cost in time or parameters.",
        baseline=Candidate("resnet_32", "ResNet-32 (16/32/64)",
                           registry_model("resnet_32", size), batch),
        variants=_variants(
            p,
            Candidate("rir_net_32", "RiR-32 (streams 8+8/16+16/32+32)",
                      registry_model("rir_net_32", size), batch,
                      Target(1.05)),
            Candidate("rir_net_32_split",
                      "RiR-32, streams split at the stage transitions "
                      "(before)",
                      with_split_rir_transitions(
                          registry_model("rir_net_32", size)), batch),
            Candidate("rir_cnn_32", "RiR-32 'CNN' mode (no shortcuts)",
                      registry_model("rir_cnn_32", size), batch),
        ),
    )


def _seqconv(p):
    from keras_resvariants.layers.implementation import on_accelerator

    size, batch = p.cifar_size, p.model_batch
    if p.extras:  # the paper's SeqResNet (1.2M) and ResNet-110 (253M MACs)
        hp, name, base_key, base_label = (
            {}, "SeqResNet k8 r4", "resnet_110", "ResNet-110 (253M MACs)")
    else:  # a narrower stand-in, 4x cheaper to trace and run
        hp, name, base_key, base_label = (
            dict(k=16, r=2), "SeqResNet k16 r2", "resnet_32",
            "ResNet-32 (69M MACs)")
    return Group(
        name="seqconv",
        title="SeqResNet vs a plain ResNet of similar MACs",
        level="model",
        claim="SeqConv: a windowed SeqConv costs the same as a regular "
              "convolution.",
        baseline=Candidate(base_key, base_label,
                           registry_model(base_key, size), batch),
        variants=(
            Candidate("seq_resnet", f"{name} (dropout 0.1, paper)",
                      registry_model("seq_resnet", size, **hp), batch,
                      Target(0.75, metric="per_mac")),
            Candidate("seq_resnet_nodrop", f"{name}, dropout 0",
                      registry_model("seq_resnet", size, dropout=0.0, **hp),
                      batch, Target(0.75, metric="per_mac")),
        ) + ((
            # Where training with dropout runs the per-group loop (no
            # accelerator): the loop's cost apart from the masks'.
            Candidate("seq_resnet_unmasked",
                      f"{name}, dropout's per-group loop without its masks",
                      without_dropout_masks(
                          registry_model("seq_resnet", size, **hp)), batch),
        ) if p.extras and not on_accelerator() else ()),
    )


# MACs per image, as `keras_resvariants.macs.count_macs` counts them
# (tests/bench/test_groups.py checks both): ResNet-50 at 224x224, which
# scale with the image area, and ResNeXt-29 8x16d at 32x32.
RESNET50_MACS_224 = 3_855_945_728
RESNEXT29_8X16D_MACS = 337_037_824


def equal_work_batch(batch, size, macs):
    """The smallest batch, at least `batch`, of a network of `macs` MACs
    per image whose step does at least the MACs of ResNet-50's step of
    `batch` images at `size`x`size`."""
    resnet50 = RESNET50_MACS_224 * (size / 224) ** 2
    return max(batch, math.ceil(batch * resnet50 / macs - 1e-9))


def _grouped(p):
    size, batch = p.imagenet_size, p.imagenet_batch
    cifar = min(size, 32)
    variants = []
    if p.extras:  # 80 s to trace on 2 cores: full profile only
        variants.append(Candidate(
            "seq_resnext_24", f"SeqResNeXt-24 ({size}x{size})",
            registry_model("seq_resnext_24", size), batch,
            Target(0.75, metric="per_mac")))
        resnext = Candidate(
            "resnext_29", f"ResNeXt-29 8x64d ({cifar}x{cifar})",
            registry_model("resnext_29", cifar), batch,
            Target(1.0, metric="per_mac"))
    else:
        # At the quick profile's sizes ResNeXt-29 8x16d does half of
        # ResNet-50's MACs per image (337M at 32x32 against 708M at
        # 96x96), and at ResNet-50's batch of 2 its step is mostly per-op
        # overhead. The target is timed at the smallest batch whose step
        # does at least ResNet-50's MACs (5), the same batch as
        # ResNet-50's beside it for comparison.
        model = registry_model("resnext_29", cifar, base_width=16)
        equal = equal_work_batch(batch, size, RESNEXT29_8X16D_MACS)
        resnext = Candidate(
            "resnext_29", f"ResNeXt-29 8x16d ({cifar}x{cifar}, batch "
                          f"{equal}: ResNet-50's MACs per step)",
            model, equal, Target(1.0, metric="per_mac"))
        if equal != batch:
            variants.append(Candidate(
                "resnext_29_same_batch",
                f"ResNeXt-29 8x16d ({cifar}x{cifar}, batch {batch} as "
                "ResNet-50)", model, batch))
    variants.insert(0, resnext)
    return Group(
        name="grouped",
        title="Grouped-convolution nets vs ResNet-50, per MAC",
        level="model",
        claim="Grouped convolutions should train no slower per MAC than "
              "ResNet-50's dense ones.",
        baseline=Candidate("resnet_50", f"ResNet-50 ({size}x{size})",
                           registry_model("resnet_50", size), batch),
        variants=tuple(variants),
    )


def _grouped_fix(p):
    # Fixed small shapes in every profile: the "before" is ~10x slower.
    size = min(p.cifar_size, 32)
    build = registry_model("resnext_29", size, base_width=16)
    return Group(
        name="grouped_fix",
        title="GroupedConv2D vs Keras' grouped Conv2D (ResNeXt-29 8x16d)",
        level="model",
        claim="The same network and weights; only the grouped 3x3 convs "
              "are computed differently.",
        baseline=Candidate(
            "keras_grouped", "ResNeXt-29 8x16d, keras Conv2D(groups) "
                             "(before)",
            with_keras_grouped_convs(build), min(p.model_batch, 8)),
        variants=(
            Candidate("grouped_conv2d", "ResNeXt-29 8x16d, GroupedConv2D "
                                        "(after)",
                      build, min(p.model_batch, 8)),
        ),
    )


# --------------------------------------------------------------------------
# Layer-level groups (one layer, forward + backward)


def _layer_shape(p, channels):
    return (p.layer_size, p.layer_size, channels)


def _layer_merge(p):
    from keras_resvariants import layers as L

    shape = _layer_shape(p, 64)
    return Group(
        name="layer_merge",
        title="RoRAdd vs Add (one merge)",
        level="layer",
        claim="RoR: the merge is a masked sum plus a drop-layer gate.",
        baseline=Candidate("add", "Add",
                           layer_model("add", [shape, shape],
                                       lambda xs: keras.layers.Add()(xs)),
                           p.layer_batch),
        variants=(
            Candidate("ror_add", "RoRAdd(0.05, drop 0.2)",
                      layer_model("ror_add", [shape, shape],
                                  lambda xs: L.RoRAdd(seed=1)(xs)),
                      p.layer_batch),
        ),
    )


def _layer_rg(p):
    from keras_resvariants import layers as L

    shape = _layer_shape(p, 64)

    def bn(x):
        x = keras.layers.ReLU()(x)
        return keras.layers.BatchNormalization(epsilon=1e-5)(x)

    def rg(groups, implementation):
        def fn(x):
            layer = L.RGShortcut(groups=groups)
            layer.implementation = implementation  # run time, per instance
            return layer(x)

        return fn

    return Group(
        name="layer_rg",
        title="RGShortcut vs ReLU + BatchNorm",
        level="layer",
        claim="RG = one extra normalisation + ReLU, about a BatchNorm.",
        baseline=Candidate("relu_bn", "ReLU + BatchNorm",
                           layer_model("relu_bn", [shape], bn),
                           p.layer_batch),
        variants=tuple(
            Candidate(f"rg{g}_{impl}", f"RGShortcut(G={g}, {impl})",
                      layer_model(f"rg{g}_{impl}", [shape], rg(g, impl)),
                      p.layer_batch)
            for g in ((32, 8) if p.extras else (8,))
            for impl in ("fast", "keras")
        ),
    )


def _layer_bridge_se(p):
    from keras_resvariants import layers as L

    shape = (2 * p.layer_size, 2 * p.layer_size, 32)

    def projection(x):
        x = keras.layers.Conv2D(64, 1, strides=2, use_bias=False)(x)
        return keras.layers.BatchNormalization(epsilon=1e-5)(x)

    return Group(
        name="layer_bridge_se",
        title="Projection + BridgeSE vs projection",
        level="layer",
        claim="Res-SE-Net: SE on a bridge is cheap.",
        baseline=Candidate("projection", "1x1/2 conv + BN",
                           layer_model("projection", [shape], projection),
                           p.layer_batch),
        variants=(
            Candidate("projection_se", "1x1/2 conv + BN + BridgeSE(16)",
                      layer_model("projection_se", [shape],
                                  lambda x: L.BridgeSE(16)(projection(x))),
                      p.layer_batch),
        ),
    )


def _layer_rir(p):
    from keras_resvariants import layers as L

    half, full = _layer_shape(p, 32), _layer_shape(p, 64)
    return Group(
        name="layer_rir",
        title="RiRConv vs a plain conv of the same total width",
        level="layer",
        claim="RiR: no added cost in time or parameters.",
        baseline=Candidate("conv", "Conv2D(64, 3) + BN + ReLU",
                           layer_model("conv", [full], _conv_bn_relu(64)),
                           p.layer_batch),
        variants=(
            # Joined streams, as the builders run it.
            Candidate("rir_identity", "RiRConv(32, 32), identity shortcut",
                      layer_model("rir_identity", [full],
                                  lambda x: L.RiRConv(
                                      32, 32, residual_channels=32)(x)),
                      p.layer_batch, Target(1.05)),
            Candidate("rir_none", "RiRConv(32, 32), no shortcut",
                      layer_model("rir_none", [full],
                                  lambda x: L.RiRConv(
                                      32, 32, shortcut=None,
                                      residual_channels=32)(x)),
                      p.layer_batch),
            Candidate("rir_two_tensors",
                      "RiRConv(32, 32), identity, called on [r, m]",
                      layer_model("rir_two_tensors", [half, half],
                                  lambda xs: L.RiRConv(32, 32)(xs)),
                      p.layer_batch),
        ),
    )


def _layer_seqconv(p):
    from keras_resvariants import layers as L

    shape = _layer_shape(p, 64)

    def seq(k, **kw):
        return lambda x: L.SeqConv2D(64, k, return_raw=False, seed=0,
                                     **kw)(x)

    return Group(
        name="layer_seqconv",
        title="SeqConv2D vs a plain conv with the same parameters",
        level="layer",
        claim="SeqConv: the windowed SeqConv costs the same as a regular "
              "convolution.",
        baseline=Candidate("conv", "Conv2D(64, 3) + BN + ReLU",
                           layer_model("conv", [shape], _conv_bn_relu(64)),
                           p.layer_batch),
        variants=_variants(
            p,
            Candidate("seq_k16", "SeqConv2D(64, k=16)",
                      layer_model("seq_k16", [shape], seq(16)),
                      p.layer_batch, Target(1.8)),
            Candidate("seq_k8", "SeqConv2D(64, k=8)",
                      layer_model("seq_k8", [shape], seq(8)),
                      p.layer_batch, Target(1.8)),
            Candidate("seq_k8_drop", "SeqConv2D(64, k=8, dropout 0.1)",
                      layer_model("seq_k8_drop", [shape],
                                  seq(8, dropout=0.1)),
                      p.layer_batch),
            # What any formulation of 8 sequential groups costs at least:
            # group i's input needs group i-1's activation, so 7
            # convolutions run one after another, each after a per-group
            # batch norm; here each reads only the previous group (8 -> 8
            # channels), and the input's share is one plain convolution.
            Candidate("seq_chain",
                      "Conv2D(64, 3) + 7 dependent Conv2D(8, 3) of 8 "
                      "channels, 8 x BN + ReLU of 8 channels (the floor "
                      "of 8 sequential groups)",
                      layer_model("seq_chain", [shape], _group_chain(8, 8)),
                      p.layer_batch, floor_for="seq_k8"),
            Candidate("seqb_k16_c4", "SeqConv2D(64, k=16, bottleneck, c=4)",
                      layer_model("seqb_k16_c4", [shape],
                                  seq(16, bottleneck=True, subgroups=4)),
                      p.layer_batch),
        ),
    )


def _layer_seqconv_dropout(p):
    from keras_resvariants import layers as L

    shape = _layer_shape(p, 64)

    def seq(**kw):
        return lambda x: L.SeqConv2D(64, 8, return_raw=False, seed=0,
                                     **kw)(x)

    return Group(
        name="layer_seqconv_dropout",
        title="SeqConv2D training with dropout vs without",
        level="layer",
        claim="SeqConv: the paper trains its CIFAR nets with dropout on "
              "each group's view; it should cost little more than the "
              "shared-convolution path.",
        baseline=Candidate("seq_k8", "SeqConv2D(64, k=8), dropout 0",
                           layer_model("seq_k8", [shape], seq()),
                           p.layer_batch),
        variants=(
            Candidate("seq_k8_drop", "SeqConv2D(64, k=8, dropout 0.1)",
                      layer_model("seq_k8_drop", [shape],
                                  seq(dropout=0.1)),
                      p.layer_batch, Target(1.15)),
            # Each group's own convolution of its 64-channel view (the
            # view holds the previous groups' activations, so the
            # convolutions run one after another) and its BN + ReLU, with
            # no masks: what the masks add is the gap to the next one.
            Candidate("per_group_convs",
                      "8 dependent Conv2D(8, 3) of each group's 64-channel "
                      "view + BN + ReLU, no masks",
                      layer_model("per_group_convs", [shape],
                                  _group_chain(8, 8, view=64)),
                      p.layer_batch),
            # What any formulation of per-group masks built from dense
            # convolutions costs at least: the same chain, each view
            # multiplied by its group's own per-sample channel mask (one
            # draw for all groups, as SeqConv2D draws them). Per-sample
            # masks cannot be folded into a shared kernel; grouped
            # convolutions over masked copies, the MAC-equal alternative,
            # multiply the same copies and run far slower on a CPU (see
            # layers/implementation.py).
            Candidate("per_group_convs_masked",
                      "the same chain, each view times its group's "
                      "per-sample channel mask (the floor of per-group "
                      "masks)",
                      layer_model("per_group_convs_masked", [shape],
                                  _group_chain(8, 8, view=64, dropout=0.1)),
                      p.layer_batch, floor_for="seq_k8_drop"),
        ),
    )


class _ChannelMasks(keras.layers.Layer):
    """Spatial-dropout masks of `groups` views of `channels` each, drawn
    at once as `SeqConv2D` draws its own: `(batch, 1, 1, groups *
    channels)`, each entry `0` or `1 / (1 - rate)` (in training and out:
    the benchmark times training steps)."""

    def __init__(self, groups, channels, rate, **kwargs):
        super().__init__(**kwargs)
        self.groups, self.channels, self.rate = groups, channels, rate
        self.seed_generator = keras.random.SeedGenerator(0)

    def call(self, x):
        n = self.groups * self.channels
        uniform = keras.random.uniform((keras.ops.shape(x)[0], n),
                                       seed=self.seed_generator)
        keep = keras.ops.cast(uniform >= self.rate, x.dtype)
        return keras.ops.reshape(keep / (1.0 - self.rate), (-1, 1, 1, n))


def _group_chain(groups, width, view=None, dropout=None):
    """`groups` groups of `width` channels in sequence from Keras layers:
    group i convolves (3x3) its input and then BN + ReLU. Without `view`,
    every group's input share comes from one plain convolution of the
    whole input (split per group) and group i > 0 adds a convolution of
    group i-1's activation only; with `view`, group i convolves the last `view`
    channels of `concat(input, a_0, ..., a_{i-1})`, and with `dropout` too
    it convolves them times its own mask (`_ChannelMasks`)."""
    def conv(filters):
        return keras.layers.Conv2D(filters, 3, padding="same",
                                   use_bias=False)

    def bn_relu(z):
        z = keras.layers.BatchNormalization(epsilon=1e-5, momentum=0.9)(z)
        return keras.layers.ReLU()(z)

    def split(t, sizes):
        # `split`, not slices: a slice's gradient is slow on a CPU.
        points = [int(q) for q in np.cumsum(sizes)[:-1]]
        return keras.layers.Lambda(
            lambda u: keras.ops.split(u, points, axis=-1))(t)

    def fn(x):
        acts = []
        if view is None:
            shares = split(conv(groups * width)(x), [width] * groups)
            for i in range(groups):
                z = shares[i]
                if i:
                    z = keras.layers.Add()([z, conv(width)(acts[-1])])
                acts.append(bn_relu(z))
        else:
            if dropout:
                masks = split(_ChannelMasks(groups, view, dropout)(x),
                              [view] * groups)
            seen = x
            for i in range(groups):
                if i:
                    drop = seen.shape[-1] + width - view
                    if drop > 0:
                        seen = split(seen, [drop, view - width])[1]
                    seen = keras.layers.Concatenate()([seen, acts[-1]])
                masked = (keras.layers.Multiply()([seen, masks[i]])
                          if dropout else seen)
                acts.append(bn_relu(conv(width)(masked)))
        return keras.layers.Concatenate()(acts)

    return fn


def _layer_grouped(p):
    from keras_resvariants import layers as L

    shape = _layer_shape(p, 128)
    variants = []
    for g, s in ((8, 1), (16, 2)):
        for cls, what in ((keras.layers.Conv2D, "keras Conv2D"),
                          (L.GroupedConv2D, "GroupedConv2D")):
            if cls is keras.layers.Conv2D and s == 1 and not p.extras:
                continue  # ~25x a dense conv: the strided case shows it
            name = f"{'ours' if cls is L.GroupedConv2D else 'keras'}_g{g}_s{s}"
            variants.append(Candidate(
                name, f"{what}(128, 3, groups={g}, strides={s})",
                layer_model(name, [shape], _conv_bn_relu(
                    128, groups=g, strides=s, conv_class=cls)),
                p.layer_batch))
    return Group(
        name="layer_grouped",
        title="Grouped convolutions vs a dense Conv2D (per MAC)",
        level="layer",
        claim="A grouped convolution does 1/groups of the dense MACs; "
              "GroupedConv2D computes Conv2D(groups) without Keras' "
              "XLA fallback on TensorFlow.",
        baseline=Candidate("dense", "Conv2D(128, 3) + BN + ReLU",
                           layer_model("dense", [shape], _conv_bn_relu(128)),
                           p.layer_batch),
        variants=tuple(variants),
    )


_GROUP_FACTORIES = {
    # Model level first: re-runs of contaminated groups go to them while
    # the quick profile's retry budget lasts.
    "ror": _ror,
    "bridge_se": _bridge_se,
    "rg": _rg,
    "rir": _rir,
    "seqconv": _seqconv,
    "grouped": _grouped,
    "grouped_fix": _grouped_fix,
    "layer_merge": _layer_merge,
    "layer_rg": _layer_rg,
    "layer_bridge_se": _layer_bridge_se,
    "layer_rir": _layer_rir,
    "layer_seqconv": _layer_seqconv,
    "layer_seqconv_dropout": _layer_seqconv_dropout,
    "layer_grouped": _layer_grouped,
}

GROUP_NAMES = tuple(_GROUP_FACTORIES)


def default_groups(profile):
    """The groups a profile runs when none are named."""
    profile = get_profile(profile)
    return tuple(g for g in GROUP_NAMES if g not in profile.skip)


def get_group(name, profile="quick"):
    """The group `name` sized by `profile` (a name or a `Profile`)."""
    if name not in _GROUP_FACTORIES:
        raise ValueError(
            f"Unknown benchmark group. Received: group={name!r}. Accepted: "
            f"{', '.join(GROUP_NAMES)}"
        )
    return _GROUP_FACTORIES[name](get_profile(profile))
