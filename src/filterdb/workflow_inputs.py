"""What the workflow checks before it plans a job: the config and the sheets' sources.

The config is checked against ``workflow/schemas/config.schema.yaml``. Every block of
the schema lists its keys (``additionalProperties: false``), so a misspelled key is an
error with a "did you mean", never a silently used default. Errors name the dotted
config key (``shift.bins``) and what was wrong with it.
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any, Mapping

import yaml

from .errors import ConfigError
from .registry import suggest


def _dotted(path) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def _schema_at(schema: Mapping, path) -> Mapping:
    """The sub-schema that describes the value at ``path`` (properties and additionalProperties)."""
    node = schema
    for key in path:
        props = node.get("properties", {})
        if key in props:
            node = props[key]
        elif isinstance(node.get("additionalProperties"), Mapping):
            node = node["additionalProperties"]
        else:
            return {}
    return node


def _message(error, schema: Mapping) -> str:
    where = list(error.absolute_path)
    if error.validator == "additionalProperties" and error.validator_value is False:
        known = sorted(_schema_at(schema, where).get("properties", {}))
        unknown = sorted(set(error.instance) - set(known))
        parts = []
        for key in unknown:
            close = suggest(key.replace("-", "_"), known, n=1)
            hint = f"; did you mean {_dotted(where + [close[0]])!r}?" if close else ""
            parts.append(f"config key {_dotted(where + [key])!r} is not known{hint}")
        return f"{'; '.join(parts)} (keys of {_dotted(where)}: {', '.join(known)})"
    if "propertyNames" in error.schema_path:  # a name chosen by the user: an axis, a comparison
        return (
            f"config key {_dotted(where + [error.instance])!r}: {error.instance!r} is not a valid name; "
            "use letters, digits and _.+-, starting with a letter or digit (it becomes part of file names)"
        )
    return f"config key {_dotted(where)!r}: {error.message}"


def check_config(config: Mapping[str, Any], schema_path: str | Path) -> None:
    """Raise ConfigError naming the first wrong key of ``config`` (unknown, mistyped, missing)."""
    import jsonschema

    with open(schema_path) as handle:
        schema = yaml.safe_load(handle)
    validator = jsonschema.Draft202012Validator(schema)
    # outermost first; at one level an unknown key first (it explains a missing one)
    errors = sorted(
        validator.iter_errors(dict(config)),
        key=lambda e: (len(e.absolute_path), e.validator != "additionalProperties", list(map(str, e.absolute_path))),
    )
    if errors:
        raise ConfigError(_message(errors[0], schema))


def check_sources(rows: Mapping[str, Mapping[str, Any]]) -> None:
    """Every sheet row names a known source; a ConfigError naming sheet, line, model and column.

    The source modules are not imported (a dry run needs Snakemake alone), only their names.
    """
    from .sheet import IMPORTED_SOURCE
    from .sources import SOURCES

    known = sorted([*SOURCES, IMPORTED_SOURCE])
    for model, row in rows.items():
        source = row.get("source")
        if source in known:
            continue
        close = suggest(source, known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(
            f"{row.get('_sheet', 'sheet')} line {row.get('_line', '?')} (model {model!r}): column 'source': "
            f"unknown model source {source!r}{hint} (known: {', '.join(known)})"
        )


def model_id_pattern(schema_path: str | Path) -> str:
    """The sheet schema's model-id pattern without its anchors (a wildcard constraint)."""
    with open(schema_path) as handle:
        pattern = yaml.safe_load(handle)["properties"]["model"]["pattern"]
    return pattern.removeprefix("^").removesuffix("$")


def sheet_row(rows: Mapping[str, Mapping[str, Any]], model: str, sheets) -> Mapping[str, Any]:
    """``rows[model]``, or a ConfigError naming the model and the sheets that do not list it."""
    try:
        return rows[model]
    except KeyError:
        close = suggest(model, rows, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(
            f"model {model!r} is in no sheet of config key 'sheets' ({', '.join(map(str, sheets))}){hint}"
        ) from None


# Steps that cost a model less than a process start (its card; with the database's own basis,
# its range and histogram passes) run for a bucket of models per job: a job costs Snakemake
# ~5 ms to plan (10,000 models: 50 s a step) and a process ~1-2 s of imports.
MODEL_BUCKETS = 32


def model_bucket(model: str, n: int = MODEL_BUCKETS) -> str:
    """The bucket ("00"…) of a model id: a hash of the id, so adding or removing a sheet row
    changes the members of one bucket only."""
    return f"{zlib.crc32(model.encode()) % n:02d}"


def model_buckets(models, n: int = MODEL_BUCKETS) -> dict[str, list[str]]:
    """{bucket: its models, in the order given}, by :func:`model_bucket`; empty buckets left out."""
    members: dict[str, list[str]] = {}
    for model in models:
        members.setdefault(model_bucket(model, n), []).append(model)
    return dict(sorted(members.items()))
