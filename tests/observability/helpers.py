"""Reading a gateway's ``/metrics`` as a test would a Prometheus."""
from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.factories import Gateway

TOKEN = "scrape-me-please-0123456789"


async def scrape(gw: Gateway, token: str = TOKEN) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Every sample by name: ``{name: [(labels, value), …]}``."""
    async with gw.http.get(f"{gw.url}/metrics", headers={"Authorization": f"Bearer {token}"}) as r:
        assert r.status == 200, await r.text()
        return parse(await r.text())


def parse(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return out


def value(samples: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels``."""
    return sum(v for got, v in samples.get(name, []) if all(got.get(k) == x for k, x in labels.items()))
