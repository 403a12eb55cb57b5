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



def options_type(table: str | None) -> int | None:
    """The BuiltinOptions code of an options table named as the schema names it (None stays None)."""
    return None if table is None else getattr(schema.BuiltinOptions, table)


def new_options(table: str):
    """An empty options object (schema's object API) of the named table, to fill and pack."""
    return getattr(schema, table + "T")()
