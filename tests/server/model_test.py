"""The training library: deterministic artifacts, an honest score, and hash-checked loading."""

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.model import artifacts, compiled, penguins, pipeline, pointers
from tests.support.penguin_records import held_out_records

TRAINED = Path(os.environ["TRAINED_MODEL"]).parent
POINTERS = Path(os.environ["POINTER_FILE"]).parent
LOADED = artifacts.load_objects(TRAINED)


@pytest.fixture(scope="module")
def trained() -> pipeline.Trained:
    return pipeline.train(*penguins.split(penguins.load()))


def test_the_table_has_missing_values_and_categories_for_the_transformer() -> None:
    frame = penguins.load()
    assert len(frame) == 344
    assert frame[penguins.NUMERIC].isna().any().all()
    assert frame["sex"].isna().sum() == 11
    assert set(frame["island"]) == set(penguins.ISLANDS)


def test_the_model_beats_the_gate_on_held_out_rows(trained: pipeline.Trained) -> None:
    assert trained.metrics["accuracy"] >= 0.95
    assert trained.metrics["f1_macro"] >= 0.95
    assert list(trained.model.classes_) == list(penguins.SPECIES)


def blas_kernels() -> list[tuple[str, str]]:
    """Two OpenBLAS kernels this CPU can run, on one and two threads: Nehalem's (SSE only) and the
    widest it has. A kernel the CPU lacks dies with SIGILL (seen: SkylakeX on an AMD EPYC without
    AVX-512), so the choice follows /proc/cpuinfo's flags."""
    flags = set(Path("/proc/cpuinfo").read_text().split())
    widest = "SkylakeX" if "avx512f" in flags else "Haswell" if "avx2" in flags else "Sandybridge"
    return [("Nehalem", "1"), (widest, "2")]


@pytest.mark.parametrize(("kernel", "threads"), blas_kernels())
def test_the_bytes_do_not_depend_on_the_blas_kernel_or_thread_count(kernel: str, threads: str, tmp_path: Path) -> None:
    # OpenBLAS reads these when numpy loads, so each training runs in a fresh interpreter.
    code = (
        "import sys; from pathlib import Path; from server.model import artifacts, penguins, pipeline; "
        "artifacts.save(pipeline.train(*penguins.split(penguins.load())), Path(sys.argv[1]), {})"
    )
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "OPENBLAS_CORETYPE": kernel}
    environment["OPENBLAS_NUM_THREADS"] = threads
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], env=environment, check=True, timeout=300)
    for name in ("model.skops", "transformer.skops"):
        assert artifacts.md5(tmp_path / name) == artifacts.recorded_md5(POINTERS / f"{name}.dvc"), name


def test_training_twice_gives_byte_identical_artifacts(trained: pipeline.Trained, tmp_path: Path) -> None:
    again = pipeline.train(*penguins.split(penguins.load()))
    first = artifacts.save(trained, tmp_path / "a", {"name": "x"})
    second = artifacts.save(again, tmp_path / "b", {"name": "x"})
    assert first == second


def test_the_committed_pointers_match_what_bazel_trains() -> None:
    # If this fails after a change to the training code: tools/bazel run //server/artifacts:update_pointers
    assert artifacts.verify(TRAINED, POINTERS) == {
        name: artifacts.recorded_md5(POINTERS / f"{name}.dvc") for name in artifacts.ARTIFACTS
    }


def test_loading_round_trips_predictions(trained: pipeline.Trained) -> None:
    transformer, model, metadata, _ = artifacts.load(TRAINED, POINTERS)
    _, test_set = penguins.split(penguins.load())
    expected = trained.model.predict(trained.transformer.transform(test_set[penguins.FEATURES]))
    assert list(model.predict(transformer.transform(test_set[penguins.FEATURES]))) == list(expected)
    assert metadata["name"] == "penguin-species" and metadata["classes"] == list(penguins.SPECIES)


def test_a_corrupt_artifact_is_refused(tmp_path: Path) -> None:
    copy = tmp_path / "artifacts"
    shutil.copytree(TRAINED, copy)
    (copy / artifacts.MODEL).chmod(0o644)
    with open(copy / artifacts.MODEL, "ab") as model:
        model.write(b"tampered")
    with pytest.raises(artifacts.ArtifactError, match=r"model\.skops is corrupt: md5"):
        artifacts.load(copy, POINTERS)


def test_untrusted_types_are_refused(tmp_path: Path) -> None:
    import skops.io as sio
    from sklearn.ensemble import RandomForestClassifier

    forest = RandomForestClassifier(n_estimators=2, random_state=0).fit([[0.0], [1.0]], [0, 1])
    path = tmp_path / "forest.skops"
    path.write_bytes(sio.dumps(forest))
    with pytest.raises(Exception, match=r"[Uu]ntrusted"):
        sio.load(path, trusted=artifacts.TRUSTED_TYPES)


def test_the_compiled_pipeline_equals_sklearn_on_every_held_out_row() -> None:
    transformer, model = artifacts.load_objects(TRAINED)
    form = compiled.compile_pipeline(transformer, model)
    rows = held_out_records()
    difference = np.max(np.abs(form.predict_proba(rows) - pipeline.predict_proba(transformer, model, rows)))
    assert difference <= 1e-9
    assert compiled.verify(form, transformer, model, compiled.verification_records()) <= 1e-9


@given(
    st.lists(
        st.fixed_dictionaries(
            {},
            optional={
                **{name: st.none() | st.floats(0, 1000) for name in penguins.NUMERIC[:3]},
                "body_mass_g": st.none() | st.floats(0, 100_000),
                "island": st.none() | st.sampled_from(penguins.ISLANDS),
                "sex": st.none() | st.sampled_from(penguins.SEXES),
            },
        ),
        min_size=1,
        max_size=20,
    )
)
@settings(max_examples=200, deadline=None)
def test_the_compiled_pipeline_equals_sklearn_on_any_valid_records(records: list[dict]) -> None:
    transformer, model = LOADED
    form = compiled.compile_pipeline(transformer, model)
    expected = pipeline.predict_proba(transformer, model, records)
    assert np.max(np.abs(form.predict_proba(records) - expected)) <= 1e-9


def test_a_compiled_form_that_disagrees_is_refused() -> None:
    transformer, model = artifacts.load_objects(TRAINED)
    form = compiled.compile_pipeline(transformer, model)
    # One class's score moved (moving all of them alike would change no probability).
    skewed = dataclasses.replace(form, intercept=form.intercept + np.array([1e-3, 0.0, 0.0]))
    with pytest.raises(compiled.CompileError, match="differ from scikit-learn's"):
        compiled.verify(skewed, transformer, model, compiled.verification_records())


MD5S = st.text("0123456789abcdef", min_size=32, max_size=32)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=40) | MD5S,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["version", "artifacts", "md5", "size", *artifacts.ARTIFACTS]), inner, max_size=4
        )
    ),
    max_leaves=20,
)


@given(st.binary(max_size=300) | JSON.map(json.dumps))
@settings(max_examples=300, deadline=None)
def test_a_published_manifest_parses_or_is_refused_with_an_artifact_error(text: bytes | str) -> None:
    """What the entrypoint and the rollout read from S3 (anyone may write it): never a traceback."""
    try:
        manifest = pointers.Manifest.parse(text)
    except artifacts.ArtifactError as error:
        assert "\n" not in str(error)
    else:
        assert all(pointers.is_md5(manifest.md5s[name]) for name in artifacts.ARTIFACTS)


@given(st.text(max_size=20), st.fixed_dictionaries({name: MD5S for name in artifacts.ARTIFACTS}))
def test_a_manifest_round_trips_through_json_and_pointer_files(version: str, md5s: dict[str, str]) -> None:
    manifest = pointers.Manifest(version, md5s, {name: len(name) for name in md5s})
    assert pointers.Manifest.parse(manifest.to_json()) == manifest
    directory = Path(os.environ["TEST_TMPDIR"]) / "round-trip"
    manifest.write_pointers(directory)
    assert pointers.Manifest.of_pointers(directory, version) == manifest
