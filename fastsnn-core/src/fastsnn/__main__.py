"""``python -m fastsnn`` is the ``fastsnn`` command.

The package imports torch before this file runs, too late to set the OpenMP wait policy, so the
command restarts itself once with it set (see :func:`fastsnn_runtime.rerun_module_with_policy`).
"""

import fastsnn_runtime

fastsnn_runtime.rerun_module_with_policy("fastsnn")

from fastsnn.cli.main import main  # noqa: E402

main()
