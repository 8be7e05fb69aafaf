"""Repository-wide test settings: one torch thread per test process.

The suite is many small tensors; on a 2-core CI box intra-op threading only adds overhead and
makes timings noisy. (Benchmarks set their own thread count.)
"""

import torch

torch.set_num_threads(1)
