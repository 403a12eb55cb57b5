"""The TFLite flatbuffer schema (tflite-micro's generated Python) and the name tables the
importer and the exporter share, so both directions map enums the same way."""

from __future__ import annotations

from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

FILE_IDENTIFIER = b"TFL3"
SCHEMA_VERSION = 3

# TFLite BuiltinOperator codes above this value are stored in OperatorCode.builtin_code only;
# deprecated_builtin_code then holds this placeholder.
PLACEHOLDER_FOR_GREATER_OP_CODES = 127

BUILTIN_NAMES: dict[int, str] = {
    code: name for name, code in vars(schema.BuiltinOperator).items() if not name.startswith("_")
}
BUILTIN_CODES: dict[str, int] = {name: code for code, name in BUILTIN_NAMES.items()}

TENSOR_TYPE_NAMES: dict[int, str] = {
    code: name for name, code in vars(schema.TensorType).items() if not name.startswith("_")
}

# TFLite tensor type -> IR dtype (graph.DTYPES); other types are unsupported.
DTYPE_BY_TENSOR_TYPE: dict[int, str] = {
    schema.TensorType.INT8: "int8",
    schema.TensorType.UINT8: "uint8",
    schema.TensorType.INT16: "int16",
    schema.TensorType.INT32: "int32",
    schema.TensorType.INT64: "int64",
    schema.TensorType.FLOAT32: "float32",
    schema.TensorType.BOOL: "bool",
}
TENSOR_TYPE_BY_DTYPE: dict[str, int] = {dtype: code for code, dtype in DTYPE_BY_TENSOR_TYPE.items()}

ACTIVATION_BY_CODE: dict[int, str] = {
    schema.ActivationFunctionType.NONE: "NONE",
    schema.ActivationFunctionType.RELU: "RELU",
    schema.ActivationFunctionType.RELU_N1_TO_1: "RELU_N1_TO_1",
    schema.ActivationFunctionType.RELU6: "RELU6",
}
ACTIVATION_CODES: dict[str, int] = {name: code for code, name in ACTIVATION_BY_CODE.items()}

PADDING_BY_CODE: dict[int, str] = {schema.Padding.SAME: "SAME", schema.Padding.VALID: "VALID"}
PADDING_CODES: dict[str, int] = {name: code for code, name in PADDING_BY_CODE.items()}

# Builtin options table each supported op kind carries (None: the op has no options table).
OPTIONS_TYPE_BY_KIND: dict[str, int | None] = {
    "CONV_2D": schema.BuiltinOptions.Conv2DOptions,
    "DEPTHWISE_CONV_2D": schema.BuiltinOptions.DepthwiseConv2DOptions,
    "FULLY_CONNECTED": schema.BuiltinOptions.FullyConnectedOptions,
    "AVERAGE_POOL_2D": schema.BuiltinOptions.Pool2DOptions,
    "MAX_POOL_2D": schema.BuiltinOptions.Pool2DOptions,
    "ADD": schema.BuiltinOptions.AddOptions,
    "MUL": schema.BuiltinOptions.MulOptions,
    "RESHAPE": schema.BuiltinOptions.ReshapeOptions,
    "SOFTMAX": schema.BuiltinOptions.SoftmaxOptions,
    "QUANTIZE": schema.BuiltinOptions.QuantizeOptions,
    "DEQUANTIZE": schema.BuiltinOptions.DequantizeOptions,
    "PAD": schema.BuiltinOptions.PadOptions,
    "MEAN": schema.BuiltinOptions.ReducerOptions,
    "CONCATENATION": schema.BuiltinOptions.ConcatenationOptions,
    "RELU": None,
    "RELU6": None,
    "LOGISTIC": None,
    "TANH": None,
}
