"""The README is the front door: its configuration table and set-up commands stay true to the code."""
from __future__ import annotations

import re
from pathlib import Path

from gateway.cli import config_reference

ROOT = Path(__file__).resolve().parents[1]


def test_configuration_reference_is_generated_from_the_code() -> None:
    readme = (ROOT / "README.md").read_text()
    table = re.search(r"<!-- config-reference:start -->\n(.*?)\n<!-- config-reference:end -->", readme, re.S)
    assert table is not None and table.group(1).strip() == config_reference().strip()


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    command = "pip install -r requirements-dev.txt && python -m pytest"
    assert command in readme
    assert command in ci
