"""Build and run generated C: ``host`` (host gcc with sanitizers), ``arm`` (arm-none-eabi-gcc
firmware for a board) and ``qemu`` (run firmware under QEMU, count instructions)."""
