"""The documentation runs: every example a user can copy is executed here.

- Every fenced `python` block of `README.md` and `docs/*.md` runs, in
  order, one namespace per file, in a scratch working directory (blocks
  that train use the package's small settings, with a comment saying so).
- Every `resvariants ...` line of a fenced `bash` block parses with the real
  argument parser, and the models, recipes, datasets, families and
  hyperparameters it names exist.
- Every docstring example (`>>>`) of the public modules runs as a doctest.
"""

import ast
import doctest
import glob
import importlib
import os
import re
import shlex

import keras
import numpy as np
import pytest

import keras_resvariants as kr
from keras_resvariants import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MARKDOWN = ["README.md"] + sorted(
    os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "docs",
                                                             "*.md")))
_FENCE = re.compile(r"^```(\w+)[^\n]*\n(.*?)^```", re.M | re.S)


def fenced_blocks(path, language):
    with open(os.path.join(ROOT, path)) as f:
        text = f.read()
    return [body for lang, body in _FENCE.findall(text) if lang == language]


def _python_files():
    return [p for p in MARKDOWN if fenced_blocks(p, "python")]


@pytest.mark.parametrize("path", _python_files())
def test_markdown_python_blocks_run(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__docs__"}
    for i, block in enumerate(fenced_blocks(path, "python")):
        code = compile(block, f"{path} (python block {i + 1})", "exec")
        exec(code, namespace)  # noqa: S102 - the documentation's own code


def resvariants_commands(path):
    """The `resvariants` command lines of a file's bash blocks, as argv
    lists (continuation lines joined, comments dropped)."""
    commands = []
    for block in fenced_blocks(path, "bash"):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words and words[0] == "resvariants":
                commands.append(words[1:])
    return commands


def _all_commands():
    return [pytest.param(argv, id=f"{path}:{' '.join(argv)[:50]}")
            for path in MARKDOWN for argv in resvariants_commands(path)]


def _check_names(args):
    from keras_resvariants import data
    from keras_resvariants import recipes

    models = kr.list_models()
    if getattr(args, "recipe", None) not in (None, "auto"):
        assert args.recipe in recipes.list_recipes(), args.recipe
    if getattr(args, "dataset", None) is not None:
        data.get_dataset_info(args.dataset)
    if args.command == "train" and not args.list_recipes:
        assert args.model in models, args.model
        accepted = kr.model_info(args.model)["hyperparameters"]
        for key, _ in args.model_kwargs:
            assert key in accepted, (args.model, key)
    if args.command == "tune":
        from keras_resvariants.tuning import space

        family = space.get_family_space(args.family)
        names = set(family.names) | set(family.extras)
        names |= set(space.TRAINING_NAMES)
        for key, _ in args.fix:
            assert key in names, (args.family, key)
    if args.command == "bench" and args.families:
        from keras_resvariants.bench import accuracy

        for family in args.families:
            assert family in accuracy.PAIRS, family


@pytest.mark.parametrize("argv", _all_commands())
def test_markdown_resvariants_commands_parse(argv):
    args = cli.build_parser().parse_args(argv)
    _check_names(args)


PUBLIC_MODULES = [
    "keras_resvariants",
    "keras_resvariants.layers.ror_add",
    "keras_resvariants.layers.rg_shortcut",
    "keras_resvariants.layers.rir_conv",
    "keras_resvariants.layers.bridge_se",
    "keras_resvariants.layers.seq_conv2d",
    "keras_resvariants.layers.grouped_conv2d",
    "keras_resvariants.layers.channel_pad_shortcut",
    "keras_resvariants.models._registry",
    "keras_resvariants.recipes",
    "keras_resvariants.data",
    "keras_resvariants.preprocessing",
    "keras_resvariants.fine_tune",
    "keras_resvariants.weights.registry",
    "keras_resvariants.weights.loading",
    "keras_resvariants.training.train",
    "keras_resvariants.training.regularization",
    "keras_resvariants.training.schedules",
    "keras_resvariants.training.distribution",
    "keras_resvariants.serving.export",
    "keras_resvariants.tuning.search",
    "keras_resvariants.tuning.hypermodel",
]


# Every builder's docstring has the same generated example: one builder per
# family runs in the default suite, the other builders with `-m slow`.
_QUICK_BUILDERS = {
    kr.model_info(key)["builder"] for key in
    ("resnet_20", "res_se_net_20", "rir_net_32", "seq_resnet", "rgsnet",
     "ror_resnet_56")}


def _doctests():
    finder = doctest.DocTestFinder(exclude_empty=True)
    cases = []
    for name in PUBLIC_MODULES:
        module = importlib.import_module(name)
        for test in finder.find(module, name):
            if not (test.examples and test.name.startswith(name)):
                continue
            short = test.name.rsplit(".", 1)[-1]
            slow = (name == "keras_resvariants" and short in kr.BUILDERS
                    and short not in _QUICK_BUILDERS)
            cases.append(pytest.param(
                name, test.name, id=test.name,
                marks=pytest.mark.slow if slow else ()))
    return cases


@pytest.mark.parametrize("module_name, test_name", _doctests())
def test_docstring_examples(module_name, test_name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    module = importlib.import_module(module_name)
    (test,) = [t for t in doctest.DocTestFinder().find(module, module_name)
               if t.name == test_name]
    test.globs.update(keras_resvariants=kr, keras=keras, np=np)
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    runner.run(test, out=_collect(failures := []))
    assert runner.failures == 0, "".join(failures)


def _collect(sink):
    return sink.append


# What users read: the package (docstrings, messages, `model_info` notes,
# CLI help), its docs, model cards, records and examples.
USER_FACING = (
    glob.glob(os.path.join(ROOT, "keras_resvariants", "**", "*.py"),
              recursive=True)
    + glob.glob(os.path.join(ROOT, "keras_resvariants", "**", "*.json"),
                recursive=True)
    + glob.glob(os.path.join(ROOT, "examples", "*.py"))
    + glob.glob(os.path.join(ROOT, "saved_models", "*.md"))
    + [os.path.join(ROOT, p) for p in MARKDOWN]
)
# What contributors read: the tests' comments, docstrings and case labels.
TESTS = glob.glob(os.path.join(ROOT, "tests", "**", "*.py"), recursive=True)
# Documents that exist only outside the repository.
_OUTSIDE = re.compile(
    r"spec §|architecture\.md|perf-notes|ecosystem(\.md| §)|style\.md|"
    r"shared/")
_DOC_PATH = re.compile(r"\b(docs/[\w./-]+\.(?:md|png|json))")
_MD_LINK = re.compile(r"\]\(([^)#\s]+)")


def _own_pattern_lines():
    """Line numbers of this file's `_OUTSIDE` statement, which has to name
    the documents it looks for."""
    with open(__file__, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    for node in tree.body:
        if (isinstance(node, ast.Assign)
                and [getattr(t, "id", None) for t in node.targets]
                == ["_OUTSIDE"]):
            return set(range(node.lineno, node.end_lineno + 1))
    raise AssertionError("no `_OUTSIDE = ...` statement in " + __file__)


def test_no_user_facing_text_cites_a_document_outside_the_repository():
    own = os.path.abspath(__file__)
    skip = _own_pattern_lines()
    assert skip, "the pattern's own lines must be found to be skipped"
    found = []
    for path in USER_FACING + TESTS:
        is_own = os.path.abspath(path) == own
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if is_own and number in skip:
                    continue
                if _OUTSIDE.search(line):
                    found.append(f"{os.path.relpath(path, ROOT)}:{number}: "
                                 f"{line.strip()}")
    assert found == [], "\n".join(found)


def test_cited_repository_documents_exist():
    missing = []
    for path in USER_FACING:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        cited = set(_DOC_PATH.findall(text))
        if path.endswith(".md"):
            base = os.path.dirname(path)
            cited |= {os.path.relpath(os.path.join(base, link), ROOT)
                      for link in _MD_LINK.findall(text)
                      if "://" not in link}
        missing += [f"{os.path.relpath(path, ROOT)} -> {c}" for c in cited
                    if not os.path.exists(os.path.join(ROOT, c))]
    assert missing == [], "\n".join(missing)


# `docs/<file>.md#<anchor>` anywhere; in Markdown also `](<file>.md#<anchor>)`
# relative to the file and `](#<anchor>)` within it.
_ANCHORED = re.compile(r"\b(docs/[\w./-]+\.md)#([\w-]+)")
_MD_ANCHORED = re.compile(r"\]\(([^)#\s]*)#([^)\s]*)\)")
_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$")


def github_anchor(heading):
    """GitHub's anchor of a heading: lower case, spaces to `-`, every
    character that is not a letter, digit, `-` or `_` dropped."""
    text = heading.strip().lower()
    return "".join(c for c in text if c.isalnum() or c in " -_").replace(
        " ", "-")


def heading_anchors(text):
    """The anchors of a Markdown text's headings (outside fenced blocks),
    numbered `-1`, `-2`, ... on repeats as GitHub does."""
    anchors, fenced = set(), False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        match = None if fenced else _HEADING.match(line)
        if match:
            anchor = base = github_anchor(match.group(2))
            repeat = 0
            while anchor in anchors:
                repeat += 1
                anchor = f"{base}-{repeat}"
            anchors.add(anchor)
    return anchors


def broken_anchor_references(path, text, read=None):
    """`"<path>: <reference>"` for each reference of `text` (the contents
    of `path`, relative to the repository) whose file or heading does not
    exist. `read(relpath)` returns a document's text, or None."""
    if read is None:
        def read(rel):
            full = os.path.join(ROOT, rel)
            if not os.path.isfile(full):
                return None
            with open(full, encoding="utf-8") as f:
                return f.read()
    cited = set(_ANCHORED.findall(text))
    if path.endswith(".md"):
        base = os.path.dirname(path)
        cited |= {(os.path.normpath(os.path.join(base, target)) if target
                   else path, anchor)
                  for target, anchor in _MD_ANCHORED.findall(text)
                  if not target or (target.endswith(".md")
                                    and "://" not in target)}
    broken = []
    for document, anchor in sorted(cited):
        target = read(document)
        if target is None or anchor not in heading_anchors(target):
            broken.append(f"{path}: {document}#{anchor}")
    return broken


def _anchor_sources():
    paths = (
        glob.glob(os.path.join(ROOT, "keras_resvariants", "**", "*.py"),
                  recursive=True)
        + TESTS
        + glob.glob(os.path.join(ROOT, "examples", "**", "*"),
                    recursive=True)
        + [os.path.join(ROOT, p) for p in MARKDOWN]
    )
    return sorted({os.path.relpath(p, ROOT) for p in paths
                   if os.path.isfile(p) and p.endswith((".py", ".md"))})


def test_anchor_helpers_follow_github():
    # Known headings of docs/design.md and GitHub's anchors for them.
    assert github_anchor("res_se") == "res_se"
    assert github_anchor("Package layout") == "package-layout"
    assert github_anchor("ResNet in ResNet: the Figure 2 grid") == (
        "resnet-in-resnet-the-figure-2-grid")
    assert github_anchor("The published 1\u20132-epoch weights") == (
        "the-published-12-epoch-weights")
    assert github_anchor("`RoRAdd` (Refine, Represent)") == (
        "roradd-refine-represent")
    text = "# A\n## A\n```text\n# not a heading\n```\n### b_c\n"
    assert heading_anchors(text) == {"a", "a-1", "b_c"}
    # The check fails on a missing heading or file, and passes on a real
    # one (the targets are built here so that this file cites none).
    docs = {"docs/x.md": "# Title\n## res_se\n"}
    ok = "see docs/x.md" + "#res_se and docs/x.md" + "#title."
    bad = "see docs/x.md" + "#res-se, docs/y.md" + "#title."
    assert broken_anchor_references("a.py", ok, docs.get) == []
    assert broken_anchor_references("a.py", bad, docs.get) == [
        "a.py: docs/x.md" + "#res-se", "a.py: docs/y.md" + "#title"]
    md = "[a](x.md" + "#nope) [b](#res_se) [c](x.md" + "#title)"
    assert broken_anchor_references("docs/x.md", md, docs.get) == [
        "docs/x.md: docs/x.md" + "#nope"]


def test_every_docs_anchor_reference_names_an_existing_heading():
    # The design document has one section per family, named by its id.
    with open(os.path.join(ROOT, "docs", "design.md"),
              encoding="utf-8") as f:
        design = heading_anchors(f.read())
    from keras_resvariants.models import list_families

    assert set(list_families()) <= design, sorted(design)
    broken = []
    for path in _anchor_sources():
        with open(os.path.join(ROOT, path), encoding="utf-8") as f:
            broken += broken_anchor_references(path, f.read())
    assert broken == [], "\n".join(broken)
