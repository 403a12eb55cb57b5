"""The orchestration layer: load -> passes -> codegen -> build -> run -> compare, composed for the
commands (``cli``), the benchmarks and the demo.

``load`` (inspect, prune), ``build`` (compile, build, run, flash), ``backends`` and ``verify`` (the
verify backends by name and the comparison), ``host`` / ``board_backend`` / ``core_io`` (the generated C
run on the host and on emulated boards), ``bench``, ``kws`` (the keyword spotting app), ``train`` (the
training commands) and ``demo`` (``python -m pqk_mcu.pipeline.demo``). Modules are imported where used,
so a command loads only what it needs.
"""
