"""docs/models.md is what `python -m keras_resvariants.model_table` writes.

The fast test renders the page from the registry with the parameter and MAC
columns read back from the committed page, so a network added, renamed or
re-documented (family, spec count, paper figures, source, notes) without
regenerating the page fails here; the slow test builds every network and
compares the whole page, those two columns included.
"""

import os

import pytest

from keras_resvariants import model_table
from keras_resvariants.models import list_models
from keras_resvariants.models import model_info

PAGE = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir,
                    "docs", "models.md")


def _committed():
    with open(PAGE, encoding="utf-8") as f:
        return f.read()


def _measurements_on_page(page):
    """`{key: (params, MACs)}` from the page's rows (MACs to the page's
    three decimals of a billion, which render back the same)."""
    keys = {model_info(key)["builder"]: key for key in list_models()}
    measurements = {}
    for line in page.splitlines():
        if not line.startswith("| `"):
            continue
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        builder = cells[0].strip("`")
        assert builder in keys, f"{builder} is on the page, not registered"
        params = int(cells[4].replace(",", ""))
        macs = float(cells[7].rstrip("G")) * 1e9
        measurements[keys[builder]] = (params, macs)
    return measurements


def test_models_page_matches_the_registry():
    page = _committed()
    measurements = _measurements_on_page(page)
    missing = sorted(set(list_models()) - set(measurements))
    assert not missing, f"registered but not on docs/models.md: {missing}"
    assert model_table.markdown(measurements) == page


@pytest.mark.slow
def test_models_page_regenerates_unchanged():
    assert model_table.markdown() == _committed()
