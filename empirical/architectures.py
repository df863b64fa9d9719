"""VGG-BN and ResNet architectures with torchvision's exact state-dict layout, written in-house.

torchvision cannot be installed on these machines, yet the BN-bias audit (paper Sec. 4.1, Fig. 6
and Fig. 16) needs torchvision's ImageNet weight files. The classes below reproduce torchvision's
module tree (names, registration order, shapes), so an official ``vgg19_bn-*.pth`` or
``resnet18-*.pth`` loads into them with ``load_state_dict(strict=True)``:

* VGG: ``features.N`` (Conv2d 3x3 pad 1 -> BatchNorm2d -> ReLU, ``"M"`` = MaxPool2d 2x2),
  ``avgpool`` (adaptive 7x7), ``classifier.{0,3,6}`` (Linear 25088->4096->4096->classes).
* ResNet (v1.5, stride on the 3x3 conv): ``conv1``, ``bn1``, ``layerK.i.{conv,bn}{1,2[,3]}``,
  ``layerK.0.downsample.{0,1}`` (1x1 conv + BN), ``fc``.

Module registration order equals torchvision's, so ``named_modules()`` lists the BatchNorm layers
in the order the authors' ``check_models.py`` and the published per-layer numbers use.

``vgg_digits_bn`` is luckbench's own small VGG-style BN net (not a torchvision model) for the
shipped 8x8 handwritten-digits data: the same Conv-BN-ReLU blocks, trainable in seconds on a CPU.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from luckbench.errors import InputError

# torchvision's VGG configurations: channel widths, "M" = 2x2 max-pool.
VGG_CFGS: dict[str, tuple] = {
    "vgg11_bn": (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "vgg13_bn": (64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "vgg16_bn": (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
                 512, 512, 512, "M"),
    "vgg19_bn": (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
                 512, 512, 512, 512, "M"),
}
# luckbench's digits net: 8x8 input -> 4x4 -> 2x2 -> 1x1.
DIGITS_CFG: tuple = (32, 32, "M", 64, 64, "M", 128, 128, "M")


def make_vgg_features(cfg: tuple, in_channels: int = 3) -> nn.Sequential:
    """Conv3x3(pad 1, with bias) -> BatchNorm2d -> ReLU per width, MaxPool2d(2, 2) per "M"."""
    layers: list[nn.Module] = []
    for item in cfg:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        layers += [nn.Conv2d(in_channels, item, kernel_size=3, padding=1),
                   nn.BatchNorm2d(item), nn.ReLU(inplace=True)]
        in_channels = item
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """``features`` -> adaptive average pool -> flatten -> ``classifier`` (torchvision's VGG)."""

    def __init__(self, features: nn.Sequential, classifier: nn.Sequential, pool: int) -> None:
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((pool, pool))
        self.classifier = classifier
        self._init_weights()

    def _init_weights(self) -> None:
        """torchvision's init: conv Kaiming-normal (fan_out), BN weight 1 / bias 0, linear N(0, 0.01)."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


def _imagenet_vgg(name: str, num_classes: int = 1000, dropout: float = 0.5) -> VGG:
    classifier = nn.Sequential(
        nn.Linear(512 * 7 * 7, 4096), nn.ReLU(inplace=True), nn.Dropout(p=dropout),
        nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Dropout(p=dropout),
        nn.Linear(4096, num_classes),
    )
    return VGG(make_vgg_features(VGG_CFGS[name]), classifier, pool=7)


def vgg11_bn(num_classes: int = 1000) -> VGG:
    """torchvision ``vgg11_bn`` (configuration A): 8 BN layers, 2,752 BN channels."""
    return _imagenet_vgg("vgg11_bn", num_classes)


def vgg13_bn(num_classes: int = 1000) -> VGG:
    """torchvision ``vgg13_bn`` (configuration B): 10 BN layers, 2,944 BN channels."""
    return _imagenet_vgg("vgg13_bn", num_classes)


def vgg16_bn(num_classes: int = 1000) -> VGG:
    """torchvision ``vgg16_bn`` (configuration D): 13 BN layers, 4,224 BN channels."""
    return _imagenet_vgg("vgg16_bn", num_classes)


def vgg19_bn(num_classes: int = 1000) -> VGG:
    """torchvision ``vgg19_bn`` (configuration E): 16 BN layers, 5,504 BN channels."""
    return _imagenet_vgg("vgg19_bn", num_classes)


def vgg_digits_bn(num_classes: int = 10, in_channels: int = 1) -> VGG:
    """luckbench's small VGG-BN for 1x8x8 digits: widths 32,32,M,64,64,M,128,128,M, then one Linear.

    Six Conv-BN-ReLU blocks (448 BN channels), global average pool, ``classifier.0`` =
    Linear(128, classes). Same key scheme as torchvision's VGG (``features.N``, ``classifier.N``).
    """
    classifier = nn.Sequential(nn.Linear(DIGITS_CFG[-2], num_classes))
    return VGG(make_vgg_features(DIGITS_CFG, in_channels), classifier, pool=1)


def _conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel_size=3, stride=stride, padding=1, bias=False)


def _conv1x1(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """out = relu(bn2(conv2(relu(bn1(conv1 x)))) + shortcut x); ResNet-18/34 block."""

    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = _conv3x3(cin, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


class Bottleneck(nn.Module):
    """1x1 -> 3x3 (carries the stride: ResNet v1.5) -> 1x1 expanding by 4; ResNet-50/101 block."""

    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = _conv1x1(cin, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = _conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + identity)


class ResNet(nn.Module):
    """torchvision's ResNet: 7x7/2 stem, max-pool, four stages of ``blocks`` blocks, pool, ``fc``."""

    def __init__(self, block: type, blocks: tuple[int, int, int, int], num_classes: int = 1000) -> None:
        super().__init__()
        self._cin = 64
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._stage(block, 64, blocks[0], stride=1)
        self.layer2 = self._stage(block, 128, blocks[1], stride=2)
        self.layer3 = self._stage(block, 256, blocks[2], stride=2)
        self.layer4 = self._stage(block, 512, blocks[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _stage(self, block: type, planes: int, n: int, stride: int) -> nn.Sequential:
        cout = planes * block.expansion
        downsample = None
        if stride != 1 or self._cin != cout:
            downsample = nn.Sequential(_conv1x1(self._cin, cout, stride), nn.BatchNorm2d(cout))
        layers = [block(self._cin, planes, stride, downsample)]
        self._cin = cout
        layers += [block(cout, planes) for _ in range(1, n)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resnet18(num_classes: int = 1000) -> ResNet:
    """torchvision ``resnet18``: BasicBlock x (2, 2, 2, 2), 20 BN layers."""
    return ResNet(BasicBlock, (2, 2, 2, 2), num_classes)


def resnet34(num_classes: int = 1000) -> ResNet:
    """torchvision ``resnet34``: BasicBlock x (3, 4, 6, 3)."""
    return ResNet(BasicBlock, (3, 4, 6, 3), num_classes)


def resnet50(num_classes: int = 1000) -> ResNet:
    """torchvision ``resnet50``: Bottleneck x (3, 4, 6, 3)."""
    return ResNet(Bottleneck, (3, 4, 6, 3), num_classes)


def resnet101(num_classes: int = 1000) -> ResNet:
    """torchvision ``resnet101``: Bottleneck x (3, 4, 23, 3)."""
    return ResNet(Bottleneck, (3, 4, 23, 3), num_classes)


ARCHS: dict[str, Callable[[], nn.Module]] = {
    "vgg11_bn": vgg11_bn, "vgg13_bn": vgg13_bn, "vgg16_bn": vgg16_bn, "vgg19_bn": vgg19_bn,
    "resnet18": resnet18, "resnet34": resnet34, "resnet50": resnet50, "resnet101": resnet101,
    "vgg_digits_bn": vgg_digits_bn,
}


def build(arch: str, device: str | torch.device = "cpu") -> nn.Module:
    """The architecture ``arch`` (a key of ``ARCHS``) with its default head, on ``device``.

    ``device="meta"`` allocates nothing: use it to inspect keys and shapes, or as the target of
    ``load_state_dict(..., assign=True)``.
    """
    if arch not in ARCHS:
        raise InputError(f"--arch: unknown architecture {arch!r} (choose from {', '.join(ARCHS)})")
    with torch.device(device):
        return ARCHS[arch]()


def bn_layers(model: nn.Module) -> list[tuple[str, nn.modules.batchnorm._BatchNorm]]:
    """(module name, BatchNorm module) for every BatchNorm layer, in module-registration order."""
    return [(name, m) for name, m in model.named_modules()
            if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def residual_bn_names(model: nn.Module) -> set[str]:
    """BN layers whose output is added to a shortcut before the ReLU (so it gates no ReLU by itself).

    These are each ResNet block's last BN (``bn2`` of a BasicBlock, ``bn3`` of a Bottleneck) and
    the shortcut's BN (``downsample.1``). Every other BN here feeds a ReLU directly.
    """
    names: set[str] = set()
    for name, m in model.named_modules():
        last = {BasicBlock: "bn2", Bottleneck: "bn3"}.get(type(m))
        if last is not None:
            names.add(f"{name}.{last}")
            if m.downsample is not None:
                names.add(f"{name}.downsample.1")
    return names
