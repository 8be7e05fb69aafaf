"""Build backend of the repository root: ``pip install -e .`` (or ``pip install .``) here stops at once
with the commands that install FastSNN.

FastSNN is four distributions in sub-folders (``fastsnn-core``, ``fastsnn-neurons``,
``fastsnn-attention``, ``fastsnn-convert``); the repository root is not one. Without a build
backend pip falls back to setuptools' legacy mode and "successfully" installs an empty
distribution named ``UNKNOWN`` 0.0.0. A meta-distribution depending on the four folders could
only install them as regular (non-editable) copies, so ``-e`` would silently not be editable;
stopping with the one-line editable command is the honest answer. Every PEP 517/660 hook raises
``SystemExit`` with the message, which pip shows under "[N lines of output]". No build
requirements: it works offline and before anything else is installed.
"""

from __future__ import annotations

MESSAGE = """
FastSNN is not one package: this repository holds four, in folders (fastsnn-core, fastsnn-neurons,
fastsnn-attention, fastsnn-convert), and its root installs nothing. From this folder run:

    pip install torch==2.13.0     # first, so pip does not pull a CUDA build (any torch>=2.3 works)
    pip install -e ./fastsnn-core -e ./fastsnn-neurons -e ./fastsnn-attention -e ./fastsnn-convert

(drop the -e flags for a regular install), then check the whole pipeline with

    python oneclick.py            # the same as: fastsnn demo

README.md, "Set-up: two commands", has the one-line version.
"""


def _stop(*_args, **_kwargs):
    raise SystemExit(MESSAGE)


get_requires_for_build_wheel = get_requires_for_build_editable = get_requires_for_build_sdist = _stop
prepare_metadata_for_build_wheel = prepare_metadata_for_build_editable = _stop
build_wheel = build_editable = build_sdist = _stop
