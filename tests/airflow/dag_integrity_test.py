"""The DAG imports cleanly, has no cycle, wires the expected tasks in the expected order, and its
tasks retry after the delay Airflow is configured with."""

import os
from pathlib import Path

import pytest

DAG_FILE = Path(os.environ["DAGS"])
EXPECTED_UPSTREAM = {
    "ingest": set(),
    "validate": {"ingest"},
    "train": {"ingest", "validate"},
    "evaluate": {"train"},
    "log_to_mlflow": {"train", "evaluate"},
    "publish": {"train", "log_to_mlflow"},
}

RETRY_DELAY = 7  # seconds; neither Airflow's default (300) nor the image's (30)


@pytest.fixture(scope="module")
def dag(tmp_path_factory: pytest.TempPathFactory):
    os.environ["AIRFLOW_HOME"] = str(tmp_path_factory.mktemp("airflow-home"))
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__CORE__DEFAULT_TASK_RETRY_DELAY"] = str(RETRY_DELAY)  # Airflow reads it on import
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAG_FILE.parent))
    assert bag.import_errors == {}
    return bag.dags["penguins_training"]  # parsed in memory: get_dag would read the metadata DB


def test_the_expected_tasks_and_dependencies(dag) -> None:
    assert {task_id: set(dag.get_task(task_id).upstream_task_ids) for task_id in dag.task_ids} == EXPECTED_UPSTREAM


def test_no_cycles(dag) -> None:
    order = [task.task_id for task in dag.topological_sort()]
    assert len(order) == len(EXPECTED_UPSTREAM)
    for task_id, upstream in EXPECTED_UPSTREAM.items():
        assert all(order.index(parent) < order.index(task_id) for parent in upstream)


def test_owners_tags_and_docs(dag) -> None:
    assert dag.owner == "ml-platform"
    assert {"ml", "penguins"} <= set(dag.tags)
    assert "Closes the loop" in dag.doc_md
    assert dag.params["accuracy_gate"] == 0.95


def test_each_task_retries_twice_after_the_configured_delay(dag) -> None:
    # The delay is Airflow's setting, so compose's AIRFLOW_TASK_RETRY_DELAY reaches every task.
    assert {(task.retries, task.retry_delay.total_seconds()) for task in dag.tasks} == {(2, RETRY_DELAY)}
