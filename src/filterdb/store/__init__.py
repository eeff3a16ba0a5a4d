"""The store: every artifact's schema and its reads and writes, in one place.

- ``files``: atomic writes of any output (``atomic_path``, text, JSON) and checksums;
- ``tables``: the Parquet contract (schema version 1, metadata, writer options), the
  model and layer tables, ``model_id_of``;
- ``filters``: filters files (schema, write, checked streaming read);
- ``artifacts``: basis, moment sums, ranges, bin edges, histograms, figure data, shift.

The errors of the contract (``SchemaError``, ``DataError``, ``WriteError``) live in
``filterdb.errors`` and are re-exported here. The store imports nothing of the analysis.
"""

from ..errors import DataError, SchemaError, WriteError
from .artifacts import (
    BASIS_ARRAYS,
    BASIS_FILE_FORMAT,
    JOINT_SCHEMA,
    SHIFT_SCHEMA,
    basis_file,
    basis_from_json,
    basis_to_json,
    hist_schema,
    histogram_files,
    histograms_table,
    joint_table,
    load_moments,
    read_basis,
    read_basis_file,
    read_bin_edges,
    read_histograms,
    read_joint,
    read_range,
    read_range_policy,
    read_shift,
    read_shift_groups,
    save_moments,
    shift_table,
    write_basis,
    write_bin_edges,
    write_bucket_index,
    write_histograms,
    write_range,
    write_shift,
)
from .files import atomic_path, json_default, sha256_of, write_error, write_json_atomic, write_text_atomic
from .filters import (
    FILTER_SCHEMA,
    FiltersDigest,
    check_finite_kernels,
    check_layer_facts,
    filters_metadata,
    filters_table,
    iter_layer_kernels,
    open_filters,
)
from .tables import (
    LAYER_COLUMNS,
    LAYER_DTYPES,
    LAYER_SCHEMA,
    LAYERS_KEY,
    MODEL_COLUMNS,
    MODEL_INFO_KEY,
    MODEL_KEY,
    ROW_GROUP_SIZE,
    SCHEMA_KEY,
    SCHEMA_VERSION,
    arrow_column,
    check_version,
    column_numpy,
    compression_for,
    concat_layer_tables,
    file_metadata,
    json_meta,
    model_id_of,
    numpy_array,
    primitive_values,
    read_frame,
    read_layers,
    read_models,
    read_schema,
    read_table,
    write_frame,
    write_stream,
    write_table,
    writer_options,
)

__all__ = [name for name in dir() if not name.startswith("_") and name not in ("artifacts", "files", "filters", "tables")]
