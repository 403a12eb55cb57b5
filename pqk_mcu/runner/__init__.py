"""Tools that build and run C, knowing nothing of models: ``arm`` (arm-none-eabi-gcc firmware for a
board, size report), ``host`` (host gcc with sanitizers), ``qemu`` (run firmware under QEMU, count
instructions), ``flash`` (pyOCD / OpenOCD), ``elf`` (what an ELF says), ``trace`` (harness op traces)
and ``tflm`` (the TensorFlow Lite Micro interpreter)."""
