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


def test_hash_and_quote_inside_a_cell_are_data(tmp_path):
    """A cell is literal: '#' is not a comment and '"' does not quote (only a line starting with # is a comment)."""
    header = HEADER.rstrip("\n") + "\tnote\n"
    rows = (
        "# a comment line\n"
        "m1\ttimm\tdata/x.h5#model_id=3\tresnet18\tresnet\tclassification\tnatural\timagenet\tfalse\t0\tsays \"hi\n"
        "\n"
        "m2\ttimm\tresnet18\tresnet18\tresnet\tclassification\tnatural\timagenet\tfalse\t0\tends\"\n"
    )
    loaded = load_sheets([_sheet(tmp_path, header + rows)])
    assert list(loaded) == ["m1", "m2"]
    assert loaded["m1"]["reference"] == "data/x.h5#model_id=3"
    assert loaded["m1"]["note"] == 'says "hi'
    assert loaded["m2"]["_line"] == 5  # the file's own line number, after a comment and a blank line


def test_line_numbers_count_comments_and_blank_lines(tmp_path):
    bad = GOOD.replace("m1", "m2").replace("classification", "")
    with pytest.raises(SheetError, match=r"models.tsv line 5 \(model 'm2'\): 'task' is empty"):
        load_sheets([_sheet(tmp_path, "# comment\n" + HEADER + GOOD + "\n" + bad)])


def test_extra_tab_names_its_line(tmp_path):
    with pytest.raises(SheetError, match=r"models.tsv line 2: 11 tab-separated cells, but the header has 10 columns"):
        load_sheets([_sheet(tmp_path, HEADER + GOOD.rstrip("\n") + "\textra\n")])


def test_empty_sheet(tmp_path):
    with pytest.raises(SheetError, match=r"models.tsv: the sheet is empty"):
        load_sheets([_sheet(tmp_path, "# only a comment\n\n")])


def test_duplicate_ids_name_both_lines(tmp_path):
    with pytest.raises(SheetError, match=r"'m1' appears twice: .*models.tsv line 2 and .*models.tsv line 3"):
        load_sheets([_sheet(tmp_path, HEADER + GOOD + GOOD)])
