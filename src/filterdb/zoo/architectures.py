"""The zoo's architectures: one registry of constructors for small-input CNNs.

Every constructor takes the same arguments, so that one axis (width, depth, task) can
be varied with the others held fixed:

``build(name, width=1, depth=4, in_channels=1, n_classes=10, image_size=28, task="classification")``

- ``vgg``: plain 3×3 conv-BN-ReLU stacks with max pooling; ``depth`` 3×3 convs,
  8·width channels in the first stage, doubled at each of up to three poolings.
- ``resnet``: timm's ``ResNet`` with basic blocks, adapted to small inputs (3×3
  stride-1 stem, no stem max pool); ``depth`` residual blocks spread over up to four
  stages of 8·width … 64·width channels.
- ``mobilenet``: a 3×3 stem conv, then ``depth`` depthwise-separable blocks (3×3
  depthwise + 1×1 pointwise), MobileNet-v1 style.

``task="denoising"`` keeps the same encoder and adds a decoder (nearest upsampling +
3×3 convs) back to the input resolution, so the model is a denoising auto-encoder of
the same family. Input (B, in_channels, image_size, image_size); output (B, n_classes)
for classification, (B, in_channels, image_size, image_size) for denoising.
"""

from __future__ import annotations

from ..errors import FilterdbError
from ..registry import Registry

BASE_CHANNELS = 8  # first-stage channels at width 1: small enough for a 2-core CPU
TASKS = ("classification", "denoising")


class ArchitectureError(FilterdbError, ValueError):
    """An architecture cannot be built; the message says which setting to change."""


def _channels(width: float, multiplier: int, what: str) -> int:
    channels = int(round(BASE_CHANNELS * multiplier * float(width)))
    if channels < 1:
        raise ArchitectureError(
            f"width {width} gives {channels} channels in {what}: the model would have no "
            f"3×3 convolution; use a width of at least {1 / (BASE_CHANNELS * multiplier):g}"
        )
    return channels


def _stage_plan(depth: int, stages: int) -> list[int]:
    """How many of ``depth`` layers go into each of at most ``stages`` stages.

    Extra layers go to the later, smaller-resolution stages, where they cost least.
    """
    stages = max(1, min(stages, depth))
    base, extra = divmod(depth, stages)
    return [base + (1 if i >= stages - extra else 0) for i in range(stages)]


def _pool_stages(image_size: int, wanted: int) -> int:
    """Number of exact 2× downsamplings (at most ``wanted``) that keep the map at least 2×2.

    Exact halvings (28 → 14 → 7) let a decoder upsample back to the input size.
    """
    count, size = 0, int(image_size)
    while count < wanted and size % 2 == 0 and size // 2 >= 2:
        size //= 2
        count += 1
    return count


def _conv_bn_relu(nn, cin: int, cout: int, groups: int = 1, kernel: int = 3):
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, padding=kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


def _vgg_encoder(width: float, depth: int, in_channels: int, image_size: int):
    """VGG feature extractor and its (channels, downsamplings)."""
    import torch.nn as nn

    n_pools = _pool_stages(image_size, 3)
    plan = _stage_plan(depth, n_pools + 1)
    layers: list = []
    cin = in_channels
    for stage, count in enumerate(plan):
        cout = _channels(width, 2**stage, f"vgg stage {stage}")
        for _ in range(count):
            layers.append(_conv_bn_relu(nn, cin, cout))
            cin = cout
        if stage < len(plan) - 1:
            layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers), cin, len(plan) - 1


def _mobilenet_encoder(width: float, depth: int, in_channels: int, image_size: int):
    import torch.nn as nn

    n_pools = _pool_stages(image_size, 3)
    stem = _channels(width, 1, "mobilenet stem")
    layers: list = [_conv_bn_relu(nn, in_channels, stem)]
    plan = _stage_plan(depth, n_pools + 1) if depth > 0 else []
    cin = stem
    for stage, count in enumerate(plan):
        cout = _channels(width, 2**stage, f"mobilenet stage {stage}")
        for block in range(count):
            # the first block of a later stage downsamples with a stride-2 depthwise conv
            stride = 2 if stage > 0 and block == 0 else 1
            layers.append(
                nn.Sequential(
                    nn.Conv2d(cin, cin, 3, stride=stride, padding=1, groups=cin, bias=False),
                    nn.BatchNorm2d(cin),
                    nn.ReLU(inplace=True),
                    nn.Conv2d(cin, cout, 1, bias=False),
                    nn.BatchNorm2d(cout),
                    nn.ReLU(inplace=True),
                )
            )
            cin = cout
    return nn.Sequential(*layers), cin, max(len(plan) - 1, 0)


def _resnet_classifier(width: float, depth: int, in_channels: int, n_classes: int, image_size: int):
    import torch.nn as nn
    from timm.models.resnet import BasicBlock, ResNet

    if depth < 4:  # timm's ResNet.forward runs layer1 … layer4
        raise ArchitectureError(f"resnet depth {depth}: timm's ResNet needs at least 4 blocks, one per stage")
    plan = _stage_plan(depth, 4)
    channels = tuple(_channels(width, 2**i, f"resnet stage {i}") for i in range(len(plan)))
    # timm sizes the stem (and bn1) to 2 × stem_width only for its "deep" stem, which is
    # then replaced by one 3×3 stride-1 conv for small inputs, without a stem max pool
    stem_width = (channels[0] + 1) // 2
    model = ResNet(
        BasicBlock, tuple(plan), num_classes=n_classes, in_chans=in_channels,
        channels=channels, stem_width=stem_width, stem_type="deep",
    )  # fmt: skip
    model.conv1 = nn.Conv2d(in_channels, 2 * stem_width, 3, padding=1, bias=False)
    model.maxpool = nn.Identity()
    return model, channels[-1], len(plan) - 1


def _decoder(encoder_channels: int, out_channels: int, downsamplings: int, width: float, image_size: int):
    """Upsample back to the input size: per downsampling, nearest upsampling to the size of
    the matching encoder level (ceil-halving, as stride-2 convs give) + 3×3 conv-BN-ReLU."""
    import torch.nn as nn

    sizes = [int(image_size)]
    for _ in range(downsamplings):
        sizes.append((sizes[-1] + 1) // 2)
    layers: list = []
    cin = encoder_channels
    for i in reversed(range(downsamplings)):
        cout = _channels(width, 2**i, f"decoder stage {i}")
        layers += [nn.Upsample(size=(sizes[i], sizes[i]), mode="nearest"), _conv_bn_relu(nn, cin, cout)]
        cin = cout
    layers.append(nn.Conv2d(cin, out_channels, 3, padding=1))
    return nn.Sequential(*layers)


def _head(channels: int, n_classes: int):
    import torch.nn as nn

    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, n_classes))


def _vgg(width, depth, in_channels, n_classes, image_size, task):
    import torch.nn as nn

    if depth < 1:
        raise ArchitectureError(f"vgg depth {depth}: the model would have no 3×3 convolution")
    encoder, channels, downs = _vgg_encoder(width, depth, in_channels, image_size)
    if task == "denoising":
        return nn.Sequential(encoder, _decoder(channels, in_channels, downs, width, image_size))
    return nn.Sequential(encoder, _head(channels, n_classes))


def _mobilenet(width, depth, in_channels, n_classes, image_size, task):
    import torch.nn as nn

    encoder, channels, downs = _mobilenet_encoder(width, depth, in_channels, image_size)
    if task == "denoising":
        return nn.Sequential(encoder, _decoder(channels, in_channels, downs, width, image_size))
    return nn.Sequential(encoder, _head(channels, n_classes))


def _resnet(width, depth, in_channels, n_classes, image_size, task):
    import torch.nn as nn

    model, channels, downs = _resnet_classifier(width, depth, in_channels, n_classes, image_size)
    if task == "denoising":
        model.reset_classifier(0, global_pool="")  # keep the spatial feature map
        return nn.Sequential(model, _decoder(channels, in_channels, downs, width, image_size))
    return model


# name: (family, constructor)
ARCHITECTURES = Registry("zoo architecture", {
    "vgg": ("VGG", _vgg),
    "resnet": ("ResNet", _resnet),
    "mobilenet": ("MobileNet", _mobilenet),
}, error=ArchitectureError)  # fmt: skip


def family(name: str) -> str:
    return ARCHITECTURES[check_architecture(name)][0]


def check_architecture(name: str) -> str:
    """``name`` if it is a zoo architecture, else an ArchitectureError naming the known ones and the closest."""
    return ARCHITECTURES.check(name)


def check(name: str, width: float = 1, depth: int = 4, image_size: int = 28, task: str = "classification") -> None:
    """Raise ArchitectureError for settings that cannot give a model with a 3×3 conv, without torch.

    Mirrors the constructors' channel and stage arithmetic, so a bad sheet row fails
    when the workflow is parsed (dry run) rather than in a training job.
    """
    name = check_architecture(name)
    if task not in TASKS:
        raise ArchitectureError(f"unknown zoo task {task!r}; known: {', '.join(TASKS)}")
    if not float(width) > 0:
        raise ArchitectureError(f"width {width} must be positive: the model would have no 3×3 convolution")
    depth = int(depth)
    if name == "vgg" and depth < 1:
        raise ArchitectureError(f"vgg depth {depth}: the model would have no 3×3 convolution")
    if name == "resnet" and depth < 4:
        raise ArchitectureError(f"resnet depth {depth}: timm's ResNet needs at least 4 blocks, one per stage")
    if name == "mobilenet":
        _channels(width, 1, "mobilenet stem")
    stages = 4 if name == "resnet" else _pool_stages(image_size, 3) + 1
    for stage in range(len(_stage_plan(depth, stages)) if depth > 0 else 0):
        _channels(width, 2**stage, f"{name} stage {stage}")


def build(
    name: str,
    width: float = 1,
    depth: int = 4,
    in_channels: int = 1,
    n_classes: int = 10,
    image_size: int = 28,
    task: str = "classification",
):
    """A freshly initialised torch module (uses torch's global RNG: seed it first)."""
    import torch.nn as nn

    check(name, width, depth, image_size, task)
    constructor = ARCHITECTURES[name][1]
    model = constructor(float(width), int(depth), int(in_channels), int(n_classes), int(image_size), task)
    n_3x3 = sum(
        1 for m in model.modules() if isinstance(m, nn.Conv2d) and tuple(m.kernel_size) == (3, 3)
    )
    if n_3x3 == 0:
        raise ArchitectureError(
            f"{name} with width {width} and depth {depth} has no 3×3 convolution; increase depth"
        )
    return model
