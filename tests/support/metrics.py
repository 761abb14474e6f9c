"""Reading a server's /metrics (Prometheus text). Needs prometheus_client in the test's deps."""

import urllib.request

from prometheus_client.parser import text_string_to_metric_families


def metric_total(text: str, name: str, **labels: str) -> float:
    """The sum of a Prometheus text exposition's samples of `name` whose labels include `labels`."""
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def scrape(base_url: str) -> str:
    with urllib.request.urlopen(f"{base_url}/metrics", timeout=10) as answer:
        return answer.read().decode()
