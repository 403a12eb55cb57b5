/* pqk runtime: parameter blocks and prototypes of the portable int8 kernels.
 *
 * Conventions shared by every kernel (one public function per pqk_<op>_s8[_<variant>].c file):
 *  - Activations are int8 NHWC, contiguous, batch outermost. Pointers never alias unless a kernel
 *    says so.
 *  - Argument order is fixed: params, weights (when the op has them), inputs, output.
 *  - Everything arithmetic (multipliers, shifts, folded biases, padding offsets, clamps, tables)
 *    is computed at compile time by pqk_mcu.codegen; kernels do integer work only.
 *  - Requantization is pqk_requantize() from pqk_requantize.h, bit-exact with pqk_mcu.quant.
 *  - Bias arrays are "folded": bias[oc] + (-input_zero_point) * sum(weights of oc), so the inner loops
 *    multiply raw int8 values. Taps that fall into padding read input_zero_point instead, which keeps
 *    the result identical to skipping them.
 */
#ifndef PQK_RUNTIME_H
#define PQK_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

/* Compressed sparse rows of an int8 weight matrix [rows][cols]: the rows' nonzeros one row after
 * another in values, each row in ascending column order. Exactly one of col_u8 / col_u16 is non-NULL
 * (the narrowest type that holds every column), and exactly one of
 *   row_len_u8               the number of nonzeros of each row, when no row has more than 255,
 *   row_ptr_u16 / row_ptr_u32 row r is values[row_ptr[r] .. row_ptr[r + 1]) (the narrowest type).
 * Kernels visit the rows in order (row 0 starts at 0), which both forms serve. */
typedef struct {
    const int8_t *values;
    const uint8_t *col_u8;
    const uint16_t *col_u16;
    const uint8_t *row_len_u8;
    const uint16_t *row_ptr_u16;
    const uint32_t *row_ptr_u32;
} pqk_csr_s8_t;

/* Packed CSR of the *_csr_dsp kernels (pqk_mcu/codegen/weights.py PackedCsr): the nonzeros with each
 * row's requantization. records: one pad byte when record_bytes is 3, then record_bytes (3 or 4)
 * little-endian bytes per row, bias << info_bits | info (bias signed). Conv rows: info_bits 0, bias =
 * twice the folded bias; the nonzeros are in value_columns, one entry 2 * value << 7 | (last of its
 * row) << 6 | column each, one zero entry for a row without nonzeros (values and columns NULL).
 * Depthwise rows: info = nonzeros << 4 | first column (info_bits 8), or with info_bits 11 also the
 * high bits of the row's shift code, (code >> 2) << 8; a row without nonzeros has its constant
 * output as bias; the nonzeros in values, in columns the columns after each row's first
 * (value_columns NULL). multiplier_shift: per row (conv) or per row with nonzeros (depthwise),
 * (multiplier - 2^30) | (code & 3) << 30, code = right shift - right_shift_base (conv: < 4). The
 * params' requant arrays are then NULL. */
typedef struct {
    const int8_t *values;
    const uint8_t *columns;
    const uint16_t *value_columns;
    const uint32_t *multiplier_shift;
    const uint8_t *records;
    int32_t record_bytes;
    int32_t info_bits;
    int32_t right_shift_base;
} pqk_packed_csr_s8_t;

/* Where row `row` ends in values, given where it starts. */
static inline uint32_t pqk_csr_row_end(const pqk_csr_s8_t *csr, int32_t row, uint32_t start)
{
    if (csr->row_len_u8 != NULL) {
        return start + csr->row_len_u8[row];
    }
    return csr->row_ptr_u16 != NULL ? csr->row_ptr_u16[row + 1] : csr->row_ptr_u32[row + 1];
}

/* The column of nonzero k. */
static inline int32_t pqk_csr_column(const pqk_csr_s8_t *csr, uint32_t k)
{
    return csr->col_u8 != NULL ? (int32_t)csr->col_u8[k] : (int32_t)csr->col_u16[k];
}

/* Requantization of a per-channel accumulator to int8. */
typedef struct {
    const int32_t *bias;       /* [channels], folded with the input zero point */
    const int32_t *multiplier; /* [channels], Q31 in [2^30, 2^31) or 0 */
    const int8_t *shift;       /* [channels], > 0 shifts left; in [-31, 30] */
    int32_t output_zero_point; /* [-128, 127] */
    int32_t activation_min;    /* clamp after adding the zero point, [-128, 127] */
    int32_t activation_max;
    int32_t checked;           /* *_dsp kernels: 1 when a channel is outside pqk_dsp.h's fast bounds */
} pqk_requant_s8_t;

/* 2-D window geometry (conv, depthwise conv, pooling). */
typedef struct {
    int32_t batches;
    int32_t input_h, input_w, input_c;
    int32_t output_h, output_w, output_c;
    int32_t filter_h, filter_w;
    int32_t stride_h, stride_w;
    int32_t dilation_h, dilation_w;
    int32_t pad_top, pad_left; /* TFLite padding before the data; the rest falls after it */
} pqk_window_t;

/* The taps of a pooling window that fall inside the input along one axis: [*start, *end).
 * origin = output index * stride - padding before the data; filter = window size; size = input size. */
static inline void pqk_window_span(int32_t origin, int32_t filter, int32_t size, int32_t *start, int32_t *end)
{
    *start = origin < 0 ? 0 : origin;
    *end = origin + filter < size ? origin + filter : size;
}

/* CONV_2D. Dense weights: OHWI [output_c][filter_h][filter_w][input_c].
 * CSR weights: one row per output channel over columns (fh * filter_w + fw) * input_c + ic. */
typedef struct {
    pqk_window_t window;
    int32_t input_zero_point; /* value of padded taps */
    pqk_requant_s8_t requant;
} pqk_conv2d_s8_params_t;

/* DEPTHWISE_CONV_2D, output channel oc = ic * depth_multiplier + m.
 * Dense weights: [filter_h][filter_w][output_c] (TFLite 1HW(I*M) without the leading 1).
 * CSR weights: one row per output channel over columns fh * filter_w + fw. */
typedef struct {
    pqk_window_t window;
    int32_t depth_multiplier;
    int32_t input_zero_point;
    pqk_requant_s8_t requant;
} pqk_depthwise_conv2d_s8_params_t;

/* FULLY_CONNECTED: output[b][o] from input[b][0..input_features) and weights [output_features][input_features]. */
typedef struct {
    int32_t batches;
    int32_t input_features;
    int32_t output_features;
    int32_t per_channel;      /* 1: multiplier and shift per output feature; 0: one for all (per-tensor weights) */
    pqk_requant_s8_t requant; /* bias per output feature */
} pqk_fully_connected_s8_params_t;

/* AVERAGE_POOL_2D / MAX_POOL_2D: window.input_c == window.output_c, no requantization. */
typedef struct {
    pqk_window_t window;
    int32_t activation_min;
    int32_t activation_max;
} pqk_pool2d_s8_params_t;

/* Shapes of a broadcasting binary op, as 4-D (leading 1s added). Strides are in elements; a stride of
 * 0 repeats the input along that dimension. */
typedef struct {
    int32_t output_shape[4];
    int32_t input1_strides[4];
    int32_t input2_strides[4];
} pqk_broadcast_t;

/* ADD and SUB (TFLite int8 semantics: both inputs scaled to 2 * max(scale) with a 2^left_shift headroom). */
typedef struct {
    pqk_broadcast_t shape;
    int32_t input1_offset, input2_offset; /* -zero_point */
    int32_t left_shift;
    int32_t input1_multiplier, input1_shift;
    int32_t input2_multiplier, input2_shift;
    int32_t output_multiplier, output_shift;
    int32_t output_zero_point;
    int32_t activation_min, activation_max;
} pqk_add_s8_params_t;

/* ADD by table lookup (pqk_add_s8_lut.c). shape: collapsed at compile time (adjacent dimensions merged
 * where both inputs advance or repeat alike), so an ADD without broadcasting is one row. */
typedef struct {
    pqk_broadcast_t shape;
    const int32_t *input1_table; /* [256]: 2 * rescaled input1 value of x at [x + 128], |entry| < 2^29 */
    const int32_t *input2_table; /* [256], the same for input2 */
    int32_t fast_requantize;     /* 1: pqk_dsp.h's fast requantization is exact for this layer */
    int32_t output_multiplier, output_shift;
    int32_t output_zero_point;
    int32_t activation_min, activation_max;
} pqk_add_s8_lut_params_t;

/* MUL: (x1 + offset1) * (x2 + offset2) requantized. */
typedef struct {
    pqk_broadcast_t shape;
    int32_t input1_offset, input2_offset;
    int32_t output_multiplier, output_shift;
    int32_t output_zero_point;
    int32_t activation_min, activation_max;
} pqk_mul_s8_params_t;

/* PRELU: x = input + input_offset; x >= 0 requantized by the identity multiplier, else
 * x * (alpha + alpha_offset) by the alpha multiplier; plus output_zero_point, clamped to int8. */
typedef struct {
    pqk_broadcast_t shape;
    int32_t input_offset, alpha_offset; /* -zero_point */
    int32_t identity_multiplier, identity_shift;
    int32_t alpha_multiplier, alpha_shift;
    int32_t output_zero_point;
} pqk_prelu_s8_params_t;

/* MAXIMUM / MINIMUM: raw int8 comparison (inputs and output share one quantization). */
typedef struct {
    pqk_broadcast_t shape;
    int32_t maximum; /* 1: MAXIMUM, 0: MINIMUM */
} pqk_maximum_minimum_s8_params_t;

/* SOFTMAX over the innermost dimension; output scale 1/256, zero point -128.
 * exp_table[d] is gemmlowp exp_on_negative_values (Q0.31) of the rescaled difference -d between an
 * element and its row maximum, or 0 where that difference is below TFLite's diff_min. */
typedef struct {
    int32_t rows;
    int32_t depth;
    const int32_t *exp_table; /* [256] */
} pqk_softmax_s8_params_t;

/* SVDF (TFLite Micro's int8 kernel): the state [batches][filters][memory] (int8, or int16 with
 * wide_state) shifts one value left; each filter's last slot takes the requantized projection of the
 * input, saturated to the state type, then state_zero_point added with the store's wrap; each unit sums
 * rank filters' dot products with weights_time (state_zero_point subtracted) onto its bias. */
typedef struct {
    int32_t batches, input_size, filters, memory, rank;
    int32_t wide_state; /* 1: state and weights_time are int16, 0: int8 */
    int32_t input_zero_point, state_zero_point, output_zero_point;
    int32_t feature_multiplier, feature_shift; /* input x weights_feature -> state */
    int32_t time_multiplier, time_shift;       /* state x weights_time -> output */
    const int8_t *weights_feature;             /* [filters][input_size] (pqk_svdf_s8_csr: NULL) */
    const void *weights_time;                  /* [filters][memory], the state's type */
    const int32_t *bias;                       /* [filters / rank] */
} pqk_svdf_s8_params_t;

/* TRANSPOSE_CONV (TFLite Micro's int8 kernel): output pixel (oy, ox) sums (input - input_zero_point) x
 * filter over the input pixels whose window origin in * stride - pad reaches it; per-channel
 * requantization, output_zero_point, clamp to [activation_min, activation_max]. */
typedef struct {
    int32_t batches, input_h, input_w, input_c, output_h, output_w, output_c;
    int32_t filter_h, filter_w, stride_h, stride_w, pad_h, pad_w;
    int32_t input_zero_point, output_zero_point;
    int32_t activation_min, activation_max;
    const int8_t *filter;      /* [output_c][filter_h][filter_w][input_c] (CSR: NULL) */
    const int32_t *bias;       /* [output_c], or NULL */
    const int32_t *multiplier; /* [output_c] */
    const int32_t *shift;      /* [output_c] */
} pqk_transpose_conv_s8_params_t;

/* UNIDIRECTIONAL_SEQUENCE_LSTM (TFLite Micro's integer kernel: int8 input, weights and hidden state,
 * int16 cell state, no peephole, projection or layer norm); see pqk_lstm_s8.c. Per-gate arrays hold
 * the four gates in TFLite's order (input, forget, cell, output), one after the other. */
typedef struct {
    int32_t batches, steps, input_size, units;
    int32_t time_major; /* 1: input [steps][batches][input_size], output [steps][batches][units] */
    int32_t hidden_zero_point;
    const int32_t *input_multiplier, *input_shift;         /* [4]: input x input weights -> Q3.12 */
    const int32_t *recurrent_multiplier, *recurrent_shift; /* [4]: hidden x recurrent weights -> Q3.12 */
    int32_t forget_multiplier, forget_shift;               /* forget gate x cell state -> cell state */
    int32_t input_gate_multiplier, input_gate_shift;       /* input gate x cell gate -> cell state */
    int32_t hidden_multiplier, hidden_shift;               /* tanh(cell) x output gate -> hidden state */
    int32_t cell_tanh_multiplier, cell_tanh_shift;         /* cell state -> the int16 tanh's input */
    int32_t cell_clip;                                     /* |cell state| limit; 0: none */
    const int8_t *input_weights;                           /* [4][units][input_size] (pqk_lstm_s8_dsp: row quads; CSR: NULL) */
    const int8_t *recurrent_weights;                       /* [4][units][units] (likewise) */
    const int32_t *input_bias;     /* [4][units]: bias - input zero point x row sum */
    const int32_t *recurrent_bias; /* [4][units]: -hidden zero point x row sum */
    const uint16_t *sigmoid_table; /* [256]: sigmoid(i / 24) in unsigned Q0.16, TFLite's */
} pqk_lstm_s8_params_t;

/* Element-wise int8 -> int8 function given by its table of all 256 inputs:
 * output[i] = table[input[i] + 128]. Used for LOGISTIC, TANH, RELU, RELU6 and int8 QUANTIZE; the
 * tables come from the reference interpreter, so they are exact by construction. */
typedef struct {
    int32_t size;
    const int8_t *table; /* [256] */
} pqk_lut_s8_params_t;

/* PAD of a 4-D tensor with a constant. */
typedef struct {
    int32_t input_shape[4];
    int32_t pad_before[4];
    int32_t pad_after[4];
    int32_t pad_value; /* output zero point, [-128, 127] */
} pqk_pad_s8_params_t;

/* RESIZE_NEAREST_NEIGHBOR: output pixel (y, x) of each batch copies the input pixel at
 * row_offsets[y] + column_offsets[x] (offsets in elements, computed at compile time). */
typedef struct {
    int32_t batches, output_h, output_w, channels;
    int32_t input_batch_size; /* input_h * input_w * channels */
    const int32_t *row_offsets;    /* [output_h] */
    const int32_t *column_offsets; /* [output_w] */
} pqk_resize_nearest_s8_params_t;

/* TRANSPOSE, STRIDED_SLICE: output [d0][d1][d2][d3] written in order from
 * input[input_offset + i0 * input_strides[0] + ... + i3 * input_strides[3]] (strides in elements, may be
 * negative; axes merged at compile time). */
typedef struct {
    int32_t output_shape[4];
    int32_t input_strides[4];
    int32_t input_offset;
} pqk_strided_copy_s8_params_t;

/* MEAN over the middle dimension of a tensor viewed as [outer][reduce][inner] (TFLite int8
 * QuantizedMeanOrSum): requantize(sum - input_zero_point_sum) + output_zero_point, clamped to int8,
 * with 1/reduce folded into (multiplier, shift). */
typedef struct {
    int32_t outer, reduce, inner;
    int32_t input_zero_point_sum; /* input_zero_point * reduce */
    int32_t multiplier, shift;
    int32_t output_zero_point;
} pqk_mean_s8_params_t;

/* MEAN over any axes (pqk_mean_s8_gather): output o sums input[output_offsets[o] + reduce_offsets[r]] over
 * r < reduce, offsets computed at compile time; then as pqk_mean_s8. */
typedef struct {
    int32_t outputs, reduce;
    const int32_t *output_offsets; /* [outputs], into input */
    const int32_t *reduce_offsets; /* [reduce], from an output's first input */
    int32_t input_zero_point_sum;  /* input_zero_point * reduce */
    int32_t multiplier, shift;
    int32_t output_zero_point;
} pqk_mean_s8_gather_params_t;

/* CONCATENATION along one axis of tensors viewed as [outer][axis_i * inner]. */
typedef struct {
    int32_t outer;
    int32_t num_inputs;
    const int32_t *copy_sizes; /* [num_inputs], axis_i * inner bytes */
} pqk_concatenation_s8_params_t;

void pqk_conv2d_s8(const pqk_conv2d_s8_params_t *params, const int8_t *weights, const int8_t *input, int8_t *output);
void pqk_conv2d_s8_csr(const pqk_conv2d_s8_params_t *params, const pqk_csr_s8_t *weights, const int8_t *input,
                       int8_t *output);
void pqk_depthwise_conv2d_s8(const pqk_depthwise_conv2d_s8_params_t *params, const int8_t *weights,
                             const int8_t *input, int8_t *output);
void pqk_depthwise_conv2d_s8_csr(const pqk_depthwise_conv2d_s8_params_t *params, const pqk_csr_s8_t *weights,
                                 const int8_t *input, int8_t *output, int8_t *scratch);
int32_t pqk_depthwise_conv2d_s8_csr_buffer_size(const pqk_depthwise_conv2d_s8_params_t *params);
void pqk_fully_connected_s8(const pqk_fully_connected_s8_params_t *params, const int8_t *weights,
                            const int8_t *input, int8_t *output);
void pqk_fully_connected_s8_csr(const pqk_fully_connected_s8_params_t *params, const pqk_csr_s8_t *weights,
                                const int8_t *input, int8_t *output);
void pqk_avg_pool2d_s8(const pqk_pool2d_s8_params_t *params, const int8_t *input, int8_t *output);
void pqk_max_pool2d_s8(const pqk_pool2d_s8_params_t *params, const int8_t *input, int8_t *output);
void pqk_add_s8(const pqk_add_s8_params_t *params, const int8_t *input1, const int8_t *input2, int8_t *output);
void pqk_sub_s8(const pqk_add_s8_params_t *params, const int8_t *input1, const int8_t *input2, int8_t *output);
void pqk_add_s8_lut(const pqk_add_s8_lut_params_t *params, const int8_t *input1, const int8_t *input2,
                    int8_t *output);
void pqk_mul_s8(const pqk_mul_s8_params_t *params, const int8_t *input1, const int8_t *input2, int8_t *output);
void pqk_prelu_s8(const pqk_prelu_s8_params_t *params, const int8_t *input, const int8_t *alpha, int8_t *output);
void pqk_maximum_minimum_s8(const pqk_maximum_minimum_s8_params_t *params, const int8_t *input1,
                            const int8_t *input2, int8_t *output);
void pqk_softmax_s8(const pqk_softmax_s8_params_t *params, const int8_t *input, int8_t *output);
/* The same parameters, output int16 with scale 1/65536 and zero point -32768 (TFLite Micro's 8-in 16-out form). */
void pqk_softmax_s8_s16(const pqk_softmax_s8_params_t *params, const int8_t *input, int16_t *output);
void pqk_lstm_s8(const pqk_lstm_s8_params_t *params, const int8_t *input, int8_t *hidden_state,
                 int16_t *cell_state, int8_t *output);
/* Either weight matrix (or both) in CSR with its rows unit by unit; NULL: the params' dense matrix. */
void pqk_lstm_s8_csr(const pqk_lstm_s8_params_t *params, const pqk_csr_s8_t *input_weights,
                     const pqk_csr_s8_t *recurrent_weights, const int8_t *input, int8_t *hidden_state,
                     int16_t *cell_state, int8_t *output);
void pqk_svdf_s8(const pqk_svdf_s8_params_t *params, const int8_t *input, void *state, int8_t *output);
void pqk_svdf_s8_csr(const pqk_svdf_s8_params_t *params, const pqk_csr_s8_t *weights_feature, const int8_t *input,
                     void *state, int8_t *output);
void pqk_transpose_conv_s8(const pqk_transpose_conv_s8_params_t *params, const int8_t *input, int8_t *output);
/* The filter in CSR (rows: taps [output_c][filter_h][filter_w] over input_c); the params' filter NULL. */
void pqk_transpose_conv_s8_csr(const pqk_transpose_conv_s8_params_t *params, const pqk_csr_s8_t *filter,
                               const int8_t *input, int8_t *output);
void pqk_lut_s8(const pqk_lut_s8_params_t *params, const int8_t *input, int8_t *output);
void pqk_pad_s8(const pqk_pad_s8_params_t *params, const int8_t *input, int8_t *output);
void pqk_resize_nearest_s8(const pqk_resize_nearest_s8_params_t *params, const int8_t *input, int8_t *output);
void pqk_strided_copy_s8(const pqk_strided_copy_s8_params_t *params, const int8_t *input, int8_t *output);
void pqk_mean_s8(const pqk_mean_s8_params_t *params, const int8_t *input, int8_t *output);
void pqk_mean_s8_gather(const pqk_mean_s8_gather_params_t *params, const int8_t *input, int8_t *output);
void pqk_concatenation_s8(const pqk_concatenation_s8_params_t *params, const int8_t *const *inputs,
                          int8_t *output);

/* 16x8 models (int16 activations, zero point 0; int8 weights). Data movement takes the int8 kernel's
 * parameters (pad_value is then an int16 value). */
void pqk_pad_s16(const pqk_pad_s8_params_t *params, const int16_t *input, int16_t *output);
void pqk_strided_copy_s16(const pqk_strided_copy_s8_params_t *params, const int16_t *input, int16_t *output);

/* QUANTIZE of 16x8 models (TFLite Micro's Requantize): int8, int16 or int32 in and out. */
typedef struct {
    int32_t size;
    int32_t input_bytes, output_bytes; /* element sizes: 1, 2 or 4 */
    int32_t input_zero_point, output_zero_point;
    int32_t multiplier, shift;
} pqk_quantize_s16_params_t;

void pqk_quantize_s16(const pqk_quantize_s16_params_t *params, const void *input, void *output);

/* CONV_2D of 16x8 models (TFLite Micro's ConvPerChannel<int64_t>): int16 input and output (zero point 0),
 * int8 weights as in pqk_conv2d_s8_params_t's comment, int64 bias and accumulators. */
typedef struct {
    pqk_window_t window;
    const int64_t *bias;       /* [output_c] */
    const int32_t *multiplier; /* [output_c], Q31 in [2^30, 2^31) or 0 */
    const int8_t *shift;       /* [output_c], in [-31, 7] */
    int32_t activation_min;    /* int16 clamp */
    int32_t activation_max;
} pqk_conv2d_s16_params_t;

void pqk_conv2d_s16(const pqk_conv2d_s16_params_t *params, const int8_t *weights, const int16_t *input,
                    int16_t *output);
void pqk_conv2d_s16_csr(const pqk_conv2d_s16_params_t *params, const pqk_csr_s8_t *weights, const int16_t *input,
                        int16_t *output);

/* DEPTHWISE_CONV_2D of 16x8 models: dense weights as in pqk_depthwise_conv2d_s8_params_t's comment,
 * int64 bias and accumulators, requantization and clamp as pqk_conv2d_s16_params_t. */
typedef struct {
    pqk_window_t window;
    int32_t depth_multiplier;
    const int64_t *bias;       /* [output_c] */
    const int32_t *multiplier; /* [output_c], Q31 in [2^30, 2^31) or 0 */
    const int8_t *shift;       /* [output_c], in [-31, 7] */
    int32_t activation_min;    /* int16 clamp */
    int32_t activation_max;
} pqk_depthwise_conv2d_s16_params_t;

void pqk_depthwise_conv2d_s16(const pqk_depthwise_conv2d_s16_params_t *params, const int8_t *weights,
                              const int16_t *input, int16_t *output);

/* ADD / SUB of 16x8 models: pqk_add_s8_params_t with left_shift 15 and zero points 0. */
void pqk_add_s16(const pqk_add_s8_params_t *params, const int16_t *input1, const int16_t *input2, int16_t *output);
void pqk_sub_s16(const pqk_add_s8_params_t *params, const int16_t *input1, const int16_t *input2, int16_t *output);

/* LEAKY_RELU of 16x8 models: x >= 0 requantized by the identity multiplier, x < 0 by the alpha one. */
typedef struct {
    int32_t size;
    int32_t identity_multiplier, identity_shift;
    int32_t alpha_multiplier, alpha_shift;
} pqk_leaky_relu_s16_params_t;

void pqk_leaky_relu_s16(const pqk_leaky_relu_s16_params_t *params, const int16_t *input, int16_t *output);

/* TRANSPOSE_CONV of 16x8 models: pqk_transpose_conv_s8_params_t's geometry without zero points (0),
 * an int64 bias, int64 accumulators and pqk_requantize_s64 (shift in [-31, 7]); int16 clamp. */
typedef struct {
    int32_t batches, input_h, input_w, input_c, output_h, output_w, output_c;
    int32_t filter_h, filter_w, stride_h, stride_w, pad_h, pad_w;
    int32_t activation_min, activation_max;
    const int8_t *filter;      /* [output_c][filter_h][filter_w][input_c] */
    const int64_t *bias;       /* [output_c], or NULL */
    const int32_t *multiplier; /* [output_c] */
    const int32_t *shift;      /* [output_c] */
} pqk_transpose_conv_s16_params_t;

void pqk_transpose_conv_s16(const pqk_transpose_conv_s16_params_t *params, const int16_t *input, int16_t *output);

/* LOGISTIC and TANH of 16x8 models (TFLite Micro's int16 kernels, zero points 0, output scale 2^-15):
 * the input rescaled to (x * input_multiplier + rounding) >> input_shift interpolates sigmoid_table. */
typedef struct {
    int32_t size;
    int32_t input_multiplier;       /* in [1, 32767] */
    int32_t input_shift;            /* rounding right shift, in [0, 31] */
    const uint16_t *sigmoid_table;  /* [256] sigmoid(i / 24) in unsigned Q0.16 */
} pqk_sigmoid_s16_params_t;

void pqk_logistic_s16(const pqk_sigmoid_s16_params_t *params, const int16_t *input, int16_t *output);
void pqk_tanh_s16(const pqk_sigmoid_s16_params_t *params, const int16_t *input, int16_t *output);

/* SOFTMAX int16 -> int16 (TFLite Micro's SoftmaxInt16): differences to the row maximum requantized by
 * (input_multiplier, input_shift) index exp_table; the normalized row sum indexes reciprocal_table. */
typedef struct {
    int32_t rows, depth;
    int32_t input_multiplier, input_shift; /* pqk_requantize's multiplier and shift */
    const int16_t *exp_table;        /* [513] exp over [-10, 0] in Q0.15 */
    const int16_t *reciprocal_table; /* [513] 1 / (1 + x) over [0, 1] in Q0.15 */
} pqk_softmax_s16_params_t;

void pqk_softmax_s16(const pqk_softmax_s16_params_t *params, const int16_t *input, int16_t *output);

/* MUL of 16x8 models: pqk_mul_s8_params_t with zero offsets and zero point, an int16 clamp. */
void pqk_mul_s16(const pqk_mul_s8_params_t *params, const int16_t *input1, const int16_t *input2, int16_t *output);

/* A variant's scratch argument takes its <kernel>_buffer_size() bytes: that function is the truth,
 * pqk_mcu.codegen.cost_model.scratch_bytes() its compile-time twin for the memory plan (the generated
 * code never calls it), and tests/test_codegen_scratch.py checks that the two agree. */

/* Optimized variants for cores with the DSP extension (same results, extra scratch argument). */
#include "pqk_runtime_dsp.h"
/* Variants for cores without it (two channels per SMLAL, MLA; same results). */
#include "pqk_runtime_mla.h"
/* Helium (MVE) variants (same results, weights in their own layouts, scratch argument). */
#include "pqk_runtime_mve.h"

#endif /* PQK_RUNTIME_H */
