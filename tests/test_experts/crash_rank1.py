"""``jedi`` CLI whose rank 1 dies (exit 3) at its first barrier, i.e. after computing its blocks.

Run under torchrun by tests/test_experts/test_extract_dist.py to simulate a rank crashing mid-run.
"""
import os
import sys

if os.environ.get('RANK') == '1':
    import torch.distributed as dist

    def _die(*args, **kwargs):
        os._exit(3)

    dist.barrier = _die

from jedi_repro.cli import main  # noqa: E402

sys.exit(main(sys.argv[1:]))
