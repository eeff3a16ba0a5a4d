"""Model sheet validation: errors name the file, the row and the column."""

from __future__ import annotations

import pytest

from filterdb.sheet import SheetError, load_sheets

HEADER = "model\tsource\treference\tarchitecture\tfamily\ttask\tvisual_category\ttraining_dataset\tpretrained\tseed\n"
GOOD = "m1\ttimm\tresnet18\tresnet18\tResNet\tclassification\tnatural\timagenet\tfalse\t0\n"


def _sheet(tmp_path, text, name="models.tsv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_good_sheet_is_typed(tmp_path):
    rows = load_sheets([_sheet(tmp_path, HEADER + GOOD)])
    assert rows["m1"]["pretrained"] is False and rows["m1"]["seed"] == 0


def test_missing_required_cell_names_row_and_column(tmp_path):
    bad = "m2\ttimm\tresnet18\tresnet18\tResNet\t\tnatural\timagenet\tfalse\t0\n"
    with pytest.raises(SheetError, match=r"models.tsv line 3 \(model 'm2'\): 'task' is empty"):
        load_sheets([_sheet(tmp_path, HEADER + GOOD + bad)])


def test_missing_column(tmp_path):
    header = HEADER.replace("\ttask", "")
    row = GOOD.replace("\tclassification", "")
    with pytest.raises(SheetError, match=r"has no column 'task'"):
        load_sheets([_sheet(tmp_path, header + row)])


def test_bad_boolean(tmp_path):
    with pytest.raises(SheetError, match=r"line 2 \(model 'm1'\): column 'pretrained' must be true or false"):
        load_sheets([_sheet(tmp_path, HEADER + GOOD.replace("false", "maybe"))])


def test_bad_model_id(tmp_path):
    with pytest.raises(SheetError, match=r"column 'model'"):
        load_sheets([_sheet(tmp_path, HEADER + GOOD.replace("m1", "a/b"))])


def test_duplicate_ids_across_sheets(tmp_path):
    a = _sheet(tmp_path, HEADER + GOOD, "a.tsv")
    b = _sheet(tmp_path, HEADER + GOOD, "b.tsv")
    with pytest.raises(SheetError, match=r"'m1' appears twice"):
        load_sheets([a, b])
