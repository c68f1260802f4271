"""The sandboxes' key material: generated once, kept in ``<data_dir>/sandbox-keys.json`` (mode 0600).

It holds both sides' keys -- the channel's own private keys and the test merchant's -- so that a sandbox
run as its own process and a gateway pointed at it agree. It is test infrastructure: production keys are
never here. Each sandbox package contributes ``generate_keys()`` (everything) and
``merchant_credentials(keys)`` (what a merchant's channel account needs).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

FILENAME = "sandbox-keys.json"


def _generators() -> dict[str, Any]:
    from gateway.sandbox import alipay, unionpay, wechat

    return {"alipay": alipay, "wechat": wechat, "unionpay": unionpay}


def load_or_create(data_dir: Path) -> dict[str, dict[str, Any]]:
    path = Path(data_dir) / FILENAME
    keys: dict[str, dict[str, Any]] = json.loads(path.read_text()) if path.exists() else {}
    changed = False
    for name, module in _generators().items():
        if name not in keys:
            keys[name] = module.generate_keys()
            changed = True
        elif hasattr(module, "complete_keys") and module.complete_keys(keys[name]):
            changed = True  # material a newer sandbox needs, added to an older file
    if changed:
        save(data_dir, keys)
    return keys


def save(data_dir: Path, keys: dict[str, dict[str, Any]]) -> None:
    path = Path(data_dir) / FILENAME
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(keys, fh, indent=1)
    os.replace(tmp, path)


def merchant_credentials(keys: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per channel: the credentials a merchant's channel account is opened with."""
    return {name: module.merchant_credentials(keys[name]) for name, module in _generators().items()}
