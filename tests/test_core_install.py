"""`pip install keras-resvariants` is keras + numpy; the workflows are extras.

- Static: `[project].dependencies` are keras and numpy only, and every
  optional package a workflow imports (read from the source with `ast`) is
  in that workflow's extra; the core, the command lines and the workflows
  that import without their extra import only core packages at module
  level.
- Installed: a fresh virtual environment holding exactly the installed
  distributions of the closure of the core dependencies plus one backend
  (JAX), and this package's source, nothing else (no network: the
  distributions are links to the ones installed here). In it
  `keras_resvariants` imports, the optional packages are absent (the check
  fails if the isolation leaks), a family's smallest network predicts and
  reloads from `.keras` with identical predictions, the CLI parser builds
  and the tuning and serving workflows raise `ImportError`s naming their
  extra. Every family, and a Fashion-MNIST training run, with `-m slow`.
"""

import ast
import functools
import importlib.metadata
import json
import os
import re
import subprocess
import sys
import textwrap

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from keras_resvariants import _extras
from tests.testing import REPO_ROOT

tomllib = pytest.importorskip("tomllib")

PACKAGE_DIR = os.path.join(REPO_ROOT, "keras_resvariants")
CORE = {"keras", "numpy"}
BACKEND = "jax[cpu]"  # the user's own backend; JAX: no TensorFlow in it
# Backends the code imports only when it runs on them.
BACKEND_MODULES = {"jax", "jaxlib", "torch"}
# Must not be importable in the core environment.
OPTIONAL_MODULES = ("tensorflow", "keras_tuner", "fastapi", "uvicorn",
                    "sklearn", "matplotlib", "tensorflow_datasets",
                    "tensorboard", "grpc", "tensorflow_serving")
# Source of each workflow (paths under keras_resvariants/; missing ones are
# skipped, so that moving a module does not break this test) -> its extra.
# Everything else in the package is core.
WORKFLOWS = {
    "train": ("training", "bench", "data.py", "publishing.py",
              os.path.join("weights", "publish.py")),
    "tune": ("tuning",),
    "serve": ("serving",),
}
# Workflows that import without their extra (first use needs it): all of
# `train`'s; the guarded packages of `_extras.PACKAGES` import without it too
# but only by skipping the imports their guard checks.
IMPORTABLE_WITHOUT_EXTRA = WORKFLOWS["train"]
DEFAULT_FAMILY = "res_se"  # the default run's family (Res-SE-Net's layer)


def _pyproject():
    with open(os.path.join(REPO_ROOT, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)["project"]


def _expand(requirements, extras_table, project):
    """Canonical distribution names of `requirements`, with this project's
    own extras (`keras-resvariants[train]`) expanded."""
    names = set()
    for text in requirements:
        req = Requirement(text)
        if canonicalize_name(req.name) == project:
            for extra in req.extras:
                names |= _expand(extras_table[extra], extras_table, project)
        else:
            names.add(canonicalize_name(req.name))
    return names


def _extra_names():
    project = _pyproject()
    table = project["optional-dependencies"]
    own = canonicalize_name(project["name"])
    return {extra: _expand(reqs, table, own) for extra, reqs in table.items()}


# -- static checks ----------------------------------------------------------


def test_core_dependencies_are_keras_and_numpy():
    deps = {canonicalize_name(Requirement(r).name)
            for r in _pyproject()["dependencies"]}
    assert deps == CORE


def test_extras_contain_their_workflow_and_test_contains_all():
    extras = _extra_names()
    assert {"train", "tune", "serve", "all", "test"} <= set(extras)
    assert extras["train"] >= {"tensorflow", "tensorflow-datasets",
                               "tensorboard", "matplotlib"}
    assert extras["tune"] >= extras["train"] | {"keras-tuner",
                                                "scikit-learn"}
    assert extras["serve"] >= {"tensorflow", "fastapi", "uvicorn", "grpcio",
                               "tensorflow-serving-api"}
    assert extras["all"] >= extras["train"] | extras["tune"] | extras[
        "serve"]
    assert extras["test"] >= extras["all"] | {"pytest", "pytest-xdist",
                                              "httpx", "jax"}
    for names in extras.values():
        assert not names & CORE, "extras add to the core, not repeat it"


def _python_files(relative):
    path = os.path.join(PACKAGE_DIR, relative)
    if os.path.isfile(path):
        return [path]
    return sorted(os.path.join(root, name)
                  for root, _, files in os.walk(path)
                  for name in files if name.endswith(".py"))


def _imports(path):
    """`(module, at_module_level)` of each absolute import (`module` is the
    dotted name); an import inside a function (or lambda) is not at module
    level."""
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                found.extend((a.name, not in_function) for a in child.names)
            elif isinstance(child, ast.ImportFrom) and child.level == 0:
                found.append((child.module, not in_function))
            visit(child, in_function or isinstance(
                child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(tree, False)
    return found


def _top(module):
    return module.split(".")[0]


def _third_party(module):
    return _top(module) not in (*sys.stdlib_module_names, "__future__",
                                "keras_resvariants")


_packages_distributions = functools.cache(
    importlib.metadata.packages_distributions)


@functools.cache
def _distributions_of(module):
    """The installed distributions that provide `module` (dotted); of a
    namespace package that several fill (`google`), the ones holding the
    subpackage (`google.protobuf`: protobuf)."""
    parts = module.split(".")
    names = _packages_distributions().get(parts[0], ())
    if len(names) > 1 and len(parts) > 1:
        names = [name for name in names if any(
            file.parts[:2] == tuple(parts[:2])
            for file in importlib.metadata.distribution(name).files or ())]
    return {canonicalize_name(name) for name in names}


def _relative(path):
    return os.path.relpath(path, PACKAGE_DIR)


def _workflow_of(path):
    rel = _relative(path)
    for extra, sources in WORKFLOWS.items():
        for source in sources:
            if rel == source or rel.startswith(source + os.sep):
                return extra
    return None


def test_each_extra_lists_what_its_workflow_imports():
    extras = _extra_names()
    problems = []
    files = _python_files(".")
    assert len(files) > 30, files  # the walk found the package
    for path in files:
        extra = _workflow_of(path)
        allowed = CORE | (extras[extra] if extra else set())
        for module, _ in _imports(path):
            if not _third_party(module) or _top(module) in BACKEND_MODULES:
                continue
            dists = _distributions_of(module)
            if not dists:
                problems.append(f"{_relative(path)} imports {module}, which "
                                "is not installed here to check")
            elif not dists & allowed:
                where = f"the [{extra}] extra" if extra else "the core"
                problems.append(f"{_relative(path)} imports {module} "
                                f"({', '.join(sorted(dists))}), not in "
                                f"{where}")
    assert not problems, "\n".join(problems)


def test_modules_importable_without_extras_import_only_the_core():
    """The core, every command line (the `resvariants` parser imports them
    all) and the workflows importable without their extra import no
    optional package at module level; a guarded workflow package imports
    at module level only what its guard checks."""
    problems = []
    for path in _python_files("."):
        rel = _relative(path)
        extra = _workflow_of(path)
        package = rel.split(os.sep)[0]
        guarded = _extras.PACKAGES.get(f"keras_resvariants.{package}")
        if extra is None or os.path.basename(rel) == "cli.py" or any(
                rel == s or rel.startswith(s + os.sep)
                for s in IMPORTABLE_WITHOUT_EXTRA):
            allowed = set()
        elif guarded is not None:
            allowed = set(guarded[1])
        else:
            continue
        for module, at_top in _imports(path):
            if (at_top and _third_party(module) and _top(module) not in CORE
                    and _top(module) not in allowed):
                problems.append(f"{rel} imports {module} at module level")
    assert not problems, "\n".join(problems)


def test_guards_name_the_extra_that_installs_their_modules():
    extras = _extra_names()
    for package, (extra, modules) in _extras.PACKAGES.items():
        assert os.path.isdir(os.path.join(
            REPO_ROOT, *package.split("."))), package
        for module in modules:
            dist = canonicalize_name(_extras.DISTRIBUTIONS[module])
            assert dist in extras[extra], (package, module)
            if _distributions_of(module):
                assert dist in _distributions_of(module), module
    error = _extras.extra_error("tune", "keras_resvariants.tuning",
                                ["keras_tuner"])
    assert isinstance(error, ImportError)
    assert str(error) == ("keras_resvariants.tuning needs keras-tuner: pip "
                          "install 'keras-resvariants[tune]'")
    with pytest.raises(ImportError, match=re.escape("[train]")):
        _extras.require("train", "f", "json", "no_such_module_kr")
    _extras.require("train", "f", "json", "numpy")  # installed: no error


# -- the core-only environment ---------------------------------------------


def _closure(roots):
    """The installed distributions that `roots` need, recursively, with
    markers evaluated for this interpreter and the requested extras."""
    found = {}
    todo = [Requirement(r) for r in roots]
    done = set()
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        extras = frozenset(req.extras)
        if (name, extras) in done:
            continue
        done.add((name, extras))
        dist = found.get(name) or importlib.metadata.distribution(name)
        found[name] = dist
        for text in dist.requires or ():
            sub = Requirement(text)
            if sub.marker is None or any(
                    sub.marker.evaluate({**default_environment(),
                                         "extra": e})
                    for e in ("", *extras)):
                todo.append(sub)
    return found


def _top_levels(dist):
    tops = {}
    for file in dist.files or ():
        parts = file.parts
        if (not parts or parts[0] in ("..", "__pycache__")
                or os.path.isabs(str(file))
                or (len(parts) == 1 and parts[0].endswith(".pth"))):
            continue
        tops.setdefault(parts[0], []).append(file)
    return tops


def _link_closure(dists, site):
    """Links each distribution's top-level packages, modules and dist-info
    into `site`; a top-level directory that a distribution outside the
    closure also fills (a namespace package) is linked file by file."""
    names = {canonicalize_name(d.metadata["Name"]) for d in dists}
    others = set()
    for dist in importlib.metadata.distributions():
        if canonicalize_name(dist.metadata["Name"] or "") not in names:
            others.update(_top_levels(dist))
    for dist in dists:
        assert dist.files, f"{dist.metadata['Name']} lists no files"
        for top, files in _top_levels(dist).items():
            target = os.path.join(site, top)
            if top not in others:
                if not os.path.lexists(target):
                    os.symlink(dist.locate_file(top), target)
                continue
            for file in files:
                link = os.path.join(site, *file.parts)
                os.makedirs(os.path.dirname(link), exist_ok=True)
                if not os.path.lexists(link):
                    os.symlink(dist.locate_file(file), link)


@pytest.fixture(scope="module")
def core_env(tmp_path_factory):
    """`(python, env, workdir)` of a virtual environment with only the core
    dependencies, JAX and this package's source."""
    root = tmp_path_factory.mktemp("core_install")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip",
                    str(venv)], check=True, capture_output=True,
                   timeout=120)
    python = str(venv / ("Scripts" if os.name == "nt" else "bin") / "python")
    purelib = subprocess.run(
        [python, "-I", "-c",
         "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True).stdout.strip()
    site = root / "site"
    site.mkdir()
    roots = [*_pyproject()["dependencies"], BACKEND]
    _link_closure(list(_closure(roots).values()), str(site))
    os.symlink(PACKAGE_DIR, site / "keras_resvariants")
    with open(os.path.join(purelib, "core_only.pth"), "w") as f:
        f.write(f"{site}\n")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PYTHON")}
    env.update(KERAS_BACKEND="jax", JAX_PLATFORMS="cpu",
               KERAS_HOME=str(root / "keras_home"), PYTHONNOUSERSITE="1",
               # never write into the linked installations
               PYTHONDONTWRITEBYTECODE="1")
    work = root / "work"
    work.mkdir()
    return python, env, str(work)


_SCRIPT = textwrap.dedent('''
    import contextlib
    import importlib.util
    import io
    import json
    import os
    import sys

    import numpy as np

    optional, families, workdir = json.loads(sys.argv[1])
    report = {"importable": [m for m in optional
                             if importlib.util.find_spec(m) is not None]}

    import keras
    import keras_resvariants as kr

    report["backend"] = keras.backend.backend()
    report["package"] = os.path.realpath(kr.__file__)

    def error_of(statement):
        try:
            exec(statement, {})
        except ImportError as error:
            return str(error)
        return None

    report["errors"] = {s: error_of(s) for s in (
        "import keras_resvariants.tuning",
        "import keras_resvariants.serving",
        "import keras_resvariants.training",
        "import keras_resvariants.bench",
        "from keras_resvariants.tuning import search",
        "from keras_resvariants.serving import create_app",
    )}

    from keras_resvariants import cli

    cli.build_parser()
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        code = cli.main(["tune", "--family", "ror", "--list-space"])
    report["tune_cli"] = [code, stderr.getvalue()]

    report["families"] = sorted({kr.model_info(k)["family"]
                                 for k in kr.list_models()})

    def size(key):
        params = kr.model_info(key)["params"]
        return (params is None, params or 0, key)

    report["models"] = {}
    rng = np.random.default_rng(0)
    for family in report["families"] if families == "all" else families:
        key = min(kr.list_models(family=family), key=size)
        side = max(32, kr.model_info(key)["min_input_size"])
        model = kr.create_model(key, input_shape=(side, side, 3),
                                classes=10)
        x = rng.uniform(0, 255, (2, side, side, 3)).astype("float32")
        y = model.predict(x, verbose=0)
        path = os.path.join(workdir, key + ".keras")
        model.save(path)
        y2 = keras.saving.load_model(path).predict(x, verbose=0)
        report["models"][family] = {
            "key": key, "shape": list(y.shape),
            "finite": bool(np.isfinite(y).all()),
            "equal": bool(np.array_equal(y, y2)),
            "max_diff": float(np.max(np.abs(y - y2))),
        }
    report["loaded"] = [m for m in optional if m in sys.modules]
    print("REPORT " + json.dumps(report))
''')


def _run_in(core_env, script, argument):
    """Runs `script` in the core environment; returns its `REPORT` JSON."""
    python, env, work = core_env
    result = subprocess.run(
        [python, "-c", script, json.dumps(argument)],
        cwd=work, env=env, capture_output=True, text=True, timeout=1200)
    lines = [line for line in result.stdout.splitlines()
             if line.startswith("REPORT ")]
    assert result.returncode == 0 and lines, (
        result.stdout[-4000:] + result.stderr[-6000:])
    return json.loads(lines[-1][len("REPORT "):])


def _run_core(core_env, families):
    return _run_in(core_env, _SCRIPT,
                   [OPTIONAL_MODULES, families, core_env[2]])


def _check_models(report, families):
    assert set(report["models"]) == set(families)
    for family, info in report["models"].items():
        assert info["shape"] == [2, 10], (family, info)
        assert info["finite"], (family, info)
        assert info["equal"], (family, info)


def test_core_only_environment(core_env):
    report = _run_core(core_env, [DEFAULT_FAMILY])
    # the isolation holds: no optional package can even be found
    assert report["importable"] == [], report["importable"]
    assert report["loaded"] == []
    assert report["backend"] == "jax"
    assert report["package"] == os.path.join(PACKAGE_DIR, "__init__.py")
    assert DEFAULT_FAMILY in report["families"], report["families"]
    _check_models(report, [DEFAULT_FAMILY])

    errors = report["errors"]
    for importable in ("import keras_resvariants.training",
                       "import keras_resvariants.bench"):
        assert errors[importable] is None, (importable, errors[importable])
    tune = ("keras_resvariants.tuning needs keras-tuner: pip install "
            "'keras-resvariants[tune]'")
    for statement in ("import keras_resvariants.tuning",
                      "from keras_resvariants.tuning import search"):
        assert errors[statement] == tune, (statement, errors[statement])
    serve = ("keras_resvariants.serving needs tensorflow, fastapi, uvicorn: "
             "pip install 'keras-resvariants[serve]'")
    for statement in ("import keras_resvariants.serving",
                      "from keras_resvariants.serving import create_app"):
        assert errors[statement] == serve, (statement, errors[statement])
    code, stderr = report["tune_cli"]
    assert code == 2 and tune in stderr, report["tune_cli"]


@pytest.mark.slow
def test_core_only_environment_builds_every_family(core_env):
    report = _run_core(core_env, "all")
    assert report["importable"] == [] and report["loaded"] == []
    assert len(report["families"]) >= 6, report["families"]
    _check_models(report, report["families"])


_TRAIN_SCRIPT = textwrap.dedent('''
    import json
    import os
    import sys

    from keras_resvariants.training import train

    result = train("resnet_20", "fashion_mnist", "quick", epochs=1,
                   train_subset=128, validation_split=64, output_dir="run")
    print("REPORT " + json.dumps({
        "accuracy": result.metrics["test_accuracy"],
        "files": sorted(os.listdir("run")),
        "loaded": [m for m in json.loads(sys.argv[1]) if m in sys.modules],
    }))
''')


@pytest.mark.slow
def test_core_only_environment_trains_fashion_mnist_on_jax(core_env):
    """What the README says needs no extra: Fashion-MNIST training on JAX
    (no TensorBoard logs, no curves.png without the `train` extra)."""
    from keras_resvariants import data

    if not os.path.isdir(os.environ.get(data.FASHION_MNIST_ENV)
                         or data.FASHION_MNIST_DIR):
        pytest.skip("needs Fashion-MNIST (apt-get install "
                    "dataset-fashion-mnist)")
    report = _run_in(core_env, _TRAIN_SCRIPT, OPTIONAL_MODULES)
    assert report["loaded"] == []
    assert {"best.keras", "last.keras", "metrics.json"} <= set(
        report["files"])
    assert 0.0 <= report["accuracy"] <= 1.0
