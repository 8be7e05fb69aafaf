"""Repository-wide test settings.

- Threads: FastSNN's thread policy (:mod:`fastsnn_runtime`), applied before anything imports
  torch, with one torch thread per test process unless ``FASTSNN_THREADS`` or ``OMP_NUM_THREADS``
  says otherwise: the suite is many small tensors, and on a 2-core CI box running two test
  processes intra-op threads only add overhead and noise. ``OMP_WAIT_POLICY=PASSIVE`` (unless
  set) is inherited by the CLI processes that tests start, so none of them spins while another
  process holds the CPU. (Benchmarks set their own thread count.)
- Token caches: ``FASTSNN_CACHE`` points at a fresh temporary folder (unless set), so no test
  writes token files under the user's ``~/.cache`` and no run reuses another's by accident.
- Hypothesis: no per-example deadline (a loaded machine is not a bug), and under CI a fixed
  derandomised search so that a run is reproducible.
"""

import os
import tempfile

import fastsnn_runtime

os.environ.setdefault("FASTSNN_CACHE", tempfile.mkdtemp(prefix="fastsnn-test-cache-"))

THREAD_POLICY = fastsnn_runtime.apply_thread_policy(default_threads=1)  # before torch is imported

try:
    from hypothesis import settings
except ImportError:  # hypothesis is a test extra; tests that need it import it themselves
    pass
else:
    settings.register_profile("fastsnn", deadline=None)
    settings.register_profile("fastsnn-ci", deadline=None, derandomize=True)
    settings.load_profile("fastsnn-ci" if os.environ.get("CI") else "fastsnn")


def pytest_report_header(config):
    return f"fastsnn thread policy: {THREAD_POLICY}"
