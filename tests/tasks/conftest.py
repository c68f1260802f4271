"""The background-task tests use the root ``fast_gateway`` (compressed schedules) and a local webhook
receiver."""
from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.receiver import Receiver, receiver


@pytest.fixture
async def hooks() -> AsyncIterator[Receiver]:
    async with receiver() as rec:
        yield rec
