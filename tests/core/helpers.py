from __future__ import annotations

import hashlib
import json
from typing import Any


def fingerprint_for(path: str, body: dict[str, Any]) -> str:
    """The request fingerprint the idempotency middleware computes for a POST of ``body``."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(f"POST {path}\n".encode() + canonical).hexdigest()
