"""One fault vocabulary for every channel sandbox.

A fault is posted to ``/_control/faults`` in one of three groups and consumed by the next operations it
matches, ``count`` times (``0``: until reset):

* ``api`` -- ``mode`` is one of
  ``timeout`` (no answer for ``seconds``; then the real answer if the call was applied, else the
  channel's gateway-timeout error), ``http500`` (the channel's server error), ``business`` (a
  well-formed business failure: ``status``, ``code``, ``sub_code``, ``message`` fill it in, the channel
  has defaults), ``not_json`` (an HTML page where JSON was due) or ``bad_signature`` (the real answer,
  wrongly signed). ``after`` says whether the call is applied before the answer goes wrong (``timeout``
  and ``http500``; by default a timeout is applied where the channel says so, an ``http500`` is not).
  ``operation`` is a substring of the operation's name -- the Alipay method, the WeChat request path --
  and absent matches every operation.
* ``callbacks`` -- ``mode`` ``drop`` (the first attempt is lost: the retry schedule takes over),
  ``duplicate`` (the first attempt is sent twice), ``delay`` (the first attempt ``seconds`` late),
  ``reorder`` (held until another callback has gone out, or ``seconds``).
* ``refunds`` -- ``mode`` ``ABNORMAL`` or ``CLOSED``: how the next refunds end, where a channel finishes
  refunds later.

Older bodies still read: ``method`` and ``path_contains`` for ``operation``, ``badsign`` for
``bad_signature``, and a refund fault's ``status`` for its ``mode``.
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass, fields
from typing import Any, Protocol

from aiohttp import web

MODES: dict[str, frozenset[str]] = {
    "api": frozenset({"timeout", "http500", "business", "not_json", "bad_signature"}),
    "callbacks": frozenset({"drop", "duplicate", "delay", "reorder"}),
    "refunds": frozenset({"ABNORMAL", "CLOSED"}),
}
GROUPS = tuple(MODES)
DEFAULT_SECONDS = {"timeout": 30.0, "delay": 5.0, "reorder": 5.0}
_MODE_ALIASES = {"badsign": "bad_signature"}
_KEY_ALIASES = {"method": "operation", "path_contains": "operation"}


@dataclass
class Fault:
    mode: str
    operation: str | None = None
    count: int = 1
    seconds: float = 0.0
    after: bool | None = None
    status: int | None = None
    code: str | None = None
    sub_code: str | None = None
    message: str | None = None

    def matches(self, operation: str) -> bool:
        return not self.operation or self.operation in operation

    @classmethod
    def parse(cls, group: str, item: Any) -> Fault:
        """A fault from its JSON object; ``ValueError`` says what is wrong with it."""
        if not isinstance(item, dict):
            raise ValueError(f"{group} faults must be objects")
        values: dict[str, Any] = {_KEY_ALIASES.get(str(k), str(k)): v for k, v in item.items()}
        if group == "refunds" and "mode" not in values and "status" in values:
            values["mode"] = values.pop("status")
        unknown = set(values) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown fault field(s): {sorted(unknown)}")
        mode = _MODE_ALIASES.get(str(values.get("mode")), values.get("mode"))
        if mode not in MODES[group]:
            raise ValueError(f"unknown {group} mode {values.get('mode')!r}; one of {sorted(MODES[group])}")
        try:
            return cls(
                mode=str(mode), operation=_opt(str, values.get("operation")), count=int(values.get("count", 1)),
                seconds=float(values.get("seconds", DEFAULT_SECONDS.get(str(mode), 0.0))),
                after=_opt(bool, values.get("after")), status=_opt(int, values.get("status")),
                code=_opt(str, values.get("code")), sub_code=_opt(str, values.get("sub_code")),
                message=_opt(str, values.get("message")))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"bad fault {item!r}: {exc}") from None


def _opt(kind: Callable[[Any], Any], value: Any) -> Any:
    return None if value is None else kind(value)


class FaultBook:
    """The faults waiting to happen, by group; each :meth:`take` consumes one use."""

    def __init__(self) -> None:
        self.groups: dict[str, list[Fault]] = {group: [] for group in GROUPS}

    def add(self, group: str, items: Iterable[Any]) -> int:
        parsed = [Fault.parse(group, item) for item in items]  # all or nothing
        self.groups[group].extend(parsed)
        return len(parsed)

    def take(self, group: str, operation: str = "") -> Fault | None:
        faults = self.groups[group]
        for fault in faults:
            if fault.matches(operation):
                if fault.count > 0:
                    fault.count -= 1
                    if fault.count == 0:
                        faults.remove(fault)
                return fault
        return None

    def clear(self) -> None:
        for faults in self.groups.values():
            faults.clear()

    def as_json(self) -> dict[str, list[dict[str, Any]]]:
        return {group: [{k: v for k, v in asdict(f).items() if v is not None} for f in faults]
                for group, faults in self.groups.items()}


class FaultAnswers(Protocol):
    """How a channel words a failure on the wire."""

    def server_error(self) -> web.Response: ...

    def timed_out(self) -> web.Response: ...

    def business(self, fault: Fault) -> web.Response: ...


class HtmlGatewayErrors:
    """The 500 and 504 a channel's front proxy answers with an HTML page (Alipay, UnionPay, WeChat's
    APIv2 host): :class:`FaultAnswers`' ``server_error`` and ``timed_out`` for such a channel."""

    def server_error(self) -> web.Response:
        return web.Response(status=500, text="<html><body>500 Internal Server Error</body></html>",
                            content_type="text/html")

    def timed_out(self) -> web.Response:
        return web.Response(status=504, text="<html><body>504 Gateway Time-out</body></html>",
                            content_type="text/html")


def not_json(fault: Fault) -> web.Response:
    """A proxy's error page where the channel's JSON was due."""
    return web.Response(status=fault.status or 200, text="<html>bad gateway</html>", content_type="text/html")


async def answer(fault: Fault | None, call: Callable[[bool], Awaitable[web.StreamResponse]],
                 answers: FaultAnswers, *, timeout_applies: bool = False) -> web.StreamResponse:
    """Run an API call under ``fault``. ``call(corrupt)`` applies the operation and returns its signed
    answer (``corrupt``: signed wrongly). ``timeout_applies`` is the channel's default for ``after``
    on a timeout: whether the call got through before the answer was lost."""
    if fault is None:
        return await call(False)
    if fault.mode == "business":
        return answers.business(fault)
    if fault.mode == "not_json":
        return not_json(fault)
    applied = fault.after if fault.after is not None else (fault.mode == "timeout" and timeout_applies)
    if fault.mode in ("timeout", "http500") and not applied:
        if fault.mode == "timeout":
            await asyncio.sleep(fault.seconds)
            return answers.timed_out()
        return answers.server_error()
    response = await call(fault.mode == "bad_signature")
    if fault.mode == "timeout":
        await asyncio.sleep(fault.seconds)  # applied, but the answer comes too late for the client
    elif fault.mode == "http500":
        return answers.server_error()  # applied, and the answer is lost
    return response
