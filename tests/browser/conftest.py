"""Headless Chromium for the checkout's browser tests: Debian's ``chromium`` driven by Playwright's async
API through ``executable_path`` -- Playwright never downloads a browser here. Without Chromium the tests
skip, except in CI (``CI=true``) where a missing browser is a failure."""
from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def _require_chromium() -> None:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing: CI must install Debian's chromium (.ci/run does)")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium); browser tests need it")


@pytest.fixture
async def browser() -> AsyncIterator[object]:
    _require_chromium()
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
def shot(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """``await shot(page, "step")`` saves tests/artifacts/<test>-<step>.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    name = request.node.name.replace("[", "-").replace("]", "")

    async def take(page, step: str) -> Path:  # type: ignore[no-untyped-def]
        path = ARTIFACTS / f"{name}-{step}.png"
        await page.screenshot(path=str(path), full_page=True)
        return path

    return take
