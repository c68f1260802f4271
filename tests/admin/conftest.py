from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tests.admin.helpers import Console, enrolled
from tests.factories import Gateway


@pytest.fixture
async def consoles(gateway: Gateway) -> AsyncIterator[Callable[..., Any]]:
    """``await consoles(role, merchant_id=None)``: a signed-in operator; closed after the test."""
    made: list[Console] = []

    async def make(role: str = "owner", merchant_id: str | None = None, **kw: Any) -> Console:
        console = await enrolled(gateway, role, merchant_id, **kw)
        made.append(console)
        return console

    yield make
    for console in made:
        await console.close()
