"""The check every op's tests make: the op's graph on random inputs, bit-exact on a backend."""

from __future__ import annotations

from pqk_mcu.exporters.tflite import export_tflite
from pqk_mcu.ir.graph import Graph
from pqk_mcu.pipeline.verify import verify_model
from pqk_mcu.verify import random_inputs


def assert_bit_exact(graph: Graph, backend: str, samples: int, seed: int) -> None:
    """``backend`` "reference" is held to TensorFlow Lite Micro on the exported .tflite; host and boards to the
    reference."""
    model = export_tflite(graph) if backend == "reference" else None
    report = verify_model(graph, model, backend, random_inputs(graph, samples, seed=seed))
    assert report.inputs == samples and report.mismatches == []


# A host program for a stateful model (SVDF, LSTM) built from its generated C.
STREAM_PROGRAM = """\
#include <stdio.h>
#include "model.h"
/* Invokes the model on every sample of argv[1] in turn (the state carried), then resets it and
 * invokes the first sample again; writes every output to argv[2]. */
int main(int argc, char **argv)
{
    static int8_t input[PQK_MODEL_INPUT_SIZE], first[PQK_MODEL_INPUT_SIZE], output[PQK_MODEL_OUTPUT_SIZE];
    FILE *in = fopen(argv[1], "rb"), *out = fopen(argv[2], "wb");
    int count = 0;
    (void)argc;
    while (fread(input, 1, sizeof input, in) == sizeof input) {
        if (count++ == 0) {
            for (size_t i = 0; i < sizeof input; ++i) first[i] = input[i];
        }
        pqk_model_invoke(input, output);
        fwrite(output, 1, sizeof output, out);
    }
    pqk_model_reset();
    pqk_model_invoke(first, output);
    fwrite(output, 1, sizeof output, out);
    fclose(in);
    fclose(out);
    return 0;
}
"""
