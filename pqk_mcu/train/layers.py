"""Layers that map one-to-one onto the int8 ops the compiler supports.

Every model in ``pqk_mcu.train.models`` is built only from these layers, so a trained network can be
exported op by op (``pqk_mcu.train.export``):

| layer        | int8 op(s)                                  |
| ------------ | ------------------------------------------- |
| InputQuant   | (graph input quantization)                  |
| ConvBN       | CONV_2D / DEPTHWISE_CONV_2D, BN folded, fused RELU/RELU6 |
| Linear       | FULLY_CONNECTED                             |
| Add          | ADD with fused activation                   |
| AvgPool      | AVERAGE_POOL_2D (VALID, stride = window)    |
| Reshape      | RESHAPE (NHWC order)                        |
| Dropout      | nothing (identity at inference)             |

Tensors are NCHW in PyTorch; padding follows TensorFlow's SAME rule (the extra row/column of an even
split goes to the bottom/right), so the exported NHWC graph computes the same function.

**Views.** In PQK phase 2 one weight tensor serves two networks: the student sees ``weight * mask``
(the important weights), the teacher sees all of ``weight``. The teacher's path routes gradients
only into the unimportant entries (``(weight*mask).detach() + weight*(1-mask)``), so one backward
pass of student loss + teacher loss updates each entry for exactly one of the two. ``set_view``
selects which network a forward pass computes. The teacher's options (precision fp32/int8, shared or
separate batch-norm statistics) are set by ``configure_teacher``.

When a layer receives something other than a ``torch.Tensor`` (the export's symbolic values or the
integer simulation's int8 arrays), it hands itself to that value (``value.visit(layer, ...)``); the
export module owns the integer meaning of each layer.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pqk_mcu.train.qat import ActivationObserver, fake_quantize_weight

ACTIVATIONS = {"none": "NONE", "relu": "RELU", "relu6": "RELU6"}
TEACHER_PRECISIONS = ("fp32", "int8")
TEACHER_BN_MODES = ("separate", "shared")


def tf_same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow SAME padding (before, after) along one axis."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def apply_activation(values: torch.Tensor, activation: str) -> torch.Tensor:
    if activation == "relu":
        return F.relu(values)
    if activation == "relu6":
        return F.relu6(values)
    return values


class ViewLayer(nn.Module):
    """Base of layers whose forward depends on the student/teacher view."""

    def __init__(self) -> None:
        super().__init__()
        self.view = "student"
        self.teacher_precision = "fp32"
        self.teacher_bn = "separate"
        self.out_observer = ActivationObserver()
        self.teacher_out_observer = ActivationObserver()

    @property
    def is_teacher(self) -> bool:
        return self.view == "teacher"

    def observe_output(self, values: torch.Tensor) -> torch.Tensor:
        if not self.is_teacher:
            return self.out_observer(values)
        if self.teacher_precision == "int8":
            return self.teacher_out_observer(values)
        return values


class InputQuant(ViewLayer):
    """Quantization of the network input (its observer gives the graph input's scale/zero point)."""

    def forward(self, x):
        if not isinstance(x, torch.Tensor):
            return x.visit(self)
        return self.observe_output(x)


class PrunableLayer(ViewLayer):
    """A layer with a prunable weight (``mask`` buffer: 1 = important, kept by the student)."""

    per_channel = True

    def __init__(self, weight_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(weight_shape))
        nn.init.kaiming_uniform_(self.weight, a=5**0.5)
        self.register_buffer("mask", torch.ones(weight_shape))
        self.register_buffer("quantize_weights", torch.zeros((), dtype=torch.bool))

    def view_weight(self) -> torch.Tensor:
        if not self.is_teacher:
            return self.weight * self.mask
        return (self.weight * self.mask).detach() + self.weight * (1 - self.mask)

    def weight_quantized_in_view(self) -> bool:
        return bool(self.quantize_weights) and (not self.is_teacher or self.teacher_precision == "int8")


class BatchNorm(nn.Module):
    """Batch-norm parameters and running statistics, folded into the preceding convolution."""

    def __init__(self, channels: int, momentum: float = 0.1, eps: float = 1e-3) -> None:
        super().__init__()
        self.momentum = momentum
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))


class ConvBN(PrunableLayer):
    """Convolution (regular or depthwise, SAME padding, no bias) + batch norm + activation.

    Quantization-aware form (Jacob et al. 2018, as PyTorch's ``_ConvBnNd``): the weight is scaled
    by gamma/sqrt(running_var + eps) and fake-quantized per output channel *before* the convolution,
    the convolution output is divided by that factor again and normalized with the batch statistics
    while batch norm still trains. Once ``bn_frozen`` is set (late in QAT, and always in eval), the
    layer computes exactly the folded convolution that is exported: conv(x, q(w_fold)) + b_fold.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: tuple[int, int],
        stride: tuple[int, int] = (1, 1),
        depthwise: bool = False,
        activation: str = "relu",
    ) -> None:
        if depthwise and in_channels != out_channels:
            raise ValueError("depthwise convolution keeps the channel count (depth multiplier 1)")
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}")
        super().__init__((out_channels, 1 if depthwise else in_channels, *kernel))
        self.kernel = tuple(kernel)
        self.stride = tuple(stride)
        self.depthwise = depthwise
        self.activation = activation
        self.bn = BatchNorm(out_channels)
        self.teacher_bn_params = BatchNorm(out_channels)
        self.register_buffer("bn_frozen", torch.zeros((), dtype=torch.bool))

    def pad(self, x: torch.Tensor) -> torch.Tensor:
        top, bottom = tf_same_padding(x.shape[2], self.kernel[0], self.stride[0])
        left, right = tf_same_padding(x.shape[3], self.kernel[1], self.stride[1])
        return F.pad(x, (left, right, top, bottom))

    def conv(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return F.conv2d(self.pad(x), weight, stride=self.stride, groups=x.shape[1] if self.depthwise else 1)

    def view_bn(self) -> tuple[BatchNorm, bool]:
        """The batch norm this view uses and whether it may update running statistics/affine params."""
        if not self.is_teacher:
            return self.bn, True
        if self.teacher_bn == "separate":
            return self.teacher_bn_params, True
        return self.bn, False

    def folded(self, bn: BatchNorm | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Student weight with batch norm folded in (``w * gamma/std``) and the folded bias."""
        bn = bn or self.bn
        factor = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        weight = self.weight * self.mask * factor.reshape(-1, 1, 1, 1)
        return weight, bn.bias - bn.running_mean * factor

    def forward(self, x):
        if not isinstance(x, torch.Tensor):
            return x.visit(self)
        bn, owns_bn = self.view_bn()
        gamma = bn.weight if owns_bn else bn.weight.detach()
        beta = bn.bias if owns_bn else bn.bias.detach()
        factor = gamma / torch.sqrt(bn.running_var + bn.eps)
        weight = self.view_weight() * factor.reshape(-1, 1, 1, 1)
        if self.weight_quantized_in_view():
            weight = fake_quantize_weight(weight, per_channel=True)
        if self.training and not bool(self.bn_frozen):
            y = self.conv(x, weight) / factor.reshape(1, -1, 1, 1)
            running = (bn.running_mean, bn.running_var) if owns_bn else (None, None)
            y = F.batch_norm(y, *running, gamma, beta, training=True, momentum=bn.momentum, eps=bn.eps)
        else:
            y = self.conv(x, weight) + (beta - bn.running_mean * factor).reshape(1, -1, 1, 1)
        return self.observe_output(apply_activation(y, self.activation))


class Linear(PrunableLayer):
    """Fully connected layer; weights quantized per tensor (TFLite's FULLY_CONNECTED convention)."""

    per_channel = False

    def __init__(self, in_features: int, out_features: int, activation: str = "none") -> None:
        super().__init__((out_features, in_features))
        self.activation = activation
        bound = 1 / in_features**0.5
        self.bias = nn.Parameter(torch.empty(out_features).uniform_(-bound, bound))
        self.teacher_bias = nn.Parameter(self.bias.detach().clone())

    def view_bias(self) -> torch.Tensor:
        if not self.is_teacher:
            return self.bias
        return self.teacher_bias if self.teacher_bn == "separate" else self.bias.detach()

    def forward(self, x):
        if not isinstance(x, torch.Tensor):
            return x.visit(self)
        weight = self.view_weight()
        if self.weight_quantized_in_view():
            weight = fake_quantize_weight(weight, per_channel=False)
        return self.observe_output(apply_activation(F.linear(x, weight, self.view_bias()), self.activation))


class Add(ViewLayer):
    """Element-wise sum of two activations (residual connection) with a fused activation."""

    def __init__(self, activation: str = "relu") -> None:
        super().__init__()
        self.activation = activation

    def forward(self, a, b):
        if not isinstance(a, torch.Tensor):
            return a.visit(self, b)
        return self.observe_output(apply_activation(a + b, self.activation))


class AvgPool(nn.Module):
    """Average pooling, VALID, stride = window; ``window=None`` pools the whole feature map.

    The int8 output keeps the input's scale and zero point (TFLite's requirement), so no observer.
    """

    def __init__(self, window: tuple[int, int] | None = None) -> None:
        super().__init__()
        self.window = None if window is None else tuple(window)

    def window_for(self, height: int, width: int) -> tuple[int, int]:
        return (height, width) if self.window is None else self.window

    def forward(self, x):
        if not isinstance(x, torch.Tensor):
            return x.visit(self)
        window = self.window_for(x.shape[2], x.shape[3])
        return F.avg_pool2d(x, window, stride=window)


class Reshape(nn.Module):
    """Reshape in NHWC element order (as RESHAPE does on the int8 graph); ``shape`` excludes batch.

    A 3-d target (H, W, C) gives back an NCHW tensor; a 1-d target (-1 allowed) gives (N, features).
    """

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x):
        if not isinstance(x, torch.Tensor):
            return x.visit(self)
        y = x.permute(0, 2, 3, 1).reshape(x.shape[0], *self.shape)
        return y.permute(0, 3, 1, 2) if y.dim() == 4 else y


class Dropout(nn.Dropout):
    def forward(self, x):
        return super().forward(x) if isinstance(x, torch.Tensor) else x


def view_layers(model: nn.Module) -> list[ViewLayer]:
    return [m for m in model.modules() if isinstance(m, ViewLayer)]


def prunable_layers(model: nn.Module) -> list[PrunableLayer]:
    return [m for m in model.modules() if isinstance(m, PrunableLayer)]


def set_view(model: nn.Module, view: str) -> None:
    if view not in ("student", "teacher"):
        raise ValueError(f"unknown view {view!r}")
    for layer in view_layers(model):
        layer.view = view


def configure_teacher(model: nn.Module, precision: str = "fp32", bn: str = "separate") -> None:
    if precision not in TEACHER_PRECISIONS:
        raise ValueError(f"teacher precision must be one of {TEACHER_PRECISIONS}, got {precision!r}")
    if bn not in TEACHER_BN_MODES:
        raise ValueError(f"teacher batch norm must be one of {TEACHER_BN_MODES}, got {bn!r}")
    for layer in view_layers(model):
        layer.teacher_precision = precision
        layer.teacher_bn = bn


@torch.no_grad()
def init_teacher_from_student(model: nn.Module) -> None:
    """Start the teacher's own batch norm, bias and observers from the student's (phase 2 start)."""
    for module in model.modules():
        if isinstance(module, ConvBN):
            module.teacher_bn_params.load_state_dict(module.bn.state_dict())
        if isinstance(module, Linear):
            module.teacher_bias.copy_(module.bias)
        if isinstance(module, ViewLayer):
            module.teacher_out_observer.load_state_dict(module.out_observer.state_dict())
            module.teacher_out_observer.frozen.fill_(False)


def freeze_batch_norm(model: nn.Module, frozen: bool = True) -> None:
    for module in model.modules():
        if isinstance(module, ConvBN):
            module.bn_frozen.fill_(frozen)


def student_parameters(model: nn.Module) -> list[nn.Parameter]:
    """Parameters the student owns (its view of prunable weights is masked separately)."""
    teacher_only = teacher_only_parameters(model)
    return [p for p in model.parameters() if all(p is not t for t in teacher_only)]


def teacher_only_parameters(model: nn.Module) -> list[nn.Parameter]:
    params: list[nn.Parameter] = []
    for module in model.modules():
        if isinstance(module, ConvBN):
            params += [module.teacher_bn_params.weight, module.teacher_bn_params.bias]
        if isinstance(module, Linear):
            params.append(module.teacher_bias)
    return params
