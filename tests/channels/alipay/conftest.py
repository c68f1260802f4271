from __future__ import annotations

from typing import Any

import pytest

from gateway.sandbox.alipay import generate_keys


@pytest.fixture(scope="session")
def alipay_keys() -> dict[str, Any]:
    return generate_keys()
