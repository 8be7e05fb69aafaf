"""One validation path for run files: what ``fastsnn validate`` accepts, ``fastsnn train`` accepts.

:func:`load_run_file` reads a file, validates it as a :class:`~fastsnn.config.RunConfig` (field
by field, with paths), then applies the rules that span fields and tables (``train.seq_len`` vs
``model.max_seq_len``), then builds the model on PyTorch's ``meta`` device — no memory, no
weights — so a component that refuses its arguments (``gla`` with ``n_kv_heads=3`` and
``n_heads=2``) is reported before any work, naming the table.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Iterable

import torch
from pydantic import ValidationError

from fastsnn.config.files import read_config_file
from fastsnn.config.model import ModelConfig
from fastsnn.config.run import DataConfig, RunConfig, TrainConfig
from fastsnn.errors import ConfigError, FastSNNError, format_validation_error
from fastsnn.model.lm import SpikingLM

RUN_TABLES = ("model", "data", "train", "convert", "export")


def _unknown_tables(data: dict, path: Path) -> list[str]:
    problems = []
    for key in data:
        if key in RUN_TABLES:
            continue
        close = difflib.get_close_matches(key, RUN_TABLES, n=1, cutoff=0.6)
        if isinstance(data[key], dict):
            problems.append(f"  [{key}]: unknown table" + (f" (did you mean [{close[0]}]?)" if close else "")
                            + f"; tables are {', '.join(f'[{t}]' for t in RUN_TABLES)}")
        else:
            where = next((f"[{table}]" for table, cls in (("model", ModelConfig), ("train", TrainConfig),
                                                           ("data", DataConfig)) if key in cls.model_fields), None)
            problems.append(f"  {key}: a setting outside any table"
                            + (f"; it belongs in the {where} table" if where else
                               f"; put settings in one of {', '.join(f'[{t}]' for t in RUN_TABLES)}"))
    return problems


def cross_field_problems(run: RunConfig) -> list[str]:
    """Rules that span tables (each a ``  path: message`` line)."""
    problems = []
    if run.model is not None:
        train = run.train or TrainConfig()
        if run.model.max_seq_len is not None and train.seq_len - 1 > run.model.max_seq_len:
            explicit = run.train is not None and "seq_len" in run.train.model_fields_set
            problems.append(
                f"  train.seq_len: {train.seq_len}{'' if explicit else ' (the default)'} tokens per window feed "
                f"{train.seq_len - 1} tokens to the model, more than model.max_seq_len = {run.model.max_seq_len}; "
                f"raise [model] max_seq_len to at least {train.seq_len - 1} or lower [train] seq_len"
            )
    return problems


def check_model_builds(model: ModelConfig) -> None:
    """Build ``model`` on the ``meta`` device (no memory) so that every component sees its arguments.

    :raises ConfigError: a component refuses them; the message names ``[model]`` and the component's reason.
    """
    try:
        with torch.device("meta"):
            SpikingLM(model)
    except FastSNNError as err:
        raise ConfigError(f"  model: cannot be built: {err}") from None


def load_run_file(path: str | Path, require: Iterable[str] = ()) -> RunConfig:
    """Read and fully check a run file; every problem is listed with its path.

    :param require: tables the caller needs (``("model",)`` for training).
    :raises ConfigError: naming the file and each problem.
    """
    path = Path(path)
    data = read_config_file(path)
    problems = _unknown_tables(data, path)
    known = {k: v for k, v in data.items() if k in RUN_TABLES}
    run = None
    if not known and not problems:
        problems.append(f"  the file is empty: it needs {' and '.join(f'[{t}]' for t in require) or 'a [model] table'}"
                        " (optional tables: " + ", ".join(f"[{t}]" for t in RUN_TABLES) + ")")
    elif known:
        try:
            run = RunConfig.model_validate(known)
        except ValidationError as err:
            problems.append(format_validation_error(err))
    if run is not None:
        problems += [f"  [{t}]: this command needs a [{t}] table" for t in require if getattr(run, t) is None]
        problems += cross_field_problems(run)
        if run.model is not None and not problems:
            try:
                check_model_builds(run.model)
            except ConfigError as err:
                problems.append(str(err))
    if problems:
        count = sum(p.count("\n  ") + 1 for p in problems)
        raise ConfigError(f"{path}: {count} error(s) in config:\n" + "\n".join(problems))
    assert run is not None
    return run
