"""Zoo architectures: shapes for every task and input size, and clear errors."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from filterdb.zoo.architectures import ArchitectureError, build, check  # noqa: E402


@pytest.mark.parametrize("name", ["vgg", "resnet", "mobilenet"])
@pytest.mark.parametrize("size,channels", [(8, 1), (28, 1), (32, 3)])
def test_forward_shapes(name, size, channels):
    torch.manual_seed(0)
    classifier = build(name, width=1, depth=4, in_channels=channels, n_classes=7, image_size=size)
    autoencoder = build(name, width=1, depth=4, in_channels=channels, image_size=size, task="denoising")
    x = torch.zeros(2, channels, size, size)
    assert classifier.eval()(x).shape == (2, 7)
    assert autoencoder.eval()(x).shape == x.shape


def test_width_scales_channels():
    narrow = build("vgg", width=1)
    wide = build("vgg", width=8)
    out = lambda m: [c.out_channels for c in m.modules() if isinstance(c, torch.nn.Conv2d)]  # noqa: E731
    assert [8 * c for c in out(narrow)] == out(wide)


def test_mobilenet_has_depthwise_3x3():
    model = build("mobilenet", depth=3)
    depthwise = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.groups > 1]
    assert len(depthwise) == 3 and all(m.kernel_size == (3, 3) and m.groups == m.in_channels for m in depthwise)


def test_unknown_architecture_and_task():
    with pytest.raises(ArchitectureError, match="unknown zoo architecture 'vgg16'.*vgg"):
        build("vgg16")
    with pytest.raises(ArchitectureError, match="unknown zoo task"):
        build("vgg", task="segmentation")


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"name": "vgg", "depth": 0}, "no 3×3 convolution"),
        ({"name": "vgg", "width": 0.01}, "no 3×3 convolution"),
        ({"name": "vgg", "width": 0}, "no 3×3 convolution"),
        ({"name": "mobilenet", "width": 0.05}, "no 3×3 convolution"),
        ({"name": "resnet", "depth": 2}, "at least 4 blocks"),
    ],
)
def test_settings_without_a_3x3_conv_are_refused(kwargs, message):
    with pytest.raises(ArchitectureError, match=message):
        check(**kwargs)
    with pytest.raises(ArchitectureError, match=message):
        build(**kwargs)


@pytest.mark.parametrize("name", ["vgg", "resnet", "mobilenet"])
@pytest.mark.parametrize("width", [0.125, 0.25, 0.5, 1, 3])
def test_check_agrees_with_build(name, width):
    for depth in (1, 4, 7):
        try:
            check(name, width, depth)
            ok = True
        except ArchitectureError:
            ok = False
        try:
            build(name, width, depth)
            built = True
        except ArchitectureError:
            built = False
        assert ok == built, (name, width, depth)
