"""Every `resvariants` subcommand answers bad input with one line and
exit status 2 (`resvariants CMD: error: MESSAGE`), as argparse does for a
bad option; `--debug` shows the traceback instead."""

import keras
import pytest

from keras_resvariants import cli


def _tiny_model_file(path):
    inputs = keras.Input((8, 8, 1))
    outputs = keras.layers.Dense(3, activation="softmax")(
        keras.layers.GlobalAveragePooling2D()(inputs))
    keras.Model(inputs, outputs).save(path)
    return str(path)


def _cases(tmp_path):
    missing = str(tmp_path / "missing")
    return {
        "train": ["train", "--model", "not_a_model", "--epochs", "1",
                  "--output", str(tmp_path / "run")],
        "bench": ["bench", "--accuracy", "--families", "not_a_family",
                  "--output", str(tmp_path / "bench")],
        "tune": ["tune", "--family", "ror", "--fix", "not_a_hyperparameter=1",
                 "--output", str(tmp_path / "tune")],
        # The case: a model file that no training run wrote, so
        # nothing says which preprocessing to bake in.
        "export": ["export", "--model",
                   _tiny_model_file(tmp_path / "model.keras"),
                   "--output", str(tmp_path / "out")],
        "export-missing": ["export", "--model", missing + ".keras",
                           "--output", str(tmp_path / "out")],
        "serve": ["serve", "--model-base-path", missing],
    }


@pytest.mark.parametrize(
    "case", ["train", "bench", "tune", "export", "export-missing", "serve"])
def test_one_line_and_exit_status_2(case, tmp_path, capsys):
    argv = _cases(tmp_path)[case]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith(f"resvariants {argv[0]}: error: "), err[0]
    assert "Traceback" not in err[0]


def test_debug_shows_the_traceback(tmp_path):
    argv = _cases(tmp_path)["export-missing"]
    with pytest.raises((ValueError, FileNotFoundError)):
        cli.main(["--debug", *argv])


def test_error_line_folds_a_multi_line_message():
    error = ValueError("first line\n  second line")
    assert cli.error_line("export", error) == (
        "resvariants export: error: first line second line")
