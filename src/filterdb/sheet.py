"""The model sheet: TSV rows validated against ``workflow/schemas/models.schema.yaml``.

Errors name the sheet file, the row (line number and model id) and the column.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import yaml

from .errors import SheetError

BOOLEAN_COLUMNS = ("pretrained", "trained", "trust_pickle")
# sources whose models are trained weights unless the row says otherwise (packaged, user
# files, imported databases); timm and torchvision rows are trained when pretrained
IMPORTED_SOURCE = "parquet"  # a filters file that exists already: no fetch, no dump
PACKAGED_SOURCES = ("pypi", "npm", "checkpoint", "onnx", "file", IMPORTED_SOURCE)
INTEGER_COLUMNS = ("seed",)
_TRUE = {"true", "yes", "1", "y"}
_FALSE = {"false", "no", "0", "n"}


def is_trained(row: dict[str, Any]) -> bool:
    """Whether a sheet row's weights were trained: its ``trained`` column where given; a zoo
    row (source train) with epochs > 0; a timm or torchvision row that is pretrained; a
    packaged, user-supplied or imported model."""
    if "trained" in row:
        return bool(row["trained"])
    if row["source"] == "train":
        return int(row.get("epochs", 0) or 0) > 0
    if row["source"] in PACKAGED_SOURCES:
        return True
    return bool(row.get("pretrained", False))


def default_schema_path() -> Path:
    return Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "models.schema.yaml"


def _typed(value: str, column: str, where: str) -> Any:
    text = value.strip()
    if column in BOOLEAN_COLUMNS:
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise SheetError(f"{where}: column {column!r} must be true or false, not {value!r}")
    if column in INTEGER_COLUMNS:
        try:
            return int(text)
        except ValueError:
            raise SheetError(f"{where}: column {column!r} must be an integer, not {value!r}") from None
    return text


def read_tsv(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """(header, [(line number, {column: cell})]) of a TSV file whose cells are literal.

    Only a line that starts with ``#`` is a comment; ``#`` and ``"`` inside a cell are
    data (no quoting, no inline comments). Blank lines are skipped; line numbers are
    the file's own. A row with more cells than the header is an error naming its line.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SheetError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    header: list[str] | None = None
    records = []
    for line, raw in enumerate(text.splitlines(), start=1):
        if raw.startswith("#") or not raw.strip():
            continue
        cells = raw.split("\t")
        if header is None:
            header = [c.strip() for c in cells]
            empty = [i + 1 for i, c in enumerate(header) if not c]
            if empty:
                raise SheetError(f"{path} line {line}: the header has an empty column name (column {empty[0]})")
            twice = sorted({c for c in header if header.count(c) > 1})
            if twice:
                raise SheetError(f"{path} line {line}: the header names column {twice[0]!r} twice")
            continue
        if len(cells) > len(header):
            raise SheetError(
                f"{path} line {line}: {len(cells)} tab-separated cells, but the header has {len(header)} columns"
                " (a stray tab?)"
            )
        records.append((line, dict(zip(header, cells))))
    if header is None:
        raise SheetError(f"{path}: the sheet is empty (no header line)")
    return header, records


def read_sheet(path: str | Path, schema: dict) -> list[dict[str, Any]]:
    """Rows of one TSV sheet as dicts, empty cells left out, typed and validated."""
    path = Path(path)
    if not path.is_file():
        raise SheetError(f"model sheet {str(path)!r} does not exist")
    header, records = read_tsv(path)
    missing = [c for c in schema.get("required", []) if c not in header]
    if missing:
        raise SheetError(f"{path}: the sheet has no column {', '.join(map(repr, missing))}")
    row_errors = _row_validator(schema)
    rows = []
    for line, record in records:
        model = record.get("model") or "?"
        where = f"{path} line {line} (model {model!r})"
        row = {k: _typed(v, k, where) for k, v in record.items() if isinstance(v, str) and v.strip() != ""}
        for error in row_errors(row):
            column = error.path[0] if error.path else None
            if error.validator == "required":
                raise SheetError(f"{where}: {error.message.replace(' is a required property', '')} is empty; required columns: {', '.join(schema['required'])}")
            raise SheetError(f"{where}: column {column!r}: {error.message}")
        row["_sheet"] = str(path)
        row["_line"] = line
        rows.append(row)
    return rows


# the keywords of a row schema whose columns can be checked one at a time
_PER_COLUMN_KEYWORDS = {"$schema", "description", "type", "properties", "required", "additionalProperties"}


def _row_validator(schema: dict):
    """``row -> errors`` of the row schema. Where the schema constrains each column on its
    own (the shipped one does), each distinct (column, value) is checked once: a
    10,000-row sheet repeats most cells, and validating every row whole took ~2 s of each
    workflow start. Any other schema is validated row by row."""
    import jsonschema  # only where a sheet is read: `import filterdb` stays light

    whole = jsonschema.Draft202012Validator(schema)
    if not set(schema) <= _PER_COLUMN_KEYWORDS or schema.get("additionalProperties", True) is not True or schema.get("type", "object") != "object":
        return whole.iter_errors
    columns = {k: jsonschema.Draft202012Validator(v) for k, v in schema.get("properties", {}).items()}
    required = schema.get("required", [])
    seen: dict[tuple[str, type, Any], bool] = {}

    def errors(row: dict):
        if any(column not in row for column in required):
            return whole.iter_errors(row)  # the whole schema's error, worded as before
        for column, value in row.items():
            key = (column, type(value), value)
            valid = seen.get(key)
            if valid is None:
                valid = seen[key] = column not in columns or columns[column].is_valid(value)
            if not valid:
                return whole.iter_errors(row)
        return iter(())

    return errors


def load_sheets(paths: Iterable[str | Path], schema_path: str | Path | None = None) -> dict[str, dict[str, Any]]:
    """All rows of several sheets by model id; ids must be unique across sheets."""
    with open(schema_path or default_schema_path()) as handle:
        schema = yaml.safe_load(handle)
    models: dict[str, dict[str, Any]] = {}
    for path in paths:
        for row in read_sheet(path, schema):
            if row["model"] in models:
                raise SheetError(
                    f"model id {row['model']!r} appears twice: {models[row['model']]['_sheet']} line "
                    f"{models[row['model']]['_line']} and {path} line {row['_line']}"
                )
            models[row["model"]] = row
    return models
