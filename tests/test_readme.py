"""The README's Python snippet runs as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).parents[1] / "README.md"


def python_snippet() -> str:
    section = README.read_text().split("## Python API", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)


def test_python_api_snippet_runs_as_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(python_snippet(), str(README), "exec"), namespace)
    assert 0 < namespace["metrics"]["mAP"] <= 1
    assert float(capsys.readouterr().out.split()[-1]) == namespace["trainer"].best["mAP"]
    assert (tmp_path / "runs" / "python_demo" / "checkpoint.pth").exists()
