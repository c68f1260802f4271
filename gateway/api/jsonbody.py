"""Reading a request's JSON body strictly: one meaning per document.

* A duplicate key is refused: parsers disagree on which one wins (Python's last, some first), so
  ``{"amount": 1, "amount": 100000000}`` could mean one thing to a merchant's proxy or signer and another
  to us.
* Nesting deeper than :data:`MAX_DEPTH` is refused before parsing: no request of ours nests that deep,
  and a recursive parser would otherwise run out of stack on ``[[[[…]]]]`` (an error, not an answer).
"""
from __future__ import annotations

import json
from typing import Any

from gateway.domain.errors import InvalidJSON

MAX_DEPTH = 16


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise InvalidJSON(f"The key {key!r} appears twice in one object")
        out[key] = value
    return out


def depth(text: str) -> int:
    """The deepest nesting of arrays and objects in ``text``, brackets inside strings ignored."""
    deepest = level = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            level += 1
            deepest = max(deepest, level)
        elif ch in "]}":
            level -= 1
    return deepest


def loads(body: bytes | str) -> Any:
    """The document in ``body``, or :class:`InvalidJSON` (400) naming what is wrong with it."""
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
    except UnicodeDecodeError:
        raise InvalidJSON("The body is not UTF-8") from None
    if depth(text) > MAX_DEPTH:
        raise InvalidJSON(f"The body nests deeper than {MAX_DEPTH} levels")
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates)
    except ValueError:
        raise InvalidJSON("The body is not valid JSON") from None
