#!/usr/bin/python3
"""Runs every query of a Grafana dashboard against a live Prometheus: each must be valid PromQL, and the series
named in --must-answer must return data. Part of deploy_test.sh.

    check_dashboard.py DASHBOARD.json [--prometheus=http://127.0.0.1:9090] [--job=brook]

Grafana's variables are replaced first: $job by --job, $__rate_interval by 1m. Exit 0 when Prometheus accepts every
query and a query of each panel titled in MUST_ANSWER returns at least one series; 1 otherwise.
"""

import argparse
import json
import sys
import urllib.error
import urllib.parse
import urllib.request

# Panels of gauges, which have data from the first scrape of a cluster with a topic on. Panels of rates need two
# scrapes inside their window after the traffic, which a short test cannot promise: their queries must only run.
MUST_ANSWER = {"Nodes up", "Nodes ready", "Controllers", "Under-replicated partitions", "Partitions led per node",
               "RocksDB bytes per node", "Disk bytes per topic (one replica)", "Peers reachable"}


def queries(panels):
    for panel in panels:
        yield from queries(panel.get("panels", []))
        for target in panel.get("targets", []):
            yield panel["title"], target["expr"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("dashboard")
    parser.add_argument("--prometheus", default="http://127.0.0.1:9090")
    parser.add_argument("--job", default="brook")
    args = parser.parse_args()
    with open(args.dashboard) as f:
        dashboard = json.load(f)

    failures, count, answered = [], 0, set()
    for title, expr in queries(dashboard["panels"]):
        count += 1
        promql = expr.replace("$__rate_interval", "1m").replace("$job", args.job)
        url = args.prometheus + "/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        try:
            answer = json.load(urllib.request.urlopen(url, timeout=10))
        except urllib.error.HTTPError as e:
            answer = json.load(e)
        if answer.get("status") != "success":
            failures.append(f"{title!r}: {promql}: {answer.get('error')}")
        elif answer["data"]["result"]:
            answered.add(title)
    for title in sorted(MUST_ANSWER - answered):
        failures.append(f"{title!r}: no data")
    missing = MUST_ANSWER - {t for t, _ in queries(dashboard["panels"])}
    for title in sorted(missing):
        failures.append(f"{title!r}: no such panel")
    for f in failures:
        print(f"check_dashboard: FAIL: {f}")
    if failures:
        sys.exit(1)
    print(f"check_dashboard: OK: {count} queries accepted by Prometheus; {len(answered)} panels have data")


if __name__ == "__main__":
    main()
