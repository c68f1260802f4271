"""Merchant-API tests: a local receiver standing in for the merchant's endpoints."""
from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.receiver import Receiver, receiver


@pytest.fixture
async def hooks() -> AsyncIterator[Receiver]:
    async with receiver() as rec:
        yield rec
