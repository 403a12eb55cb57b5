"""int8 quantization-aware training: fake quantization with TFLite's exact arithmetic.

Weights: per-channel (conv, depthwise) or per-tensor (fully connected) symmetric int8 in [-127, 127],
scale = max|w| / 127 in float32. Activations: asymmetric int8 in [-128, 127] from moving-average
min/max observers that are frozen late in training. Quantizing a real value is TFLite's
``AffineQuantize``: ``q = clamp(round(x / scale) + zero_point)`` with the division in float32 and
halves rounded away from zero, exactly as ``pqk_mcu.quant.tflite_round`` (a test checks the two agree
bit for bit). Gradients pass straight through inside the clamp range and are zero outside it.

The export (``pqk_mcu.train.export``) takes its integer weights and scales from the functions here,
so the trained student and the exported int8 model share one set of numbers.
"""

from __future__ import annotations

import torch
from torch import nn

from pqk_mcu.quant import INT8_MAX, INT8_MIN, tflite_round
from pqk_mcu.quant.torch_rounding import round_half_away

WEIGHT_QMAX = 127  # symmetric weights keep -128 unused, as TFLite does


def _unclamped_codes(values: torch.Tensor, scale: torch.Tensor, zero_point: torch.Tensor) -> torch.Tensor:
    return round_half_away(values.to(torch.float32) / scale.to(torch.float32)) + zero_point.to(torch.float32)


def quantize_affine(values: torch.Tensor, scale: torch.Tensor, zero_point: torch.Tensor, qmin: int, qmax: int):
    """Integer codes (as float32 tensor) of ``values``; scale/zero point broadcast against values."""
    return torch.clamp(_unclamped_codes(values, scale, zero_point), qmin, qmax)


class _FakeQuantizeSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, values, scale, zero_point, qmin, qmax):
        unclamped = _unclamped_codes(values, scale, zero_point)
        ctx.save_for_backward((unclamped >= qmin) & (unclamped <= qmax))
        return ((torch.clamp(unclamped, qmin, qmax) - zero_point) * scale).to(values.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        (inside,) = ctx.saved_tensors
        return grad_output * inside.to(grad_output.dtype), None, None, None, None


def fake_quantize(values: torch.Tensor, scale: torch.Tensor, zero_point: torch.Tensor, qmin: int, qmax: int):
    """Quantize-dequantize with a straight-through gradient (zero where the value was clamped)."""
    return _FakeQuantizeSTE.apply(values, scale, zero_point, qmin, qmax)


def weight_scales(weight: torch.Tensor, per_channel: bool) -> torch.Tensor:
    """Symmetric float32 scales: per output channel (dim 0 of a torch weight) or one per tensor.

    A channel pruned to all zeros gets scale 1/127: its codes are 0 whatever the scale, and this
    keeps the int32 bias of that channel precise (bias scale = input scale * weight scale).
    """
    magnitude = weight.detach().abs().to(torch.float32)
    max_abs = magnitude.reshape(magnitude.shape[0], -1).amax(dim=1) if per_channel else magnitude.amax().reshape(1)
    max_abs = torch.where(max_abs > 0, max_abs, torch.ones_like(max_abs))
    return max_abs / torch.tensor(float(WEIGHT_QMAX), dtype=torch.float32)


def _broadcast_scales(scales: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    return scales.reshape(-1, *([1] * (weight.dim() - 1))) if scales.numel() > 1 else scales.reshape(())


def quantize_weight(weight: torch.Tensor, per_channel: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """``(int8 codes as int64 tensor, float32 scales)`` of a torch-layout weight (out channels first)."""
    scales = weight_scales(weight, per_channel)
    codes = quantize_affine(
        weight.detach(), _broadcast_scales(scales, weight), torch.zeros(()), -WEIGHT_QMAX, WEIGHT_QMAX
    )
    return codes.to(torch.int64), scales


def fake_quantize_weight(weight: torch.Tensor, per_channel: bool) -> torch.Tensor:
    scales = _broadcast_scales(weight_scales(weight, per_channel), weight)
    return fake_quantize(weight, scales, torch.zeros(()), -WEIGHT_QMAX, WEIGHT_QMAX)


def activation_qparams(minimum: float, maximum: float) -> tuple[float, int]:
    """Asymmetric int8 ``(scale as float32 value, zero point)`` covering ``[min, max]`` and 0."""
    minimum = min(float(minimum), 0.0)
    maximum = max(float(maximum), 0.0)
    if maximum - minimum < 1e-8:
        maximum = minimum + 1e-8
    scale = float(torch.tensor((maximum - minimum) / (INT8_MAX - INT8_MIN), dtype=torch.float32))
    zero_point = min(INT8_MAX, max(INT8_MIN, INT8_MIN + tflite_round(-minimum / scale)))
    return scale, zero_point


class ActivationObserver(nn.Module):
    """Moving-average min/max of an activation, and its fake quantization once enabled.

    The first observed batch sets min/max; later batches move them by ``averaging_constant``.
    ``frozen`` stops updates (late in training, so the last steps train against the final
    quantization grid); ``enabled`` switches fake quantization on. Both are buffers, so they travel
    in checkpoints and are broadcast by DDP.
    """

    def __init__(self, averaging_constant: float = 0.02) -> None:
        super().__init__()
        self.averaging_constant = averaging_constant
        self.register_buffer("min_val", torch.zeros(()))
        self.register_buffer("max_val", torch.zeros(()))
        self.register_buffer("initialized", torch.zeros((), dtype=torch.bool))
        self.register_buffer("frozen", torch.zeros((), dtype=torch.bool))
        self.register_buffer("enabled", torch.zeros((), dtype=torch.bool))

    def forward(self, values: torch.Tensor) -> torch.Tensor:
        if self.training and not bool(self.frozen):
            self._observe(values.detach())
        if not bool(self.enabled):
            return values
        scale, zero_point = self.qparams()
        return fake_quantize(values, torch.tensor(scale), torch.tensor(float(zero_point)), INT8_MIN, INT8_MAX)

    @torch.no_grad()
    def _observe(self, values: torch.Tensor) -> None:
        batch_min, batch_max = values.min(), values.max()
        if not torch.isfinite(batch_min) or not torch.isfinite(batch_max):
            return  # the trainer stops on the non-finite loss; keep the statistics usable
        if not bool(self.initialized):
            self.min_val.copy_(batch_min)
            self.max_val.copy_(batch_max)
            self.initialized.fill_(True)
        else:
            self.min_val.lerp_(batch_min, self.averaging_constant)
            self.max_val.lerp_(batch_max, self.averaging_constant)

    def qparams(self) -> tuple[float, int]:
        if not bool(self.initialized):
            raise RuntimeError("activation observer has seen no data")
        return activation_qparams(float(self.min_val), float(self.max_val))


def observers(model: nn.Module) -> list[ActivationObserver]:
    return [m for m in model.modules() if isinstance(m, ActivationObserver)]


def set_fake_quant(model: nn.Module, enabled: bool) -> None:
    """Switch activation and weight fake quantization of every layer on or off."""
    for module in model.modules():
        if isinstance(module, ActivationObserver):
            module.enabled.fill_(enabled)
        if hasattr(module, "quantize_weights"):
            module.quantize_weights.fill_(enabled)


def freeze_observers(model: nn.Module, frozen: bool = True) -> None:
    for observer in observers(model):
        observer.frozen.fill_(frozen)
