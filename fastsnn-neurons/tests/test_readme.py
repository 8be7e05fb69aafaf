"""Every ```python block of the package README runs, in order, in one namespace."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_examples_run(capsys):
    blocks = re.findall(r"^```python\n(.*?)^```", README.read_text(encoding="utf-8"), re.S | re.M)
    assert len(blocks) >= 6
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)
    printed = capsys.readouterr().out
    assert "tensor([[ 7., -2.,  1.,  1.]])" in printed
    assert "tensor([[5., 0., 1., 1.]])" in printed
    assert "[[1, 0, 1], [0, 1, 0], [0, 0, 0]]" in printed
    assert "sigma=0.25" in printed  # a third-party surrogate declares its parameter once
    assert "True True" in printed  # event mode: count mode's integers exactly, outputs to float tolerance
