from __future__ import annotations

import json
from typing import Any

import pytest

from tests.factories import shared_sandbox_keys


@pytest.fixture
def unionpay_keys() -> dict[str, Any]:
    """The UnionPay sandbox's key material (generated once per session; a fresh copy per test)."""
    return dict(json.loads(shared_sandbox_keys())["unionpay"])
