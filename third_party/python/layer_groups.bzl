"""The site-packages layer groups both Python images share (`py_image_layers`'
`site_packages_groups`): large, rarely bumped stacks in both locks, each given a layer of its own.
Names are as the pip hubs spell them."""

SCIENTIFIC = [
    "numpy",
    "pandas",
    "scikit_learn",
    "scipy",
]

MLFLOW = [
    "databricks_sdk",
    "mlflow_skinny",
]
