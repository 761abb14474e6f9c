"""The @pypi hub gives tests the locked packages, and not whatever the build root has installed."""

import importlib.metadata
import os
import re
from pathlib import Path

import numpy as np
import sklearn
from sklearn.linear_model import LinearRegression


def locked_version(package: str) -> str:
    text = Path(os.environ["SERVER_LOCK"]).read_text()
    match = re.search(rf"^{re.escape(package)}==(\S+)", text, re.MULTILINE)
    assert match, f"{package} is not pinned in server.lock"
    return match.group(1)


def test_installed_versions_are_the_locked_ones() -> None:
    for package in ("numpy", "scikit-learn"):
        assert importlib.metadata.version(package) == locked_version(package)


def test_packages_come_from_the_hub_not_the_system() -> None:
    for module in (np, sklearn):
        path = Path(module.__file__).resolve()
        assert "dist-packages" not in path.parts, path
        assert "site-packages" in path.parts, path


def test_a_model_fits_exactly() -> None:
    rng = np.random.default_rng(0)
    features = rng.normal(size=(200, 3))
    target = features @ np.array([2.0, -1.0, 0.5]) + 3.0
    model = LinearRegression().fit(features, target)
    np.testing.assert_allclose(model.coef_, [2.0, -1.0, 0.5], atol=1e-9)
    assert abs(model.intercept_ - 3.0) < 1e-9
