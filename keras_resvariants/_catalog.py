"""The catalog: the papers and networks the package knows, as data.

Each family module of `keras_resvariants.models` is the one home of its
paper: it registers one `Family` (id, citation, layer, the paper's training
recipes, its search space, the claim the accuracy study measures) and its
networks (`ArchEntry`, through `keras_resvariants.models.register_arch`).
Recipes, tuning, the benchmarks and the study read the catalog; none of
them lists the papers again. The catalog imports nothing of the package, so
every part can read it (docs/design.md, "Package
layout").
"""

import dataclasses

FAMILIES = {}
ARCHS = {}


@dataclasses.dataclass(frozen=True)
class StudyEntry:
    """One network of a study pair: registry key and hyperparameters.

    Attributes:
        key: registry name (`keras_resvariants.list_models()`).
        label: name shown in the reports.
        hparams: `((name, value), ...)`: builder hyperparameters.
        macs: multiply-accumulates per 28x28x1 image
            (`keras_resvariants.count_macs`); only a hint for starting
            the costliest runs of a study first.
    """

    key: str
    label: str
    hparams: tuple = ()
    macs: int = 0

    def run_name(self, recipe, epochs, seed, *, batch_size=None,
                 train_subset=None, test_subset=None,
                 steps_per_epoch=None):
        """Directory (and result file) name of one training run.

        Every setting that changes the run is in the name, so a run made
        with other settings is never taken for this one: the builder
        hyperparameters, recipe, epochs and seed, then `-b` batch size,
        `-n` train subset, `-t` test subset and `-spe` steps per epoch
        where they are not the defaults.
        """
        hp = "".join(f"-{k}{v}" for k, v in self.hparams)
        name = f"{self.key}{hp}-{recipe}-e{epochs}-s{seed}"
        for tag, value in (("b", batch_size), ("n", train_subset),
                           ("t", test_subset), ("spe", steps_per_epoch)):
            if value is not None:
                name += f"-{tag}{value}"
        return name


@dataclasses.dataclass(frozen=True)
class StudyPair:
    """The paper's claim on Fashion-MNIST: its variant against the paper's
    own baseline, small enough to train on a CPU.

    Attributes:
        claim: the sentence the study tests.
        baseline: `StudyEntry` of the paper's baseline.
        variants: `StudyEntry`s of the paper's network(s).
    """

    claim: str
    baseline: StudyEntry
    variants: tuple


@dataclasses.dataclass(frozen=True)
class Family:
    """One paper (or the ResNet baselines): everything the workflows read.

    Attributes:
        id: family id; also the name of its module in
            `keras_resvariants.models` and of its section in
            docs/design.md.
        title: the paper's short name, e.g. `"Res-SE-Net"`.
        citation: authors, title, venue and year.
        layer: the class name of its layer in `keras_resvariants.layers`
            (`None` for the baselines).
        recipes: the paper's training recipes (`keras_resvariants.recipes
            .Recipe`); the first is the family's default.
        space: its architecture search space
            (`keras_resvariants.search_space.FamilySpace`), or `None`.
        hypermodel: public name of the generated keras-tuner hypermodel
            (`keras_resvariants.tuning`), with `space`.
        study: the `StudyPair` of the accuracy study, or `None`.
    """

    id: str
    title: str
    citation: str
    layer: str | None = None
    recipes: tuple = ()
    space: object = None
    hypermodel: str | None = None
    study: StudyPair | None = None

    @property
    def recipe(self):
        """The family's default recipe (its paper's CIFAR recipe)."""
        return self.recipes[0]


@dataclasses.dataclass(frozen=True)
class ArchEntry:
    """What the registry knows about one network."""

    key: str
    public_name: str
    family: str
    paper: str
    table: str
    defaults: dict
    default_size: int
    min_size: int
    paper_params: str | None
    expected_params: int | None
    expected_classes: int
    paper_macs: str | None
    notes: str
    builder: object


def register_family(family, module):
    """Adds `family`, declared by `module` (its `__name__`); returns it.

    The family id must be the module's name, so that a paper has one name
    everywhere.
    """
    module_id = module.rsplit(".", 1)[-1]
    if family.id != module_id:
        raise ValueError(
            f"A family's id must be its module's name. Received: "
            f"id={family.id!r} from module {module!r}"
        )
    if family.id in FAMILIES:
        raise ValueError(f"Family {family.id!r} is already registered.")
    if family.space is not None and family.space.family != family.id:
        raise ValueError(
            f"The search space of {family.id!r} names family "
            f"{family.space.family!r}."
        )
    FAMILIES[family.id] = family
    return family


def family_ids():
    """Registered family ids, in registration order."""
    return tuple(FAMILIES)


def get_family(family_id, *, argument="family"):
    """The `Family` of `family_id`; a `ValueError` naming `argument` for an
    unknown id."""
    if isinstance(family_id, str) and family_id in FAMILIES:
        return FAMILIES[family_id]
    raise ValueError(
        f"`{argument}` must be one of "
        f"{', '.join(repr(f) for f in FAMILIES)}. Received: "
        f"{argument}={family_id!r}"
    )


def add_arch(entry):
    """Adds an `ArchEntry` (by `models.register_arch`)."""
    if entry.key in ARCHS:
        raise ValueError(f"Model {entry.key!r} is already registered.")
    if entry.family not in FAMILIES:
        raise ValueError(
            f"Model {entry.key!r} names family {entry.family!r}, which is "
            "not registered (register the family first)."
        )
    ARCHS[entry.key] = entry


def arch_entry(name):
    """The `ArchEntry` of a registry key or builder name."""
    if name in ARCHS:
        return ARCHS[name]
    for entry in ARCHS.values():
        if entry.public_name == name:
            return entry
    raise ValueError(
        f"Unknown model name. Received: name={name!r}. Use "
        "keras_resvariants.list_models() to see the "
        f"{len(ARCHS)} registered models."
    )
