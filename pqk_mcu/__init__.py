"""pqk-mcu: PQK training and CSR-sparse fixed-point code generation for Cortex-M."""

__version__ = "0.1.0"
