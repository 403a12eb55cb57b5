"""DSP kernel variants (*_dsp.c) against the reference, which the portable kernels equal bit for bit.

The same small graphs and random inputs run (a) on the host, where pqk_dsp.h compiles its plain-C
fallbacks, under ASan/UBSan, and (b) on cortex-m4 under QEMU, where the real SXTB16/SMLAD/SMMLAR
instructions run. Layers cover the kernels' branches: channels not a multiple of 4, padding,
stride 2, a pixel count that leaves a partial block, in-place chains, activation ranges narrower
than int8, sparsities up to fully pruned rows.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from pqk_mcu.codegen import generate_c
from pqk_mcu.codegen.cost_model import Layout, Target, choose_kernel, fast_requant_exact
from pqk_mcu.ir.builder import GraphBuilder
from pqk_mcu.reference import run_reference

RUNTIME = Path(__file__).resolve().parents[1] / "firmware" / "runtime"
INPUTS = 3


def _weights(rng, shape, sparsity, weight_min: int = -127):
    w = rng.integers(weight_min, 128, size=shape).astype(np.int8)
    if weight_min == -128:
        w.reshape(-1)[::5] = -128  # every matrix, and most rows, hold it
    w[rng.random(shape) < sparsity] = 0
    return w


def _graph(sparsity: float, seed: int = 0, weight_min: int = -127):
    """conv 3x3 (3 -> 8 channels, 63 pixels), depthwise SAME (narrow activation range), two
    in-place pointwise layers, depthwise VALID stride 2 (12 ch), average pool with padding,
    conv 2x2 stride 2, FC; weights in [weight_min, 127]."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder()
    x = b.input((1, 9, 7, 3), scale=0.05, zero_point=-3)
    x = b.conv2d(x, _weights(rng, (8, 3, 3, 3), sparsity, weight_min), list(rng.uniform(0.002, 0.01, 8)),
                 rng.integers(-500, 500, 8).astype(np.int32), 0.08, -128, stride=1, padding="SAME", activation="RELU")
    x = b.depthwise_conv2d(x, _weights(rng, (1, 3, 3, 8), sparsity, weight_min), list(rng.uniform(0.002, 0.02, 8)),
                           rng.integers(-300, 300, 8).astype(np.int32), 0.05, 7, padding="SAME", activation="RELU6")
    x = b.conv2d(x, _weights(rng, (8, 1, 1, 8), sparsity, weight_min), list(rng.uniform(0.002, 0.01, 8)),
                 None, 0.06, -20, padding="SAME", activation="NONE")
    x = b.conv2d(x, _weights(rng, (12, 1, 1, 8), sparsity, weight_min), list(rng.uniform(0.002, 0.01, 12)),
                 rng.integers(-500, 500, 12).astype(np.int32), 0.07, -128, activation="RELU")
    x = b.depthwise_conv2d(x, _weights(rng, (1, 3, 3, 12), sparsity, weight_min), list(rng.uniform(0.002, 0.02, 12)),
                           None, 0.05, -128, stride=2, padding="VALID", activation="RELU")
    x = b.average_pool2d(x, (2, 2), stride=1, padding="SAME")
    x = b.conv2d(x, _weights(rng, (5, 2, 2, 12), sparsity, weight_min), 0.004, None, 0.09, 3, stride=2, padding="SAME")
    x = b.reshape(x, (1, -1))
    x = b.fully_connected(x, _weights(rng, (4, b.shape(x)[1]), sparsity, weight_min), 0.01, None, 0.2, 0)
    return b.build(outputs=[x])


def _inputs(graph, count=INPUTS):
    rng = np.random.default_rng(42)
    shape = graph.tensor(graph.inputs[0]).shape
    return [rng.integers(-128, 128, size=shape, dtype=np.int8) for _ in range(count)]


CASES = [(0.0, "dense"), (0.6, "csr"), (0.95, "csr"), (0.0, "auto")]


def _generate(tmp_path: Path, sparsity: float, weight_format: str):
    graph = _graph(sparsity)
    generated = generate_c(graph, tmp_path / "gen", weight_format=weight_format, board="cortex-m4")
    kernels = {layer.kernel for layer in generated.layers}
    return graph, generated, kernels


@pytest.mark.parametrize("sparsity,weight_format", CASES)
def test_dsp_kernels_bit_exact_on_host(tmp_path, toolchain, without_dead_channel_elimination, sparsity, weight_format):
    from pqk_mcu.runner.host import build_host, run_host

    graph, generated, kernels = _generate(tmp_path, sparsity, weight_format)
    assert any(k.endswith("_dsp") for k in kernels), kernels
    executable = build_host(generated.out_dir, out_dir=tmp_path / "build")
    for x in _inputs(generated.graph):
        output, _ = run_host(executable, x.tobytes(), trace=False)
        expected = run_reference(generated.graph, [x])["outputs"][0]
        assert np.frombuffer(output, dtype=np.int8).tolist() == expected.reshape(-1).tolist()


@pytest.mark.parametrize("sparsity,weight_format", CASES)
def test_dsp_kernels_bit_exact_on_cortex_m4(tmp_path, toolchain, without_dead_channel_elimination, sparsity,
                                           weight_format):
    from pqk_mcu.runner.arm import build_firmware
    from pqk_mcu.runner.qemu import run_elf

    graph, generated, kernels = _generate(tmp_path, sparsity, weight_format)
    assert any(k.endswith("_dsp") for k in kernels), kernels
    build = build_firmware(generated.out_dir, "cortex-m4", out_dir=tmp_path / "build",
                           runtime_sources=generated.runtime_sources)
    for x in _inputs(generated.graph):
        output = run_elf(build.elf, "cortex-m4", x.tobytes())
        expected = run_reference(generated.graph, [x])["outputs"][0]
        assert np.frombuffer(output, dtype=np.int8).tolist() == expected.reshape(-1).tolist()


def _few_tap_graph():
    """Depthwise layers whose channels have zero, one or two nonzero taps, the single taps at every
    filter position: SAME stride 1 (in place; ReLU onto all of int8, then a narrower clamp: both
    requantization modes of the single-tap runs), SAME dilation 2, VALID stride 2 (the single-tap
    path reads the input directly, in place in an order that depends on where the tap is)."""
    rng = np.random.default_rng(7)
    channels = 12
    weights = np.zeros((1, 3, 3, channels), dtype=np.int8)
    for c in range(9):
        weights[0, c // 3, c % 3, c] = rng.integers(1, 128) * rng.choice([-1, 1])
    weights[0, 0, 0, 10] = 90
    weights[0, 2, 1, 10] = -70  # channel 9: no tap; channel 10: two taps; channel 11: no tap
    b = GraphBuilder()
    x = b.input((1, 7, 6, channels), scale=0.05, zero_point=-3)
    for stride, padding, dilation, activation, zero_point in ((1, "SAME", 1, "RELU", -128), (1, "SAME", 1, "RELU6", -3),
                                                              (1, "SAME", 2, "NONE", -3), (2, "VALID", 1, "RELU", -3)):
        x = b.depthwise_conv2d(x, weights, list(rng.uniform(0.002, 0.02, channels)),
                               rng.integers(-300, 300, channels).astype(np.int32), 0.05, zero_point, stride=stride,
                               padding=padding, dilation=dilation, activation=activation)
    return b.build(outputs=[x])


def _assert_bit_exact(generated, target: str, tmp_path: Path, reference_graph=None) -> None:
    """The generated model on ``target`` (host or an emulated board) equals the reference of ``reference_graph``
    (default: the generated graph) on every input (all outputs, one after another)."""
    from pqk_mcu.runner.arm import build_firmware
    from pqk_mcu.runner.host import build_host, run_host
    from pqk_mcu.runner.qemu import run_elf

    if target == "host":
        executable = build_host(generated.out_dir, out_dir=tmp_path / "build")
        run = lambda x: run_host(executable, x.tobytes(), trace=False)[0]  # noqa: E731
    else:
        elf = build_firmware(generated.out_dir, target, out_dir=tmp_path / "build",
                             runtime_sources=generated.runtime_sources).elf
        run = lambda x: run_elf(elf, target, x.tobytes())  # noqa: E731
    for x in _inputs(generated.graph):
        outputs = run_reference(reference_graph or generated.graph, [x])["outputs"]
        expected = np.concatenate([y.reshape(-1) for y in outputs])
        assert np.frombuffer(run(x), dtype=np.int8).tolist() == expected.tolist()


@pytest.mark.parametrize("target", ["host", "cortex-m4"])
def test_single_tap_depthwise_channels(tmp_path, toolchain, target):
    generated = generate_c(_few_tap_graph(), tmp_path / "gen", weight_format="csr", board="cortex-m4")
    assert {layer.kernel for layer in generated.layers} == {"pqk_depthwise_conv2d_s8_csr_dsp"}
    assert generated.arena_bytes < 2 * 7 * 6 * 12  # the stride-1 layers run in place
    _assert_bit_exact(generated, target, tmp_path)


def _single_tap_3x5_graph():
    """One single-tap channel per position of a 3x5 filter (the packed format's 15 taps; taps up to
    two columns away, so two border columns per side), SAME stride 1 on an odd-width map: the
    rectangle's rows run as one pass through the plane with the border columns rewritten after it.
    Every layer is an output, so none overwrites its input (not in place); their activations take
    each requantization mode of the single-tap runs."""
    rng = np.random.default_rng(11)
    channels = 15
    weights = np.zeros((1, 3, 5, channels), dtype=np.int8)
    for c in range(channels):
        weights[0, c // 5, c % 5, c] = rng.integers(1, 128) * rng.choice([-1, 1])
    b = GraphBuilder()
    x = b.input((1, 6, 5, channels), scale=0.05, zero_point=4)
    outputs = []
    for activation, zero_point in (("RELU", -128), ("RELU", -3), ("NONE", -3)):
        x = b.depthwise_conv2d(x, weights, list(rng.uniform(0.005, 0.01, channels)),
                               rng.integers(-300, 300, channels).astype(np.int32), 0.05, zero_point, stride=1,
                               padding="SAME", activation=activation)
        outputs.append(x)
    return b.build(outputs=outputs)


@pytest.mark.parametrize("target", ["host", "cortex-m4"])
def test_single_tap_depthwise_one_pass_through_rows(tmp_path, toolchain, target):
    generated = generate_c(_single_tap_3x5_graph(), tmp_path / "gen", weight_format="csr", board="cortex-m4")
    assert {layer.kernel for layer in generated.layers} == {"pqk_depthwise_conv2d_s8_csr_dsp"}
    _assert_bit_exact(generated, target, tmp_path)


def test_csr_row_lengths_and_row_pointers(tmp_path, toolchain, without_column_pairs):
    """Rows of at most 255 nonzeros are delimited by one length byte each; a longer row switches
    the layer to row pointers, which the portable kernels walk the same way."""
    from pqk_mcu.codegen.weights import encode_csr
    from pqk_mcu.runner.host import build_host, run_host

    rng = np.random.default_rng(3)
    short = encode_csr(_weights(rng, (6, 40), 0.5))
    assert short.row_index[0] == "row_len_u8"
    assert short.row_index[1].tolist() == np.diff(short.row_ptr.astype(int)).tolist()
    assert short.index_bytes == short.columns.nbytes + 6
    long_rows = _weights(rng, (4, 300), 0.05)
    assert encode_csr(long_rows).row_index[0] == "row_ptr_u16"
    b = GraphBuilder()
    x = b.input((1, 300), scale=0.05, zero_point=-3)
    x = b.fully_connected(x, long_rows, 0.001, rng.integers(-500, 500, 4).astype(np.int32), 0.5, 2)
    graph = b.build(outputs=[x])
    generated = generate_c(graph, tmp_path / "gen", weight_format="csr", board="cortex-m4")
    assert "row_ptr_u16" in (tmp_path / "gen" / "model_weights.c").read_text()
    executable = build_host(generated.out_dir, out_dir=tmp_path / "build")
    for x in _inputs(generated.graph):
        expected = run_reference(generated.graph, [x])["outputs"][0]
        assert np.frombuffer(run_host(executable, x.tobytes(), trace=False)[0], dtype=np.int8).tolist() == \
            expected.reshape(-1).tolist()


def test_requant_shift_is_stored_as_int8(tmp_path, without_dead_channel_elimination):
    from pqk_mcu.errors import UnsupportedModelError

    generated = generate_c(_graph(0.6), tmp_path / "gen")  # portable kernels: the packed format has no shift array
    assert "static const int8_t pqk_op0_shift[8]" in (generated.out_dir / "model_weights.c").read_text()
    b = GraphBuilder()
    x = b.input((1, 2, 2, 1), scale=1.0, zero_point=0)
    x = b.conv2d(x, np.ones((1, 1, 1, 1), dtype=np.int8), 1.0, None, 1e-12, 0)  # multiplier 2^39: shift 40
    with pytest.raises(UnsupportedModelError, match="left shift 40 > 31"):
        generate_c(b.build(outputs=[x]), tmp_path / "big")


def test_in_place_layers_share_the_arena(tmp_path):
    graph = _graph(0.0)
    portable = generate_c(graph, tmp_path / "portable", weight_format="dense")
    dsp = generate_c(graph, tmp_path / "dsp", weight_format="dense", board="cortex-m4")
    assert dsp.arena_bytes < portable.arena_bytes


def test_cores_without_dsp_get_portable_kernels(tmp_path):
    generated = generate_c(_graph(0.6), tmp_path / "gen", board="cortex-m3")
    assert not any(layer.kernel.endswith("_dsp") for layer in generated.layers)


def test_fast_requantization_bounds():
    matrix = np.full((2, 4), 127, dtype=np.int8)
    assert fast_requant_exact(matrix, [0, 0], [1 << 30, (1 << 31) - 1], [-1, -23])
    assert not fast_requant_exact(matrix, [0, 0], [1 << 30, 1 << 30], [-1, 0])  # no rounding shift
    assert not fast_requant_exact(matrix, [0, 0], [1 << 30, 1 << 30], [-24, -1])  # offset could overflow
    assert not fast_requant_exact(matrix, [(1 << 30) - 10, 0], [1 << 30, 1 << 30], [-1, -1])  # accumulator
    layout = Layout(kind="CONV_2D", positions=16, input_c=4)
    # outside the bounds the dense DSP kernel still runs the layer, every output checked (requant.checked)
    choice = choose_kernel(matrix, "pqk_conv2d_s8", layout, "dense", Target(has_dsp=True), fast_requant=False)
    assert choice.kernel == "pqk_conv2d_s8_dsp" and choice.requant_checked
    choice = choose_kernel(matrix, "pqk_conv2d_s8", layout, "dense", Target(has_dsp=True), fast_requant=True)
    assert choice.kernel == "pqk_conv2d_s8_dsp" and not choice.requant_checked


REQUANT_CHECK = r"""
#include <stdio.h>
#include <stdlib.h>
#include "pqk_dsp.h"
#include "pqk_requantize.h"

static uint64_t state = 88172645463325252ull;
static uint32_t next(void) { state ^= state << 13; state ^= state >> 7; state ^= state << 17; return (uint32_t)state; }

int main(void)
{
    static const int32_t edges[] = {0, 1, -1, 2, -2, 3, -3, 1 << 20, -(1 << 20), (1 << 30) - 1, -(1 << 30) + 1};
    long i;
    for (i = 0; i < 3000000; ++i) {
        const int32_t shift = -1 - (int32_t)(next() % 23);
        const int32_t multiplier = (i % 97 == 0) ? 0 : (i % 89 == 0) ? (1 << 30) : (int32_t)((1u << 30) | (next() >> 2));
        const int32_t zero_point = (int32_t)(next() % 256) - 128;
        /* an activation range as the modes see it: full, or a clamp whose minimum is at or above
         * the zero point (PQK_FAST_NEGATIVES_CLAMPED), or any other */
        const int32_t above_zero_point = zero_point + (int32_t)(next() % (uint32_t)(128 - zero_point));
        const int32_t low = i % 4 == 0 ? -128 : i % 4 == 1 ? above_zero_point : (int32_t)(next() % 256) - 128;
        const int32_t high = i % 4 == 0 ? 127 : low + (int32_t)(next() % (uint32_t)(128 - low));
        int32_t acc = (i % 3 == 0) ? edges[i % 11] : (int32_t)(next() >> 1) - (1 << 30);
        if (i % 5 == 0) acc = (int32_t)(next() % 200001) - 100000;
        {
            const int8_t shifts[1] = {(int8_t)shift};
            const int32_t multipliers[1] = {multiplier};
            const pqk_requant_s8_t rq = {NULL, multipliers, shifts, zero_point, low, high, 0};
            const int mode = pqk_fast_mode(&rq);
            const pqk_fast_requant_t q = pqk_fast_requant_channel(&rq, 0, mode);
            const int32_t fast = pqk_fast_clamp(pqk_fast_requantize(acc, &q, mode), mode, low, high);
            const int32_t general = pqk_fast_clamp(pqk_fast_requantize(acc, &q, 0), 0, low, high);
            const int32_t doubled = pqk_fast_clamp(pqk_fast_requantize_doubled(2 * acc, &q, mode), mode, low, high);
            const int32_t slow = pqk_clamp_s8(pqk_requantize(acc, multiplier, shift) + zero_point, low, high);
            /* PQK_FAST_CHECKED: any accumulator, multiplier and shift of pqk_requant_s8_t */
            const int32_t any_acc = (int32_t)next(), any_multiplier = (int32_t)(next() >> 1);
            const int8_t any_shift[1] = {(int8_t)((int32_t)(next() % 47) - 31)};
            const pqk_requant_s8_t any = {NULL, &any_multiplier, any_shift, zero_point, low, high, 1};
            const pqk_fast_requant_t q_any = pqk_fast_requant_channel(&any, 0, pqk_fast_mode(&any));
            const int32_t checked = pqk_fast_clamp(pqk_fast_requantize(any_acc, &q_any, PQK_FAST_CHECKED),
                                                   PQK_FAST_CHECKED, low, high);
            const int32_t exact = pqk_clamp_s8(pqk_requantize(any_acc, any_multiplier, any_shift[0]) + zero_point,
                                               low, high);
            if (pqk_fast_mode(&any) != PQK_FAST_CHECKED || checked != exact) {
                printf("MISMATCH checked acc=%ld m=%ld shift=%d zp=%ld checked=%ld exact=%ld\n", (long)any_acc,
                       (long)any_multiplier, any_shift[0], (long)zero_point, (long)checked, (long)exact);
                return 1;
            }
            if (fast != slow || general != slow || doubled != slow) {
                printf("MISMATCH acc=%ld m=%ld shift=%ld zp=%ld range=[%ld, %ld] mode=%d fast=%ld general=%ld "
                       "doubled=%ld slow=%ld\n", (long)acc, (long)multiplier, (long)shift, (long)zero_point, (long)low,
                       (long)high, mode, (long)fast, (long)general, (long)doubled, (long)slow);
                return 1;
            }
        }
    }
    printf("ok\n");
    return 0;
}
"""


def test_fast_requantize_equals_pqk_requantize(tmp_path, toolchain):
    """pqk_dsp.h's fast form in every mode against pqk_requantize.h over its whole valid domain, and
    the checked mode over any accumulator, multiplier and shift (host C fallback)."""
    source = tmp_path / "requant_check.c"
    source.write_text(REQUANT_CHECK)
    binary = tmp_path / "requant_check"
    subprocess.run(["gcc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", f"-I{RUNTIME}", str(source), "-o",
                    str(binary)], check=True, capture_output=True)
    result = subprocess.run([str(binary)], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stdout


def _fast_requant_cases(count=200_000, seed=11):
    """(acc, multiplier, shift, zero point) over the fast form's domain, edges included."""
    rng = np.random.default_rng(seed)
    limit = (1 << 30) - 1
    edges = np.array([0, 1, -1, 2, -2, 3, -3, 1 << 20, -(1 << 20), limit, -limit], dtype=np.int64)
    acc = rng.integers(-limit, limit + 1, count)
    acc[::3] = rng.integers(-100_000, 100_001, acc[::3].size)
    acc[:edges.size * 50] = np.repeat(edges, 50)
    shift = rng.integers(-23, 0, count)
    multiplier = rng.integers(1 << 30, 1 << 31, count)
    multiplier[::97] = 0
    multiplier[1::89] = 1 << 30
    multiplier[2::83] = (1 << 31) - 1
    # exact ties of every shift, negative and positive: x * 2^30 / 2^31 = (2j + 1) * 2^(e - 1)
    ties = slice(3, None, 7)
    e = -shift[ties]
    odd = 2 * rng.integers(0, np.int64(1) << (29 - e)) + 1
    acc[ties] = np.where(rng.random(e.size) < 0.75, -odd, odd) << e
    multiplier[ties] = 1 << 30
    zero_point = rng.integers(-128, 128, count)
    return acc, multiplier, shift, zero_point


def test_fast_requantize_python_twin_equals_reference():
    """quant.fast_requantize (the twin of pqk_dsp.h's form) equals multiply_by_quantized_multiplier +
    zero point, saturated; without the sign term, once clamped to any minimum >= the zero point."""
    from pqk_mcu.quant import fast_requantize, fast_requantize_array, multiply_by_quantized_multiplier_array

    acc, multiplier, shift, zero_point = _fast_requant_cases()
    exact = multiply_by_quantized_multiplier_array(acc, multiplier, shift).astype(np.int64) + zero_point
    fast = fast_requantize_array(acc, multiplier, shift, zero_point).astype(np.int64)
    sign_free = fast_requantize_array(acc, multiplier, shift, zero_point, negatives_clamped=True).astype(np.int64)
    assert fast.tolist() == np.clip(exact, -128, 127).tolist()
    assert np.any(sign_free != fast)  # the term matters before the clamp
    for margin in (0, 1, 40):
        low = np.minimum(zero_point + margin, 127)
        assert np.clip(sign_free, low, 127).tolist() == np.clip(exact, low, 127).tolist()
    for i in range(0, acc.size, 997):  # scalar form = vector form
        args = (int(acc[i]), int(multiplier[i]), int(shift[i]), int(zero_point[i]))
        assert [fast_requantize(*args), fast_requantize(*args, negatives_clamped=True)] == [fast[i], sign_free[i]]


FAST_REQUANT_DUMP = r"""
#include <stdio.h>
#include "pqk_dsp.h"

/* stdin: int32 acc, multiplier, shift, zero point per case; stdout: int8 results of mode 0 and
 * PQK_FAST_NEGATIVES_CLAMPED per case */
int main(void)
{
    int32_t c[4];
    while (fread(c, sizeof c[0], 4, stdin) == 4) {
        const pqk_fast_requant_t q = pqk_fast_requant_make(c[1], c[2], (uint32_t)c[3] * 2u + 1u, 0);
        const int8_t out[2] = {(int8_t)pqk_fast_requantize(c[0], &q, 0),
                               (int8_t)pqk_fast_requantize(c[0], &q, PQK_FAST_NEGATIVES_CLAMPED)};
        fwrite(out, 1, 2, stdout);
    }
    return 0;
}
"""


def test_fast_requantize_c_equals_python_twin(tmp_path, toolchain):
    """pqk_fast_requantize (host C) == quant.fast_requantize_array, with and without the sign term."""
    from pqk_mcu.quant import fast_requantize_array

    source = tmp_path / "fast_requant_dump.c"
    source.write_text(FAST_REQUANT_DUMP)
    binary = tmp_path / "fast_requant_dump"
    subprocess.run(["gcc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", f"-I{RUNTIME}", str(source), "-o",
                    str(binary)], check=True, capture_output=True)
    acc, multiplier, shift, zero_point = _fast_requant_cases(seed=12)
    cases = np.stack([acc, multiplier, shift, zero_point], axis=1).astype(np.int32)
    result = subprocess.run([str(binary)], input=cases.tobytes(), capture_output=True, check=True)
    c_out = np.frombuffer(result.stdout, dtype=np.int8).reshape(-1, 2)
    for column, clamped in enumerate((False, True)):
        python = fast_requantize_array(acc, multiplier, shift, zero_point, negatives_clamped=clamped)
        assert c_out[:, column].tolist() == python.tolist(), clamped


def _unpack_records(packed):
    """(bias, info) per row from PackedCsr.records."""
    raw = packed.records[4 - packed.record_bytes:].reshape(-1, packed.record_bytes).astype(np.int64)
    words = sum(raw[:, i] << (8 * i) for i in range(packed.record_bytes))
    bits = 8 * packed.record_bytes
    words = np.where(words >= 1 << (bits - 1), words - (1 << bits), words)
    return words >> packed.info_bits, words & ((1 << packed.info_bits) - 1)


def _unpack_multiplier_shift(packed):
    words = packed.multiplier_shift.astype(np.int64)
    return (words & 0x3FFFFFFF) + (1 << 30), -(packed.right_shift_base + (words >> 30))


@pytest.mark.parametrize("bias_scale", [100, 10_000_000])
def test_packed_csr_round_trips(bias_scale):
    """Conv rows: records hold twice the bias (3 bytes while it fits, else 4); multiplier and shift
    come back from their packed word; the nonzeros are the CSR's, doubled, interleaved with their
    columns, the last of each row flagged, and an empty row has one zero entry."""
    from pqk_mcu.codegen.weights import encode_csr, encode_packed

    rng = np.random.default_rng(5)
    matrix = _weights(rng, (10, 40), 0.8)
    matrix[3] = 0
    bias = rng.integers(-bias_scale, bias_scale, 10)
    multiplier = rng.integers(1 << 30, 1 << 31, 10)
    shift = rng.integers(-9, -5, 10)
    packed = encode_packed(matrix, False, bias, multiplier, shift)
    csr = encode_csr(matrix)
    assert packed.record_bytes == (3 if bias_scale == 100 else 4)
    assert packed.records.size == 10 * packed.record_bytes + 4 - packed.record_bytes  # 3 bytes: a pad byte first
    unpacked_bias, info = _unpack_records(packed)
    assert packed.info_bits == 0 and unpacked_bias.tolist() == (2 * bias).tolist()
    assert [a.tolist() for a in _unpack_multiplier_shift(packed)] == [multiplier.tolist(), shift.tolist()]
    entries = packed.value_columns.astype(np.uint16)
    twice_values, columns, last = entries.view(np.int16) >> 7, entries & 63, (entries >> 6) & 1
    rows = np.split(np.arange(entries.size), np.flatnonzero(last) + 1)[:-1]
    assert len(rows) == 10 and all(last[row].tolist() == [0] * (row.size - 1) + [1] for row in rows)
    assert [twice_values[rows[3]].tolist(), columns[rows[3]].tolist()] == [[0], [0]]  # the empty row's zero entry
    for r, row in enumerate(rows):
        if r != 3:
            begin, end = int(csr.row_ptr[r]), int(csr.row_ptr[r + 1])
            assert twice_values[row].tolist() == (2 * csr.values[begin:end].astype(int)).tolist()
            assert columns[row].tolist() == csr.columns[begin:end].tolist()
    assert packed.index_bytes == packed.value_columns.size  # the column bytes of value_columns


def test_packed_depthwise_rows():
    """Depthwise rows: nonzeros and first column in the record, the constant output of a row without
    nonzeros as its bias, multiplier and shift only for rows with nonzeros, later columns only."""
    from pqk_mcu.codegen.weights import encode_packed

    matrix = np.zeros((4, 9), dtype=np.int8)
    matrix[0, 4] = 5
    matrix[2, [1, 3, 8]] = [-7, 9, 11]
    bias = np.array([300, -400, 500, 600])
    constants = np.array([1, -9, 2, 127])
    multiplier = np.array([1 << 30, 3 << 29, (1 << 31) - 1, 1 << 30])
    shift = np.array([-3, -4, -5, -6])
    packed = encode_packed(matrix, True, bias, multiplier, shift, constant_outputs=constants)
    unpacked_bias, info = _unpack_records(packed)
    assert unpacked_bias.tolist() == [300, -9, 500, 127]
    assert (info >> 4).tolist() == [1, 0, 3, 0] and (info & 15)[[0, 2]].tolist() == [4, 1]
    assert packed.columns.tolist() == [3, 8] and packed.values.tolist() == [5, -7, 9, 11]
    m, s = _unpack_multiplier_shift(packed)
    assert m.tolist() == multiplier[[0, 2]].tolist() and s.tolist() == shift[[0, 2]].tolist()


def test_packed_csr_refuses_what_it_cannot_hold():
    from pqk_mcu.codegen.weights import encode_packed

    matrix = np.ones((2, 9), dtype=np.int8)
    bias, multiplier = np.zeros(2), np.full(2, 1 << 30)
    assert encode_packed(matrix, False, bias, multiplier, np.array([-1, -5])) is None  # five right shifts apart
    assert encode_packed(matrix, False, bias, np.array([0, 1 << 30]), np.array([-1, -1])) is None  # zero multiplier
    assert encode_packed(matrix, False, np.array([0, 1 << 30]), multiplier, np.array([-1, -1])) is None  # wide bias
    assert encode_packed(np.ones((2, 16), dtype=np.int8), True, bias, multiplier, np.array([-1, -1]),
                         constant_outputs=np.zeros(2)) is None  # 16 taps
    assert encode_packed(np.ones((2, 65), dtype=np.int8), False, bias, multiplier,
                         np.array([-1, -1])) is None  # six column bits


def _wide_bias_graph():
    """Biases too wide for 3-byte records (conv) and 16 bits (depthwise): 4-byte records."""
    rng = np.random.default_rng(9)
    b = GraphBuilder()
    x = b.input((1, 6, 5, 4), scale=0.05, zero_point=-3)
    x = b.depthwise_conv2d(x, _weights(rng, (1, 3, 3, 4), 0.7), list(rng.uniform(0.0005, 0.001, 4)),
                           rng.integers(-60_000, 60_000, 4).astype(np.int32), 0.05, 7, padding="SAME")
    x = b.conv2d(x, _weights(rng, (8, 1, 1, 4), 0.5), list(rng.uniform(0.00001, 0.00002, 8)),
                 rng.integers(-3_000_000, 3_000_000, 8).astype(np.int32), 0.5, -1, padding="SAME")
    return b.build(outputs=[x])


@pytest.mark.parametrize("target", ["host", "cortex-m4"])
def test_packed_four_byte_records_bit_exact(tmp_path, toolchain, target):
    generated = generate_c(_wide_bias_graph(), tmp_path / "gen", weight_format="csr", board="cortex-m4")
    assert {layer.kernel for layer in generated.layers} == {"pqk_depthwise_conv2d_s8_csr_dsp",
                                                            "pqk_conv2d_s8_csr_dsp"}
    assert ".record_bytes = 4" in (generated.out_dir / "model_weights.c").read_text()
    _assert_bit_exact(generated, target, tmp_path)


def _widest_packed_conv_graph():
    """A 1x1 conv over 64 channels (the packed conv's widest rows: column 63 with the last-of-row bit
    and the value above them): rows ending at column 63, an empty row, a single-nonzero row, a full row."""
    rng = np.random.default_rng(13)
    w = _weights(rng, (6, 1, 1, 64), 0.9)
    w[0, 0, 0, 63] = -127
    w[1] = 0
    w[2] = 0
    w[2, 0, 0, 63] = 127
    w[3] = rng.integers(1, 4, size=64)
    b = GraphBuilder()
    x = b.input((1, 3, 4, 64), scale=0.05, zero_point=-3)
    x = b.conv2d(x, w, list(rng.uniform(0.0005, 0.001, 6)), rng.integers(-500, 500, 6).astype(np.int32), 0.2, 4)
    return b.build(outputs=[x])




def _width_padded_conv_graph():
    """Sparse convolutions that take the width-padded input copy: DS-CNN's first layer shape
    (10x4 stride 2 SAME, one input channel: windows over all four borders) on a small odd map, then
    3x3 stride 2 SAME on 3 channels (a filter row of 9 bytes: the transpose's byte remainder)."""
    rng = np.random.default_rng(11)
    b = GraphBuilder()
    x = b.input((1, 13, 7, 1), scale=0.25, zero_point=10)
    x = b.conv2d(x, _weights(rng, (3, 10, 4, 1), 0.5), list(rng.uniform(0.002, 0.01, 3)),
                 rng.integers(-500, 500, 3).astype(np.int32), 0.1, -128, stride=2, padding="SAME",
                 activation="RELU")
    x = b.conv2d(x, _weights(rng, (5, 3, 3, 3), 0.5), list(rng.uniform(0.002, 0.01, 5)),
                 rng.integers(-500, 500, 5).astype(np.int32), 0.1, 6, stride=2, padding="SAME")
    return b.build(outputs=[x])


@pytest.mark.parametrize("target", ["host", "cortex-m4"])
@pytest.mark.parametrize("graph", [_widest_packed_conv_graph, _width_padded_conv_graph])
def test_packed_conv_bit_exact(tmp_path, toolchain, target, graph):
    generated = generate_c(graph(), tmp_path / "gen", weight_format="csr", board="cortex-m4")
    assert {layer.kernel for layer in generated.layers} == {"pqk_conv2d_s8_csr_dsp"}
    _assert_bit_exact(generated, target, tmp_path)


def _requantize_block_graph(pixels: int = 29):
    """1x1 convs over 64 channels in the usual int8 mode (ReLU onto all of int8, zero point -128:
    pqk_conv2d_s8_csr_dsp's assembly path), 29 pixels by default (three full blocks and a partial
    one of five): empty rows (one zero entry), single entries at columns 0 and 63, a full row, biases
    that saturate at 127 or leave every accumulator negative, per-channel scales over a factor of 8
    (shift codes 0 to 3); the second layer's biases need 4-byte records."""
    rng = np.random.default_rng(17)
    w = _weights(rng, (24, 1, 1, 64), 0.85)
    w[0] = 0
    w[1] = 0
    w[1, 0, 0, 63] = -127
    w[2] = 0
    w[2, 0, 0, 0] = 127
    w[3] = rng.integers(-127, 128, size=64)
    w[4] = 0
    bias = rng.integers(-3_000, 3_000, 24).astype(np.int32)
    bias[4], bias[5], bias[6] = 400_000, -400_000, 200_000
    scales = list(rng.uniform(0.0008, 0.0064, 24))
    b = GraphBuilder()
    x = b.input((1, pixels, 1, 64), scale=0.05, zero_point=-3)
    first = b.conv2d(x, w, scales, bias, 0.1, -128, activation="RELU")
    w2 = _weights(rng, (64, 1, 1, 24), 0.7)
    w2[7] = 0
    bias2 = rng.integers(-6_000_000, 6_000_000, 64).astype(np.int32)
    second = b.conv2d(first, w2, list(rng.uniform(0.00001, 0.00008, 64)), bias2, 0.5, -128, activation="RELU")
    return b.build(outputs=[first, second])


@pytest.mark.parametrize("target", ["host", "cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55"])
def test_packed_conv_assembly_path_bit_exact(tmp_path, toolchain, without_sparse_mve, target):
    board = "cortex-m4" if target == "host" else target
    generated = generate_c(_requantize_block_graph(), tmp_path / "gen", weight_format="csr", board=board)
    assert [layer.kernel for layer in generated.layers] == ["pqk_conv2d_s8_csr_dsp"] * 2
    weights = (generated.out_dir / "model_weights.c").read_text()
    assert ".record_bytes = 3" in weights and ".record_bytes = 4" in weights
    first = [run_reference(generated.graph, [x])["outputs"][0] for x in _inputs(generated.graph)]
    assert all((y == 127).any() and (y == -128).any() for y in first)  # saturated both ways
    _assert_bit_exact(generated, target, tmp_path)


@pytest.mark.parametrize("target", ["cortex-m4", "cortex-m55"])
@pytest.mark.parametrize("pixels", [17, 31])
def test_packed_conv_assembly_partial_blocks_bit_exact(tmp_path, toolchain, without_sparse_mve, target, pixels):
    """The assembly's partial blocks of one and of seven pixels (its jump into the stores goes to the
    first or the last of them) store exactly their pixels."""
    generated = generate_c(_requantize_block_graph(pixels), tmp_path / "gen", weight_format="csr", board=target)
    assert [layer.kernel for layer in generated.layers] == ["pqk_conv2d_s8_csr_dsp"] * 2
    _assert_bit_exact(generated, target, tmp_path)


def _empty_channel_runs_graph():
    """Depthwise layers whose channels without taps come in runs of one to seven at every alignment,
    up to the last channel (23 channels: the pixels' halfword and word stores are unaligned), the
    others with one or two taps; SAME stride 1 in place, ReLU onto all of int8, then a narrower
    clamp; 15 pixels (one eight-pixel step of the fill loop and a remainder)."""
    rng = np.random.default_rng(23)
    patterns = (".T..T...T....T.....T...", "T.......T..T.T....T....")  # T: has taps, .: none
    b = GraphBuilder()
    x = b.input((1, 5, 3, 23), scale=0.05, zero_point=-3)
    for pattern, activation, zero_point in zip(patterns, ("RELU", "RELU6"), (-128, 5)):
        weights = np.zeros((1, 3, 3, len(pattern)), dtype=np.int8)
        for c in (c for c, mark in enumerate(pattern) if mark == "T"):
            for tap in rng.choice(9, size=rng.integers(1, 3), replace=False):
                weights[0, tap // 3, tap % 3, c] = rng.integers(1, 128) * rng.choice([-1, 1])
        x = b.depthwise_conv2d(x, weights, list(rng.uniform(0.002, 0.02, len(pattern))),
                               rng.integers(-3_000, 3_000, len(pattern)).astype(np.int32), 0.05, zero_point,
                               padding="SAME", activation=activation)
    return b.build(outputs=[x])


@pytest.mark.parametrize("target", ["host", "cortex-m4"])
def test_depthwise_empty_channel_runs_bit_exact(tmp_path, toolchain, target):
    generated = generate_c(_empty_channel_runs_graph(), tmp_path / "gen", weight_format="csr", board="cortex-m4")
    assert {layer.kernel for layer in generated.layers} == {"pqk_depthwise_conv2d_s8_csr_dsp"}
    _assert_bit_exact(generated, target, tmp_path)
