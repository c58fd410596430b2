"""The profiles' networks: a narrow ResNet-18 written out in plain PyTorch (torchvision is not
installable beside the CPU torch), the default, and a small CNN for fast builds. Both map (N, 3, H, W) to 2 logits in
CLASS_ORDER ("hacker", "normal")."""

from __future__ import annotations

import torch
from torch import nn

ARCHITECTURES = ("resnet18_narrow", "small_cnn")


class BasicBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class ResNet18(nn.Module):
    """He et al. 2015, 18 layers: [2, 2, 2, 2] basic blocks of `width` to 8 x `width` channels.

    `width` 8 keeps the 18-layer topology at an eighth of the paper's 64 channels: a chart is a few
    dozen dots on white, and the stride-4 stem lets it read the full 250 x 150 image on a CPU."""

    def __init__(self, num_classes: int = 2, width: int = 64):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, width, 7, 2, 3, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, 1),
        )
        layers, channels = [], width
        for out_channels, stride in ((width, 1), (2 * width, 2), (4 * width, 2), (8 * width, 2)):
            layers += [BasicBlock(channels, out_channels, stride), BasicBlock(out_channels, out_channels)]
            channels = out_channels
        self.layers = nn.Sequential(*layers)
        self.head = nn.Linear(8 * width, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.layers(self.stem(x)).mean(dim=(2, 3)))


class SmallCNN(nn.Module):
    """~60k parameters: a stride-2 stem (a 3 x 3 convolution at full input size costs most of the
    time on a CPU), four conv blocks with max pooling, then average- and max-pooled features."""

    def __init__(self, num_classes: int = 2):
        super().__init__()
        blocks: list[nn.Module] = [
            nn.Conv2d(3, 16, 3, 2, 1, bias=False),
            nn.BatchNorm2d(16),
            nn.ReLU(inplace=True),
        ]
        channels = 16
        for out_channels in (16, 32, 64, 64):
            blocks += [
                nn.Conv2d(channels, out_channels, 3, 1, 1, bias=False),
                nn.BatchNorm2d(out_channels),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ]
            channels = out_channels
        self.features = nn.Sequential(*blocks)
        self.head = nn.Linear(2 * channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.features(x)
        pooled = torch.cat([features.mean(dim=(2, 3)), features.amax(dim=(2, 3))], dim=1)
        return self.head(pooled)


def build_model(architecture: str, num_classes: int = 2) -> nn.Module:
    if architecture == "resnet18_narrow":
        return ResNet18(num_classes, width=8)
    if architecture == "small_cnn":
        return SmallCNN(num_classes)
    raise ValueError(f"architecture must be one of {ARCHITECTURES}, got {architecture!r}")


class WithSoftmax(nn.Module):
    """What is exported: the network plus softmax, so the artifact answers probabilities."""

    def __init__(self, network: nn.Module):
        super().__init__()
        self.network = network

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.network(x), dim=1)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
