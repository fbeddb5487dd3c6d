"""Convolutional networks for MNIST: a VGG-style net with BatchNorm and a small ResNet.

Both are plain ``nn.Module``s with the submodule names of torchvision's VGG and ResNet, so that
site discovery, Torch-Pruning and hand-declared sites see familiar shapes. Inputs are MNIST
images ``(batch, 1, 28, 28)`` with pixels in [0, 1]; outputs are 10 logits.

:class:`VGG` (``features`` + ``classifier``)::

    features.0  conv 1→32 3×3   features.1 BN   features.2 ReLU
    features.3  conv 32→32 3×3  features.4 BN   features.5 ReLU   features.6 MaxPool 2   (14×14)
    features.7  conv 32→64 3×3  features.8 BN   features.9 ReLU
    features.10 conv 64→64 3×3  features.11 BN  features.12 ReLU  features.13 MaxPool 2  (7×7)
    classifier.0 Flatten  classifier.1 Linear 3136→128  classifier.2 ReLU
    classifier.3 Linear 128→10

Its sites (producer → consumer): four conv channel sites ``features.0 → features.3``,
``features.3 → features.7`` (through the pool), ``features.7 → features.10``,
``features.10 → classifier.1`` (a flatten site, 7·7 consumer columns per channel), and the
hidden Linear site ``classifier.1 → classifier.3``.

:class:`ResNet` (torchvision's BasicBlock layout, three stages of ``blocks`` blocks)::

    conv1 1→16 3×3, bn1, relu                                         (28×28)
    layer1: BasicBlock(16→16) × blocks                                (28×28)
    layer2: BasicBlock(16→32, stride 2, downsample 1×1+BN), BasicBlock(32→32) ...  (14×14)
    layer3: BasicBlock(32→64, stride 2, downsample 1×1+BN), BasicBlock(64→64) ...  (7×7)
    avgpool (global), fc 64→10

Each block computes ``relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))``. The inner
channel of each block, ``layerS.B.conv1 → layerS.B.conv2`` with ``bn1`` between, is a site;
the block outputs (``conv2``, the stem, the downsample convs) feed a residual sum and are
residual-coupled: not sites.

Convolutions followed by BatchNorm have no bias (it would be cancelled by the BatchNorm);
death with a bias-compensating rule records a bias on the consumer where it needs one.
"""

from __future__ import annotations

import torch
from torch import nn

MNIST_SHAPE = (1, 28, 28)
N_CLASSES = 10


def _conv_bn_relu(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
            nn.ReLU()]


class VGG(nn.Module):
    """VGG-style CNN: two blocks of (conv-BN-ReLU)×2 + max-pool, then a two-layer classifier.

    Args:
        channels: the four conv widths (default 32, 32, 64, 64).
        hidden: width of the hidden Linear layer (default 128).
        in_channels: input channels (1 for MNIST).
        image_size: input height = width, divisible by 4 (28 for MNIST).
        n_classes: number of logits.
    """

    def __init__(self, channels: tuple[int, int, int, int] = (32, 32, 64, 64), hidden: int = 128,
                 in_channels: int = 1, image_size: int = 28, n_classes: int = N_CLASSES) -> None:
        super().__init__()
        c1, c2, c3, c4 = channels
        self.features = nn.Sequential(
            *_conv_bn_relu(in_channels, c1), *_conv_bn_relu(c1, c2), nn.MaxPool2d(2),
            *_conv_bn_relu(c2, c3), *_conv_bn_relu(c3, c4), nn.MaxPool2d(2),
        )
        side = image_size // 4
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(c4 * side * side, hidden), nn.ReLU(),
            nn.Linear(hidden, n_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, in_channels, H, W) images → (batch, n_classes) logits."""
        return self.classifier(self.features(x))


class BasicBlock(nn.Module):
    """torchvision's ResNet basic block: two 3×3 conv-BN, identity or 1×1 conv-BN shortcut.

    Args:
        c_in: input channels.
        c_out: output channels (also the inner channel count).
        stride: stride of the first conv (2 halves the resolution; then a downsample shortcut).
    """

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.downsample: nn.Module | None = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, c_in, H, W) → (batch, c_out, H/stride, W/stride)."""
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))  # (batch, c_out, H', W'): the block's site
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """Small ResNet for MNIST: stem conv, three stages of basic blocks, global pool, Linear.

    Args:
        widths: channels of the three stages (default 16, 32, 64).
        blocks: basic blocks per stage (default 2: 1 + 2·2·3 + 1 = 14 weight layers).
        in_channels: input channels (1 for MNIST).
        n_classes: number of logits.
    """

    def __init__(self, widths: tuple[int, int, int] = (16, 32, 64), blocks: int = 2,
                 in_channels: int = 1, n_classes: int = N_CLASSES) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU()
        c_in = widths[0]
        for stage, width in enumerate(widths, start=1):
            stride = 1 if stage == 1 else 2
            layers = [BasicBlock(c_in, width, stride)]
            layers += [BasicBlock(width, width) for _ in range(blocks - 1)]
            self.add_module(f"layer{stage}", nn.Sequential(*layers))
            c_in = width
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(c_in, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, in_channels, H, W) images → (batch, n_classes) logits."""
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(self.flatten(self.avgpool(x)))  # (batch, n_classes)
