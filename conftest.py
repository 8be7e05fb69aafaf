"""Repository-wide test settings.

- One torch thread per test process: the suite is many small tensors, and on a 2-core CI box
  intra-op threading only adds overhead and noise. (Benchmarks set their own thread count.)
- Hypothesis: no per-example deadline (a loaded machine is not a bug), and under CI a fixed
  derandomised search so that a run is reproducible.
"""

import os

import torch

torch.set_num_threads(1)

try:
    from hypothesis import settings
except ImportError:  # hypothesis is a test extra; tests that need it import it themselves
    pass
else:
    settings.register_profile("fastsnn", deadline=None)
    settings.register_profile("fastsnn-ci", deadline=None, derandomize=True)
    settings.load_profile("fastsnn-ci" if os.environ.get("CI") else "fastsnn")
