"""Model zoo for keyword spotting and small-image classification, built only from exportable layers.

All models take NCHW float tensors and return logits. ``input_shape`` is (H, W, C) as in the int8
graph. ``width`` scales every channel count (rounded, at least 1).

- ``ds-cnn``: MLPerf Tiny KWS DS-CNN: conv 10x4 stride 2 to 64 channels, 4 x (depthwise 3x3 +
  pointwise 1x1), each followed by batch norm and ReLU, global average pool, FC (12 classes).
- ``res8``: Res8 (Tang & Lin 2018): conv 3x3 45 ch, average pool 4x3, three residual blocks of two
  3x3 convolutions, global average pool, FC. Batch norm sits between convolution and ReLU so that
  it folds into the convolution.
- ``tc-resnet8``: TC-ResNet8 (Choi et al. 2019): the MFCC coefficients become channels (49x1x10),
  temporal 3x1 conv to 16 ch, three residual blocks of 9x1 convolutions with stride 2 (24, 32, 48
  ch; 1x1 stride-2 projection shortcuts), global average pool, FC.
- ``resnet8``: MLPerf Tiny image classification ResNet-8 (32x32x3, 16/32/64 ch, 10 classes).
- ``mnist-cnn``: three 3x3 convolutions (16, 32 stride 2, 64 stride 2), flatten, FC; works for
  28x28 MNIST and 8x8 scikit-learn digits.
"""

from __future__ import annotations

from torch import nn

from pqk_mcu.errors import PqkError
from pqk_mcu.train.layers import Add, AvgPool, ConvBN, Dropout, InputQuant, Linear, Reshape


def _channels(base: int, width: float) -> int:
    return max(1, round(base * width))


def _out_size(size: int, stride: int) -> int:
    return -(-size // stride)


class DSCNN(nn.Module):
    def __init__(self, num_classes: int = 12, input_shape=(49, 10, 1), width: float = 1.0, blocks: int = 4):
        super().__init__()
        channels = _channels(64, width)
        self.input_quant = InputQuant()
        self.conv1 = ConvBN(input_shape[2], channels, (10, 4), stride=(2, 2))
        self.dropout1 = Dropout(0.2)
        self.blocks = nn.ModuleList()
        for _ in range(blocks):
            self.blocks.append(ConvBN(channels, channels, (3, 3), depthwise=True))
            self.blocks.append(ConvBN(channels, channels, (1, 1)))
        self.dropout2 = Dropout(0.4)
        self.pool = AvgPool()
        self.flatten = Reshape((-1,))
        self.fc = Linear(channels, num_classes)

    def forward(self, x):
        x = self.dropout1(self.conv1(self.input_quant(x)))
        for layer in self.blocks:
            x = layer(x)
        return self.fc(self.flatten(self.pool(self.dropout2(x))))


class ResidualBlock(nn.Module):
    """conv-BN-ReLU, conv-BN, (projection shortcut when shape changes), add, ReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel, stride=(1, 1)):
        super().__init__()
        self.conv_a = ConvBN(in_channels, out_channels, kernel, stride=stride)
        self.conv_b = ConvBN(out_channels, out_channels, kernel, activation="none")
        needs_projection = in_channels != out_channels or tuple(stride) != (1, 1)
        self.shortcut = ConvBN(in_channels, out_channels, (1, 1), stride=stride, activation="none") if needs_projection else None
        self.add = Add("relu")

    def forward(self, x):
        residual = x if self.shortcut is None else self.shortcut(x)
        return self.add(self.conv_b(self.conv_a(x)), residual)


class Res8(nn.Module):
    def __init__(self, num_classes: int = 12, input_shape=(49, 10, 1), width: float = 1.0):
        super().__init__()
        channels = _channels(45, width)
        self.input_quant = InputQuant()
        self.conv0 = ConvBN(input_shape[2], channels, (3, 3))
        self.pool0 = AvgPool((4, 3))
        self.blocks = nn.Sequential(*(ResidualBlock(channels, channels, (3, 3)) for _ in range(3)))
        self.pool = AvgPool()
        self.flatten = Reshape((-1,))
        self.fc = Linear(channels, num_classes)

    def forward(self, x):
        x = self.pool0(self.conv0(self.input_quant(x)))
        return self.fc(self.flatten(self.pool(self.blocks(x))))


class TCResNet8(nn.Module):
    def __init__(self, num_classes: int = 12, input_shape=(49, 10, 1), width: float = 1.0):
        super().__init__()
        frames, coefficients, channels_in = input_shape
        self.input_quant = InputQuant()
        self.to_temporal = Reshape((frames, 1, coefficients * channels_in))
        widths = [_channels(c, width) for c in (16, 24, 32, 48)]
        self.conv0 = ConvBN(coefficients * channels_in, widths[0], (3, 1), activation="none")
        self.blocks = nn.Sequential(
            *(ResidualBlock(widths[i], widths[i + 1], (9, 1), stride=(2, 1)) for i in range(3))
        )
        self.pool = AvgPool()
        self.flatten = Reshape((-1,))
        self.fc = Linear(widths[-1], num_classes)

    def forward(self, x):
        x = self.conv0(self.to_temporal(self.input_quant(x)))
        return self.fc(self.flatten(self.pool(self.blocks(x))))


class ResNet8(nn.Module):
    def __init__(self, num_classes: int = 10, input_shape=(32, 32, 3), width: float = 1.0):
        super().__init__()
        widths = [_channels(c, width) for c in (16, 32, 64)]
        self.input_quant = InputQuant()
        self.conv0 = ConvBN(input_shape[2], widths[0], (3, 3))
        self.blocks = nn.Sequential(
            ResidualBlock(widths[0], widths[0], (3, 3)),
            ResidualBlock(widths[0], widths[1], (3, 3), stride=(2, 2)),
            ResidualBlock(widths[1], widths[2], (3, 3), stride=(2, 2)),
        )
        self.pool = AvgPool()
        self.flatten = Reshape((-1,))
        self.fc = Linear(widths[2], num_classes)

    def forward(self, x):
        x = self.blocks(self.conv0(self.input_quant(x)))
        return self.fc(self.flatten(self.pool(x)))


class MnistCNN(nn.Module):
    def __init__(self, num_classes: int = 10, input_shape=(28, 28, 1), width: float = 1.0):
        super().__init__()
        widths = [_channels(c, width) for c in (16, 32, 64)]
        height, width_px = _out_size(_out_size(input_shape[0], 2), 2), _out_size(_out_size(input_shape[1], 2), 2)
        self.input_quant = InputQuant()
        self.conv1 = ConvBN(input_shape[2], widths[0], (3, 3))
        self.conv2 = ConvBN(widths[0], widths[1], (3, 3), stride=(2, 2))
        self.conv3 = ConvBN(widths[1], widths[2], (3, 3), stride=(2, 2))
        self.dropout = Dropout(0.25)
        self.flatten = Reshape((-1,))
        self.fc = Linear(height * width_px * widths[2], num_classes)

    def forward(self, x):
        x = self.conv3(self.conv2(self.conv1(self.input_quant(x))))
        return self.fc(self.flatten(self.dropout(x)))


MODELS = {"ds-cnn": DSCNN, "res8": Res8, "tc-resnet8": TCResNet8, "resnet8": ResNet8, "mnist-cnn": MnistCNN}


def build_model(name: str, num_classes: int, input_shape: tuple[int, int, int], width: float = 1.0) -> nn.Module:
    """Instantiate a model by name; ``input_shape`` is (H, W, C)."""
    try:
        cls = MODELS[name]
    except KeyError:
        raise PqkError(f"unknown model {name!r} (choose from {', '.join(MODELS)})") from None
    model = cls(num_classes=num_classes, input_shape=tuple(input_shape), width=width)
    model.input_shape = tuple(int(d) for d in input_shape)  # (H, W, C): the exported graph's input
    return model
