"""Exporters: ``Graph`` out to files other tools run (.tflite)."""
