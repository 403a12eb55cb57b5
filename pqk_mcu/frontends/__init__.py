""".tflite and checkpoint importers: files in, verified ``Graph`` out."""
