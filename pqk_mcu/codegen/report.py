"""Human-readable summary of a GeneratedModel (per-layer kernels and formats, memory)."""

from __future__ import annotations

from rich.table import Table

from pqk_mcu.codegen.generate import GeneratedModel


def layer_table(generated: GeneratedModel, title: str | None = None) -> Table:
    table = Table(title=title)
    for column, justify in (("#", "right"), ("op", "left"), ("kernel", "left"), ("format", "left"),
                            ("sparsity", "right"), ("MACs", "right"), ("est. instructions", "right")):
        table.add_column(column, justify=justify)
    for layer in generated.layers:
        weighted = layer.format != "-"
        table.add_row(
            str(layer.index), layer.op, layer.kernel or "(alias)", layer.format,
            f"{layer.sparsity:.1%}" if weighted else "", f"{layer.macs:,}" if layer.macs else "",
            f"{layer.estimated_instructions:,}" if weighted else "",
        )
    return table


def memory_line(generated: GeneratedModel) -> str:
    flash = generated.flash_bytes
    return (
        f"arena {generated.arena_bytes:,} B, input {generated.input_size:,} B, output {generated.output_size:,} B; "
        f"weights {flash['weights']:,} B, indices {flash['indices']:,} B, requant {flash['requant']:,} B, "
        f"tables {flash['tables']:,} B"
    )
