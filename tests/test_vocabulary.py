"""One visual-category vocabulary for every shipped sheet, enforced by the sheet schema."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from filterdb.sheet import SheetError, default_schema_path, load_sheets, read_tsv

ROOT = Path(__file__).resolve().parents[1]
# the model sheets every shipped config lists (config/ also holds the experiments' design tables)
SHEETS = sorted(
    {ROOT / sheet for config in (ROOT / "config").glob("*.yaml") for sheet in yaml.safe_load(config.read_text()).get("sheets", [])}
)


def vocabulary() -> list[str]:
    return yaml.safe_load(default_schema_path().read_text())["properties"]["visual_category"]["enum"]


def test_vocabulary_has_the_paper_style_categories_and_unknown():
    assert {"natural", "medical", "astronomy", "microscopy", "faces", "people", "text/documents", "game boards",
            "audio spectrograms", "fashion", "handwriting", "synthetic", "unknown"} <= set(vocabulary())


@pytest.mark.parametrize("sheet", SHEETS, ids=lambda p: p.name)
def test_every_shipped_sheet_uses_it(sheet):
    assert load_sheets([sheet])  # validates every row against the schema


def test_a_category_outside_it_names_line_and_column(tmp_path):
    wild = ROOT / "config" / "wild.tsv"
    lines = wild.read_text().splitlines()
    lines[3] = lines[3].replace("\ttext/documents\t", "\tdocuments\t", 1)
    bad = tmp_path / "bad.tsv"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(SheetError, match=r"bad.tsv line 4 .*column 'visual_category': 'documents' is not one of"):
        load_sheets([bad])


def test_wild_rows_say_where_their_meta_data_come_from():
    header, records = read_tsv(ROOT / "config" / "wild.tsv")
    assert "meta_source" in header
    for _line, record in records:
        assert record["meta_source"].strip(), record["model"]
        if record["training_dataset"] != "unknown":
            assert "not stated" not in record["meta_source"], record["model"]
