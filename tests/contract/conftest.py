"""Parametrise the contract tests over every channel's driver (``driver``) and, where a test asks for
``pay_method``, over every pay method of each channel."""
from __future__ import annotations

import pytest

from tests.contract.drivers import DRIVERS


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # A driver may run a channel in another configuration under a ``label`` of its own (Alipay's
    # certificate mode).
    if "pay_method" in metafunc.fixturenames:
        pairs = [(d, m) for d in DRIVERS for m in d.pay_methods]
        metafunc.parametrize(("driver", "pay_method"), pairs,
                             ids=[f"{d.label}:{m}" if hasattr(d, "label") else m for d, m in pairs])
    elif "driver" in metafunc.fixturenames:
        metafunc.parametrize("driver", DRIVERS, ids=[getattr(d, "label", d.name) for d in DRIVERS])
