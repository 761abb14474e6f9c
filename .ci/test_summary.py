"""Prints "bazel: N passed, N failed" from a Bazel build event file (--build_event_json_file).

Every configured test target counts: one whose summary is PASSED (cached or not) passed; one that
failed, timed out, was flaky, or never ran because it failed to build, failed.
"""

import json
import sys


def main() -> None:
    tests: set[str] = set()
    status: dict[str, str] = {}
    with open(sys.argv[1]) as events:
        for line in events:
            event = json.loads(line)
            ids = event.get("id", {})
            if "targetConfigured" in ids and "testSize" in event.get("configured", {}):
                tests.add(ids["targetConfigured"]["label"])
            elif "testSummary" in ids:
                status[ids["testSummary"]["label"]] = event.get("testSummary", {}).get("overallStatus", "NO_STATUS")
    passed = sum(1 for label in tests if status.get(label) == "PASSED")
    for label in sorted(tests):
        if status.get(label) != "PASSED":
            print(f"bazel: {label}: {status.get(label, 'did not run (build failed?)')}")
    print(f"bazel: {passed} passed, {len(tests) - passed} failed")


if __name__ == "__main__":
    main()
