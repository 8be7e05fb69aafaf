"""The seed's one-command proof of the whole pipeline: ``python oneclick.py`` runs ``fastsnn demo``.

Install the packages first (README.md, "Set-up"); ``pip install -e .`` at this root only prints
those commands. Arguments are passed on: ``python oneclick.py --steps 10`` is ``fastsnn demo --steps 10``.
The demo runs in a child ``python -m fastsnn`` so the CLI's thread policy applies before torch loads.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys

INSTALL = (
    "FastSNN is not installed in this Python ({python}). From the repository root run:\n\n"
    "    pip install torch==2.13.0\n"
    "    pip install -e ./fastsnn-core -e ./fastsnn-neurons -e ./fastsnn-attention -e ./fastsnn-convert\n\n"
    "then python oneclick.py again (README.md, \"Set-up\")."
)


def main(argv: list[str]) -> int:
    if importlib.util.find_spec("fastsnn") is None:
        print(INSTALL.format(python=sys.executable), file=sys.stderr)
        return 2
    return subprocess.call([sys.executable, "-m", "fastsnn", "demo", *argv])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
