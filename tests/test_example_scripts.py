"""Every ``examples/*.py`` script (the documentation's examples gallery) runs as written.

Each script checks its own claims with asserts (decode == forward, events == counts, the
converted network's error, ...); here it runs in-process with ``runpy`` and must finish
cleanly and print what it says it prints.
"""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SCRIPTS = sorted(EXAMPLES.glob("*.py"))
LAST_LINES = {  # what each script prints at its end, when all went right
    "build_and_decode.py": "decoding from the cache reproduces the full forward pass",
    "convert_mlp.py": "output relative error of the SNN: ",
    "event_mode.py": "spikes in all",
    "registry_tour.py": "refused: bad parameters for neuron 'adaptive_threshold'",
    "save_and_load.py": "the loaded model gives the same logits",
}


def test_every_script_has_an_expected_ending():
    assert sorted(s.name for s in SCRIPTS) == sorted(LAST_LINES)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_example_script_runs(script, capsys, monkeypatch):
    monkeypatch.chdir(EXAMPLES.parent)
    runpy.run_path(str(script), run_name="__main__")
    out = capsys.readouterr().out
    assert LAST_LINES[script.name] in out, out
