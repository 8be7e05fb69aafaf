"""``python -m fastsnn`` is the ``fastsnn`` command."""

from fastsnn.cli.main import main

main()
