"""QAT arithmetic: fake quantization equals pqk_mcu.quant's rounding; BN folding; observers."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from pqk_mcu.quant import affine_quantize_array, tflite_round
from pqk_mcu.quant.torch_rounding import round_half_away
from pqk_mcu.train.layers import ConvBN, freeze_batch_norm
from pqk_mcu.train.qat import (
    ActivationObserver,
    activation_qparams,
    fake_quantize,
    quantize_affine,
    quantize_weight,
)


def test_round_half_away_matches_tflite_round_bit_for_bit():
    rng = np.random.default_rng(0)
    values = np.concatenate([
        rng.normal(0, 100, 5000).astype(np.float32),
        np.arange(-20, 20, 0.5, dtype=np.float32),  # exact halves
        np.array([0.49999997, -0.49999997, 2.5, -2.5, 8388607.5, -0.0, 1e-30], dtype=np.float32),
    ])
    ours = round_half_away(torch.from_numpy(values)).numpy()
    assert [int(v) for v in ours] == [tflite_round(float(v)) for v in values]


def test_activation_fake_quant_uses_tflite_quantize_arithmetic():
    rng = np.random.default_rng(1)
    values = rng.normal(0, 3, 4000).astype(np.float32)
    scale, zero_point = activation_qparams(-5.3, 7.9)
    codes = quantize_affine(torch.from_numpy(values), torch.tensor(scale), torch.tensor(float(zero_point)), -128, 127)
    expected = affine_quantize_array(values, scale, zero_point)
    assert np.array_equal(codes.numpy().astype(np.int8), expected)
    dequantized = fake_quantize(torch.from_numpy(values), torch.tensor(scale), torch.tensor(float(zero_point)), -128, 127)
    assert np.array_equal(dequantized.numpy(), ((expected.astype(np.float32) - zero_point) * np.float32(scale)))


def test_fake_quant_straight_through_gradient_is_zero_only_where_clamped():
    values = torch.tensor([-10.0, -0.3, 0.0, 0.4, 10.0], requires_grad=True)
    fake_quantize(values, torch.tensor(0.01), torch.tensor(0.0), -128, 127).sum().backward()
    assert values.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]


def test_weight_quantization_is_symmetric_per_channel():
    weight = torch.randn(6, 3, 3, 3)
    weight[2] = 0.0  # a fully pruned channel
    codes, scales = quantize_weight(weight, per_channel=True)
    assert codes.abs().amax(dim=(1, 2, 3)).tolist() == [127, 127, 0, 127, 127, 127]
    assert scales.dtype == torch.float32 and scales[2].item() == np.float32(1 / 127)
    codes_fc, scales_fc = quantize_weight(weight.reshape(6, -1), per_channel=False)
    assert scales_fc.numel() == 1 and int(codes_fc.abs().max()) == 127


def test_observer_tracks_moving_average_and_freezes():
    observer = ActivationObserver(averaging_constant=0.5)
    observer.train()
    observer(torch.tensor([-1.0, 3.0]))
    observer(torch.tensor([-3.0, 1.0]))
    assert (float(observer.min_val), float(observer.max_val)) == (-2.0, 2.0)
    observer.frozen.fill_(True)
    observer(torch.tensor([-30.0, 30.0]))
    assert (float(observer.min_val), float(observer.max_val)) == (-2.0, 2.0)
    scale, zero_point = observer.qparams()
    # 2 / float32(4/255) = 127.4999..., so the zero point rounds to -128 + 127.
    assert scale == float(np.float32(4.0 / 255)) and zero_point == -1


def test_conv_bn_folding_equals_conv_then_batch_norm():
    torch.manual_seed(0)
    layer = ConvBN(3, 5, (3, 3), stride=(2, 2), activation="none")
    with torch.no_grad():
        layer.bn.weight.uniform_(0.5, 2.0)
        layer.bn.bias.uniform_(-1, 1)
        layer.bn.running_mean.uniform_(-1, 1)
        layer.bn.running_var.uniform_(0.5, 2.0)
    layer.out_observer.enabled.fill_(False)
    x = torch.randn(2, 3, 9, 7)
    layer.eval()
    folded = layer(x)
    unfolded = F.batch_norm(layer.conv(x, layer.weight), layer.bn.running_mean, layer.bn.running_var,
                            layer.bn.weight, layer.bn.bias, training=False, eps=layer.bn.eps)
    # Folding reassociates float32 products (w*gamma/std vs (conv)/std*gamma): equal up to rounding.
    assert torch.allclose(folded, unfolded, atol=1e-5, rtol=1e-5)
    layer.train()
    freeze_batch_norm(layer)
    assert torch.equal(layer(x), folded)  # frozen BN in training computes exactly the exported form
