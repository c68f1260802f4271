"""Log output: text or JSON lines (``GATEWAY_LOG_FORMAT``), the request id of the request being served
on every line, and one :class:`RedactingFilter` on the handler through which every record passes.

The request id lives in a context variable set by the edge middleware, so a line logged anywhere while a
request is served (a service, a channel client) carries it without being passed around.
"""
from __future__ import annotations

import contextvars
import functools
import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

REDACTED = "[redacted]"
# Keys whose values are secret wherever they appear: in ``extra=`` context, in dicts logged as arguments,
# as ``key=value`` or ``"key": "value"`` inside a message.
SECRET_KEYS = ("authorization", "api_key", "apikey", "secret", "password", "passwd", "token", "sign",
               "signature", "private_key", "ciphertext", "totp", "cookie", "webhook_secret", "key")
_SECRET_KEY_RE = r"(?:[A-Za-z_-]*(?:authorization|api[_-]?key|secret|password|passwd|token|signature|" \
                 r"private[_-]?key|ciphertext|totp|cookie)[A-Za-z_-]*|sign|key|mch_key|app_key)"
_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # PEM blocks (private keys, certificates)
    (re.compile(r"-----BEGIN [A-Z ]+-----.*?(?:-----END [A-Z ]+-----|$)", re.S), REDACTED),
    # Authorization: <scheme> <credentials> -- any scheme (a channel's own too): the scheme is kept
    (re.compile(r"(?i)(\bauthorization[\"']?\s*[:=]\s*)([\"'])(?:\\.|(?!\2)[^\\])*\2"), r"\1\2" + REDACTED + r"\2"),
    (re.compile(r"(?i)(\bauthorization\s*[:=]\s*[A-Za-z0-9-]+ )[^\r\n]+"), r"\1" + REDACTED),
    (re.compile(r"(?i)\b(Bearer|Basic)\s+(?!\[redacted\])[^\s,;\"']+"), r"\1 " + REDACTED),
    # "key": "value" (JSON) and key=value / key: value (query strings, form bodies, headers)
    (re.compile(r'(?i)("' + _SECRET_KEY_RE + r'"\s*:\s*)"(?:[^"\\]|\\.)*"'), r'\1"' + REDACTED + '"'),
    (re.compile(r"(?i)('" + _SECRET_KEY_RE + r"'\s*:\s*)'(?:[^'\\]|\\.)*'"), r"\1'" + REDACTED + "'"),
    (re.compile(r"(?i)\b(" + _SECRET_KEY_RE + r")(\s*[=:]\s*)(?!\[redacted\])[^\s&,;\"']+"),
     r"\1\2" + REDACTED),
    # API keys of our own format, wherever they stand
    (re.compile(r"\b(?:sk|whsec|gk)_[A-Za-z0-9_-]{8,}"), REDACTED),
    # personal data: mainland ID card numbers, then mobile phone numbers
    (re.compile(r"(?<![0-9A-Za-z_])\d{17}[0-9Xx](?![0-9A-Za-z_])"), "[id]"),
    (re.compile(r"(?<![0-9A-Za-z_])(?:\+?86[- ]?)?1[3-9]\d{9}(?![0-9A-Za-z_])"), "[phone]"),
]
# LogRecord's own attributes: anything else on a record came from ``extra=`` and is context.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "request_id"}


# What every pattern above needs to find somewhere: most lines (an access line, a job's
# progress) match none, and pay one scan instead of one per pattern.
# (Substring tests: a case-insensitive regex alternation costs ten times more per line.)
_HINTS = ("-----begin", "bearer", "basic", "sign", "key", "secret", "passw", "token", "authori",
          "cipher", "totp", "cookie", "sk_", "whsec_", "gk_")
_DIGITS = re.compile(r"\d{11}")


def _may_hold_secrets(text: str) -> bool:
    lowered = text.lower()
    return any(hint in lowered for hint in _HINTS) or _DIGITS.search(text) is not None


def redact_text(text: str) -> str:
    if not _may_hold_secrets(text):
        return text
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


@functools.lru_cache(maxsize=1024)
def _secret_key(name: str) -> bool:
    lowered = name.lower()
    return lowered in SECRET_KEYS or any(k in lowered for k in SECRET_KEYS if len(k) > 4)


def redact_value(value: Any, key: str | None = None) -> Any:
    if key is not None and _secret_key(key):
        return REDACTED
    if isinstance(value, int | float | bool) or value is None:
        return value
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: redact_value(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(v) for v in value]
    if isinstance(value, bytes):
        return redact_text(value.decode("utf-8", "replace"))
    return value


class RedactingFilter(logging.Filter):
    """The one place secrets and personal data leave log records: the message (formatted with its
    arguments), the exception text, and every ``extra=`` field. Adds the current request id."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, dict):  # structures are redacted by key before they become text
            record.args = redact_value(record.args)
        elif isinstance(record.args, tuple):
            record.args = tuple(redact_value(a) if isinstance(a, dict | list) else a for a in record.args)
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: log what we have rather than lose the line
            message = f"{record.msg!r} {record.args!r}"
        record.msg, record.args = message, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None  # the (redacted) text stands in for the traceback
        extras = [name for name in vars(record) if name not in _STANDARD]
        texts = [message, record.exc_text or "", *extras,
                 *(v for v in (getattr(record, n) for n in extras) if isinstance(v, str))]
        if not _may_hold_secrets("\n".join(texts)) and all(
                isinstance(getattr(record, n), str | int | float | bool | None) for n in extras):
            return self._stamp(record)  # the common case: nothing that could be secret, one scan
        record.msg = redact_text(message)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        for name in extras:
            setattr(record, name, redact_value(getattr(record, name), name))
        return self._stamp(record)

    @staticmethod
    def _stamp(record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = REQUEST_ID.get()
        return True


def context_of(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, the record's context."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname, "logger": record.name, "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", None)
        if rid:
            line["request_id"] = rid
        line.update(context_of(record))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``time level logger message [request id] key=value …``"""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        extra = context_of(record)
        rid = getattr(record, "request_id", None)
        tail = ([f"[request {rid}]"] if rid else []) + [f"{k}={v}" for k, v in extra.items()]
        if not tail:
            return text
        head, sep, rest = text.partition("\n")
        return f"{head} {' '.join(tail)}{sep}{rest}"


def handler(log_format: str, stream: Any = None) -> logging.Handler:
    out = logging.StreamHandler(stream or sys.stderr)
    out.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    out.addFilter(RedactingFilter())
    return out


def configure(level: str, log_format: str) -> None:
    """Route every logger through one handler with the redacting filter (called by the CLI, once)."""
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler(log_format))
    root.setLevel(level)
