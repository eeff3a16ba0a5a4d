"""The analysis' artifacts between rules: basis, moment sums, coefficient ranges, bin edges,
histograms, figure data and shift matrices. One writer and one reader each.

- ``results/basis/basis.json``: the PCA basis (``write_basis``/``read_basis``);
  ``results/basis/basis_file.json``: a frozen basis with its edges and a sha256
  (``basis_file``/``read_basis_file``).
- ``results/moments/{model}.npz``: moment sums (``save_moments``/``load_moments``).
- ``results/basis/range/{model}.json``: min/max of each coefficient (``write_range``/``read_range``).
- ``results/basis/bin_edges.json``: histogram edges (9, bins + 1) and the range policy
  (``write_bin_edges``/``read_bin_edges``/``read_range_policy``).
- ``results/hist/{model}.parquet``: per-layer coefficient counts (``write_histograms``/
  ``read_histograms``; ``histogram_files`` maps model ids to files).
- ``results/figdata/joint/{model}.parquet``: sparse 2-D counts (``joint_table``/``read_joint``).
- ``results/shift/{axis}.parquet``: the D matrix as a long table (``write_shift``/
  ``read_shift``), with ``{axis}.tsv`` (the matrix, for people) and ``{axis}.groups.tsv``
  (group sizes, ``read_shift_groups``) beside it.
- ``results/buckets/{kind}/{bucket}.tsv``: the files a bucket job wrote, one row per model
  (``write_bucket_index``); the reduce steps take these as inputs.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Iterable

import numpy as np
import pyarrow as pa

from ..errors import DataError, SchemaError
from .files import atomic_path, write_json_atomic, write_text_atomic
from .tables import file_metadata, model_id_of, numpy_array, read_table, write_table

# -- the basis -----------------------------------------------------------------------

BASIS_ARRAYS = ("mean", "components", "explained_variance", "explained_variance_ratio")
BASIS_FILE_FORMAT = "filterdb-basis/1"


def basis_to_json(basis: dict) -> dict:
    return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in basis.items()}


def basis_from_json(data: dict) -> dict:
    """The basis dict of ``basis_to_json``'s output: its arrays as float64, other keys as they are."""
    return {k: (np.asarray(v, dtype=np.float64) if k in BASIS_ARRAYS else v) for k, v in data.items()}


def write_basis(path: str | os.PathLike, basis: dict) -> None:
    """The basis (mean, components, variance, ratio, and facts such as its pool) as JSON."""
    write_json_atomic(path, basis_to_json(basis))


def read_basis(path: str | os.PathLike) -> dict:
    """The basis of ``write_basis``: arrays as float64 (``explained_variance_ratio``: the evr)."""
    with open(path) as handle:
        return basis_from_json(json.load(handle))


def basis_file(basis: dict, edges: np.ndarray, policy) -> dict:
    """A frozen basis, as one versioned JSON artifact: the basis (mean, components, variance,
    ratio, the models it was fitted on, their filter count), the histogram edges and the
    range policy they came from, and a sha256 of all of it (``basis.from`` in the config)."""
    record = {
        "format": BASIS_FILE_FORMAT,
        **basis_to_json({k: v for k, v in basis.items() if k in (*BASIS_ARRAYS, "n_filters", "models")}),
        "range_policy": policy,
        "edges": np.asarray(edges, np.float64).tolist(),
    }
    record["sha256"] = _content_hash(record)
    return record


def _content_hash(record: dict) -> str:
    body = {k: v for k, v in record.items() if k != "sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def read_basis_file(path: str | os.PathLike) -> tuple[dict, np.ndarray, dict]:
    """(basis, edges (9, bins + 1), the file's record) of a ``basis_file`` artifact, checked:
    its format, its arrays' shapes, and its sha256 (an edited file is refused)."""
    where = f"config key basis.from: {path}"
    try:
        with open(path) as handle:
            record = json.load(handle)
    except FileNotFoundError:
        raise DataError(f"{where}: no such file (a results/basis/basis_file.json of an earlier build)") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{where}: not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(record, dict) or record.get("format") != BASIS_FILE_FORMAT:
        raise DataError(f"{where}: not a filterdb basis file (format {BASIS_FILE_FORMAT!r} expected)")
    missing = [k for k in (*BASIS_ARRAYS, "edges", "sha256") if k not in record]
    if missing:
        raise DataError(f"{where}: the basis file has no {', '.join(missing)}")
    if _content_hash(record) != record["sha256"]:
        raise DataError(f"{where}: its content does not match its sha256 (the file was edited or damaged)")
    basis = basis_from_json({k: record[k] for k in (*BASIS_ARRAYS, "n_filters", "models") if k in record})
    edges = np.asarray(record["edges"], np.float64)
    if basis["components"].shape != (9, 9) or basis["mean"].shape != (9,) or edges.ndim != 2 or edges.shape[0] != 9:
        raise DataError(f"{where}: arrays of the wrong shape (components 9×9, mean 9, edges 9×(bins + 1))")
    return basis, edges, record


# -- bucket indexes ------------------------------------------------------------------


def write_bucket_index(path: str | os.PathLike, models: list[str], **files: list[str]) -> None:
    """The files a bucket job wrote for each of its models (``files``: column → one path per
    model), written once they all exist: a reduce step that takes the index as input runs
    after the whole bucket and again whenever the bucket is rewritten."""
    for column, paths in files.items():
        if len(paths) != len(models):
            raise ValueError(f"{path}: {len(paths)} {column} files for {len(models)} models")
        missing = [p for p in paths if not os.path.exists(p)]
        if missing:
            raise DataError(f"{path}: {column} file {missing[0]} was not written")
    rows = ["\t".join(["model", *files])]
    rows += ["\t".join([model, *(paths[i] for paths in files.values())]) for i, model in enumerate(models)]
    write_text_atomic(path, "\n".join(rows) + "\n")


# -- moment sums and coefficient ranges ------------------------------------------------


def save_moments(total: dict, path: str | os.PathLike) -> None:
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, **total)


def load_moments(path: str | os.PathLike) -> dict[str, np.ndarray]:
    with np.load(path) as data:
        return {k: data[k] for k in ("count", "sum", "outer")}


def write_range(path: str | os.PathLike, low: np.ndarray, high: np.ndarray) -> None:
    """One model's (9,) coefficient minima and maxima; a model without filters has an
    empty range (+inf/−inf), written as nulls."""
    as_list = lambda a: [float(v) if abs(v) != float("inf") else None for v in a]  # noqa: E731
    write_json_atomic(path, {"low": as_list(low), "high": as_list(high)})


def read_range(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray] | None:
    """(low (9,), high (9,)) of ``write_range``, or None for a model without filters."""
    with open(path) as handle:
        part = json.load(handle)
    if part["low"][0] is None:
        return None
    return np.asarray(part["low"], np.float64), np.asarray(part["high"], np.float64)


# -- bin edges -----------------------------------------------------------------------


def write_bin_edges(path: str | os.PathLike, edges: np.ndarray, policy) -> None:
    """The histogram edges (9, bins + 1) and the ``shift.range`` policy they came from
    ("paper", "per-coefficient", or "fixed" for a range given in the config)."""
    write_json_atomic(path, {"policy": policy if isinstance(policy, str) else "fixed", "edges": np.asarray(edges, np.float64)})


def read_bin_edges(path: str | os.PathLike) -> np.ndarray:
    """The (9, bins + 1) float64 edges of ``write_bin_edges``."""
    with open(path) as handle:
        return np.asarray(json.load(handle)["edges"], dtype=np.float64)


def read_range_policy(path: str | os.PathLike) -> str:
    """The range policy recorded with the edges ("fixed" when none was)."""
    with open(path) as handle:
        return json.load(handle).get("policy", "fixed")


# -- per-layer histograms ---------------------------------------------------------------


def hist_schema(bins: int) -> pa.Schema:
    """One row per layer: its id, its filter count, and its counts, row-major (9, bins)."""
    return pa.schema(
        [
            pa.field("layer", pa.int32(), nullable=False),
            pa.field("n_filters", pa.int64(), nullable=False),
            pa.field("counts", pa.list_(pa.field("item", pa.int64(), nullable=False), 9 * bins), nullable=False),
        ]
    )


def histograms_table(layers: np.ndarray, sizes: np.ndarray, counts: np.ndarray) -> pa.Table:
    """The histogram table of layer ids (L,), filters per layer (L,) and counts (L, 9, bins)."""
    bins = counts.shape[-1]
    schema = hist_schema(bins)
    flat = numpy_array(np.ascontiguousarray(counts, dtype=np.int64).reshape(-1), np.int64, pa.int64())
    return pa.table(
        [
            numpy_array(np.asarray(layers, np.int32), np.int32, pa.int32()),
            numpy_array(np.asarray(sizes, np.int64), np.int64, pa.int64()),
            pa.FixedSizeListArray.from_arrays(flat, type=schema.field("counts").type),
        ],
        schema=schema,
    )


def write_histograms(path: str | os.PathLike, model: str, layers, sizes, counts) -> None:
    """One model's histogram file (see ``histograms_table``)."""
    write_table(histograms_table(layers, sizes, counts), path, file_metadata(model))


def read_histograms(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(layer ids (L,), counts (L, 9, bins)) of one model's histogram file."""
    table = read_table(path, ["layer", "counts"])
    width = table.schema.field("counts").type.list_size
    if width <= 0 or width % 9:
        raise SchemaError(f"{path}: column 'counts' must be a fixed-size list of 9 × bins values")
    layers = table.column("layer").to_numpy()
    values = table.column("counts").combine_chunks().flatten().to_numpy(zero_copy_only=False)
    return layers.astype(np.int32, copy=False), values.reshape(len(layers), 9, width // 9).astype(np.int64, copy=False)


def histogram_files(paths: Iterable[str | os.PathLike]) -> dict[str, str]:
    """Model id → histogram file, the id read from each file's metadata (the file's stem
    where it has none). Two files of one model are a DataError naming both."""
    files: dict[str, str] = {}
    for path in paths:
        model = model_id_of(path, default=Path(path).stem)
        if model in files:
            raise DataError(f"{files[model]} and {path}: two histogram files of model {model!r}")
        files[model] = str(path)
    return files


# -- figure data -----------------------------------------------------------------------

JOINT_SCHEMA = pa.schema([("i", pa.int32()), ("j", pa.int32()), ("count", pa.int64())])


def joint_table(counts: np.ndarray) -> pa.Table:
    """(bins, bins) counts of a coefficient pair as sparse (i, j, count) rows."""
    i, j = np.nonzero(counts)
    return pa.table([pa.array(i, pa.int32()), pa.array(j, pa.int32()), pa.array(counts[i, j], pa.int64())],
                    schema=JOINT_SCHEMA)  # fmt: skip


def read_joint(path: str | os.PathLike, bins: int) -> np.ndarray:
    """The (bins, bins) counts of a ``joint_table`` file."""
    table = read_table(path, ["i", "j", "count"])
    counts = np.zeros((bins, bins), np.int64)
    np.add.at(counts, (table.column("i").to_numpy(), table.column("j").to_numpy()), table.column("count").to_numpy())
    return counts


# -- shift matrices --------------------------------------------------------------------

SHIFT_SCHEMA = pa.schema([("group_a", pa.string()), ("group_b", pa.string()), ("d", pa.float64())])


def shift_table(matrix) -> pa.Table:
    """The D matrix (groups × groups DataFrame) as a long table: one row per ordered pair
    (group_a, group_b, d), float64, in the matrix's order."""
    names = [str(n) for n in matrix.index]
    a = np.repeat(names, len(names)).tolist()
    b = np.tile(names, len(names)).tolist()
    return pa.table(
        [pa.array(a, pa.string()), pa.array(b, pa.string()),
         pa.array(matrix.to_numpy(dtype=np.float64).reshape(-1), pa.float64())],
        schema=SHIFT_SCHEMA,
    )  # fmt: skip


def write_shift(
    path: str | os.PathLike, matrix, groups=None, *, tsv: str | os.PathLike | None = None,
    groups_tsv: str | os.PathLike | None = None,
) -> None:
    """One axis's D matrix: the Parquet table (full precision, what readers read), and for
    people the matrix as TSV (``tsv``, 6 significant digits) and the group sizes
    (``groups_tsv``: group, models, layers, filters, status)."""
    write_table(shift_table(matrix), path, file_metadata())
    if tsv is not None:
        write_text_atomic(tsv, matrix.to_csv(sep="\t", float_format="%.6g"))
    if groups_tsv is not None:
        write_text_atomic(groups_tsv, groups.to_csv(sep="\t", index=False))


def read_shift(path: str | os.PathLike):
    """The D matrix (groups × groups DataFrame, group names as text) of a ``write_shift`` file."""
    frame = read_table(path, ["group_a", "group_b", "d"]).to_pandas()
    names = list(dict.fromkeys(frame["group_a"]))
    matrix = frame.pivot(index="group_a", columns="group_b", values="d")
    return matrix.loc[names, names].rename_axis(index=None, columns=None)


def read_shift_groups(path: str | os.PathLike):
    """The group sizes written beside a shift matrix (group names as text: the group of
    missing values, "NA", stays "NA")."""
    import pandas as pd  # here, not at import: per-model jobs never need it

    return pd.read_csv(path, sep="\t", dtype={"group": str}, keep_default_na=False)
