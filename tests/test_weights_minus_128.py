"""int8 weights holding -128 (TFLite's converter writes it, e.g. in TFLite Micro's keyword_scrambled model):
the verifier accepts them and every kernel the cost model can pick runs them bit-exact against the reference.

The encoders stay exact with -128: packed CSR keeps twice the value in 9 signed bits (-256), the wide
format in 16, channel pairs bound their lanes by sum |w|, SMLAD / MVE multiply int16 or int8 lanes
into int32. Only pqk_depthwise_conv2d_s8_mve adds two products as int16 (2 * 128 * 128 overflows), so
the cost model routes depthwise layers holding -128 away from it.
"""

from __future__ import annotations

import numpy as np
import pytest

from pqk_mcu.codegen import generate_c
from pqk_mcu.ir.verify import verify_graph
from test_perf_kernels import _assert_bit_exact, _graph

# (board the code is generated for, where it runs)
TARGETS = [("cortex-m4", "host"), ("cortex-m4", "cortex-m4"), ("cortex-m3", "cortex-m3"), ("cortex-m55", "cortex-m55")]


@pytest.mark.parametrize("board, target", TARGETS)
@pytest.mark.parametrize("sparsity, weight_format", [(0.0, "dense"), (0.6, "csr")])
def test_weights_holding_minus_128_bit_exact(tmp_path, toolchain, board, target, sparsity, weight_format):
    graph = _graph(sparsity, seed=3, weight_min=-128)
    verify_graph(graph)
    weighted = [op for op in graph.ops if op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")]
    assert all((graph.tensor(op.inputs[1]).data == -128).any() for op in weighted)
    generated = generate_c(graph, tmp_path / "gen", weight_format=weight_format, board=board)
    assert "pqk_depthwise_conv2d_s8_mve" not in {layer.kernel for layer in generated.layers}
    _assert_bit_exact(generated, target, tmp_path)
