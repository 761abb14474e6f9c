"""Airflow 3's REST API as a user drives it: a token from the admin login, then unpause, trigger
and wait for a DAG run."""

import json
import urllib.request

from tests.support.network import get_json, post_json, wait_for


class AirflowApi:
    def __init__(self, url: str, username: str, password: str) -> None:
        self.url = url
        token = post_json(f"{url}/auth/token", {"username": username, "password": password})["access_token"]
        self.headers = {"Authorization": f"Bearer {token}"}

    def get(self, path: str) -> dict:
        return get_json(f"{self.url}/api/v2/{path}", self.headers)

    def send(self, path: str, body: dict, method: str = "POST") -> dict:
        request = urllib.request.Request(
            f"{self.url}/api/v2/{path}",
            data=json.dumps(body).encode(),
            headers={**self.headers, "Content-Type": "application/json"},
            method=method,
        )
        with urllib.request.urlopen(request, timeout=60) as answer:
            return json.load(answer)

    def dag_ids(self) -> set[str]:
        return {dag["dag_id"] for dag in self.get("dags")["dags"]}

    def trigger(self, dag_id: str) -> str:
        """Unpauses and triggers `dag_id` once the DAG processor has it; returns the run's id."""
        wait_for(lambda: dag_id in self.dag_ids(), timeout=300, interval=5)
        self.send(f"dags/{dag_id}", {"is_paused": False}, "PATCH")
        return self.send(f"dags/{dag_id}/dagRuns", {"logical_date": None})["dag_run_id"]

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 900) -> tuple[dict, list[dict]]:
        """Waits until the run ends; returns it and its task instances."""

        def finished() -> dict | None:
            run = self.get(f"dags/{dag_id}/dagRuns/{run_id}")
            return run if run["state"] in ("success", "failed") else None

        run = wait_for(finished, timeout=timeout, interval=5)
        return run, self.get(f"dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]

    def run_dag(self, dag_id: str, timeout: float = 900) -> tuple[dict, list[dict]]:
        """Unpauses and triggers `dag_id`, waits until the run ends; returns it and its task instances."""
        return self.wait_for_run(dag_id, self.trigger(dag_id), timeout)

    def failures(self, tasks: list[dict]) -> str:
        """Each task's state, and the end of every failed task's last log: for a test's message."""
        lines = [f"{task['task_id']}: {task['state']}" for task in tasks]
        for task in tasks:
            if task["state"] == "failed":
                path = f"dags/{task['dag_id']}/dagRuns/{task['dag_run_id']}/taskInstances/{task['task_id']}"
                log = json.dumps(self.get(f"{path}/logs/{task['try_number']}").get("content"))
                lines.append(f"--- {task['task_id']}:\n{log[-3000:]}")
        return "\n".join(lines)
