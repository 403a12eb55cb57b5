"""Export: int8 graph of every model, bit-exact between the reference interpreter and torch's integer simulation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pqk_mcu.exporters.tflite import export_tflite
from pqk_mcu.frontends.tflite import load_tflite
from pqk_mcu.train.export import build_graph, check_export, graph_sparsity, quantize_input, simulate_int8
from pqk_mcu.train.models import build_model
from pqk_mcu.train.pruning import update_masks
from pqk_mcu.train.qat import set_fake_quant

CASES = [
    ("ds-cnn", (49, 10, 1), 12, 0.25),
    ("res8", (49, 10, 1), 12, 0.2),
    ("tc-resnet8", (49, 10, 1), 12, 0.5),
    ("resnet8", (32, 32, 3), 10, 0.5),
    ("mnist-cnn", (28, 28, 1), 10, 0.5),
]


def _calibrated(name, shape, classes, width, sparsity=0.7):
    torch.manual_seed(0)
    model = build_model(name, classes, shape, width)
    set_fake_quant(model, True)
    with torch.no_grad():  # random BN statistics and affine parameters, so folding matters
        for module in model.modules():
            if hasattr(module, "running_var"):
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.3, 0.3)
    x = torch.randn(8, shape[2], shape[0], shape[1])
    model.train()
    model(x)
    update_masks(model, sparsity)
    model.eval()
    return model, x.permute(0, 2, 3, 1).numpy()


@pytest.mark.parametrize("name,shape,classes,width", CASES, ids=[c[0] for c in CASES])
def test_export_matches_integer_simulation_bit_exactly(name, shape, classes, width):
    model, features = _calibrated(name, shape, classes, width)
    labels = tuple(f"c{i}" for i in range(classes))
    graph = load_tflite(export_tflite(build_graph(model, labels)))
    assert check_export(graph, model, features[:3]) == {"examples": 3, "bit_exact": 3}
    assert graph.metadata_map["pqk_labels"] == ",".join(labels)
    assert graph_sparsity(graph) >= 0.69  # per-layer rounding of 0.7 * size, plus weights quantized to 0
    kinds = {op.kind for op in graph.ops}
    assert kinds <= {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "AVERAGE_POOL_2D", "ADD", "RESHAPE"}


def test_integer_simulation_tracks_the_fake_quantized_model():
    model, features = _calibrated("ds-cnn", (49, 10, 1), 12, 0.25)
    integer = simulate_int8(model, quantize_input(model, features)).astype(np.float32)
    scale, zero_point = model.fc.out_observer.qparams()
    fake_quant = model(torch.from_numpy(features).permute(0, 3, 1, 2)).detach().numpy()
    # Fake quantization rounds once per layer in float; the int8 kernels requantize in fixed point:
    # outputs may differ by a few output steps, never more.
    assert np.abs((integer - zero_point) * scale - fake_quant).max() <= 4 * scale
