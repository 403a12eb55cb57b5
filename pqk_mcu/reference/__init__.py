"""Reference interpreter: numpy int8 kernels that define each op's meaning, bit-exact with TFLM.

``run_reference(graph, inputs, keep_intermediates=False, state=None)`` runs a graph; ``KERNELS`` maps op kinds
to kernels (one module per op family registers its kernels on import); ``unary_table`` is the
lookup table of a one-input int8 op (lowering and the activation-fusion pass take it).
"""

from pqk_mcu.reference import activations, conv, data_movement, elementwise, pooling, quantize, reduce  # noqa: F401
from pqk_mcu.reference import lstm, split, svdf, transpose_conv  # noqa: F401
from pqk_mcu.reference.interpreter import run_reference, unary_table
from pqk_mcu.reference.registry import KERNELS, KernelCall, kernel

__all__ = ["KERNELS", "KernelCall", "kernel", "run_reference", "unary_table"]
