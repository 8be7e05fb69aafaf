"""Pure attention kernels: functions of tensors and explicit states, no parameters.

Each op package holds a fast path (``chunk.py`` / ``blockwise.py`` / ``parallel.py``), an
incremental form for decoding (``recurrent.py``) and a ``naive.py`` reference used by tests.
"""
