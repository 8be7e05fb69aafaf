"""The ``fastsnn`` command line."""
