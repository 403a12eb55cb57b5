""".tflite importers: files in, verified ``Graph`` out."""
