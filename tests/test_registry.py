"""The one registry shape: name → entry, one lookup that names the known entries and the closest."""

from __future__ import annotations

import subprocess
import sys

import pytest

from filterdb.errors import FilterdbError, SourceError
from filterdb.registry import Registry, suggest


def test_unknown_name_is_the_registrys_error_with_known_names_and_a_suggestion():
    registry = Registry("colour", {"red": 1, "green": 2, "blue": 3}, error=SourceError)
    with pytest.raises(SourceError, match=r"^model 'm': unknown colour 'gren'; known: blue, green, red\. Did you mean green\?$"):
        registry.lookup("gren", where="model 'm'")
    with pytest.raises(SourceError) as caught:
        registry.lookup("zzzzzz")
    assert "Did you mean" not in str(caught.value) and isinstance(caught.value, FilterdbError)
    assert registry.lookup("red") == 1 and registry.check("blue") == "blue"


def test_suggest_orders_by_closeness_and_respects_the_cutoff():
    assert suggest("resnet81", ["resnet18", "vgg11", "resnet101"])[0] == "resnet18"
    assert suggest("xyz", ["resnet18"]) == []
    assert len(suggest("ab", ["abc", "abd", "abe", "abf"], n=2)) == 2


def test_a_path_entry_is_imported_on_lookup_only(tmp_path, monkeypatch):
    (tmp_path / "registry_probe_module.py").write_text("VALUE = 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = Registry("probe", {"attr": "registry_probe_module:VALUE", "module": "registry_probe_module"})
    monkeypatch.delitem(sys.modules, "registry_probe_module", raising=False)
    assert "registry_probe_module" not in sys.modules
    assert registry.lookup("attr") == 42
    assert "registry_probe_module" in sys.modules
    assert registry.lookup("module").VALUE == 42
    assert registry["attr"] == "registry_probe_module:VALUE"  # item access gives the entry unresolved


def test_sources_readers_and_zoo_tables_load_their_modules_lazily():
    code = (
        "import sys\n"
        "from filterdb.sources import SOURCES, get_source\n"
        "from filterdb.readers import READERS\n"
        "from filterdb.zoo.architectures import ARCHITECTURES\n"
        "assert 'timm' in SOURCES and 'onnx' in READERS and 'vgg' in ARCHITECTURES\n"
        "heavy = [m for m in ('torch', 'onnx', 'timm', 'h5py', 'filterdb.sources.timm_source', "
        "'filterdb.readers.onnx') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "get_source('onnx')\n"
        "assert 'filterdb.sources.onnx_file' in sys.modules and 'torch' not in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.parametrize(
    "lookup, error, message",
    [
        ("filterdb.sources:get_source", "SourceError", r"unknown model source 'tim'.*Did you mean timm"),
        ("filterdb.zoo.datasets:get_spec", "DatasetError", r"unknown zoo data set 'fashion-mnsit'.*Did you mean fashion-mnist"),
        ("filterdb.zoo.architectures:check_architecture", "ArchitectureError", r"unknown zoo architecture 'vgj'.*Did you mean vgg"),
    ],
)
def test_each_table_suggests_through_the_registry(lookup, error, message):
    from filterdb.registry import resolve

    function = resolve(lookup)
    name = {"SourceError": "tim", "DatasetError": "fashion-mnsit", "ArchitectureError": "vgj"}[error]
    with pytest.raises(FilterdbError, match=message) as caught:
        function(name)
    assert type(caught.value).__name__ == error


def test_unknown_reader_names_the_model_and_suggests():
    from filterdb import readers

    with pytest.raises(SourceError, match=r"^model 'm': unknown reader 'onxx'; known: .*Did you mean onnx"):
        readers.read("onxx", "m", ["x.onnx"])
