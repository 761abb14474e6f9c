"""One penguin, a row of the training table, that any model of this schema must score: the
entrypoint scores it before starting the server, and bench/serve sends it. No imports, so the
build root's bare python3 (bench/serve.py) can read it too."""

SAMPLE = {
    "bill_length_mm": 39.1,
    "bill_depth_mm": 18.7,
    "flipper_length_mm": 181.0,
    "body_mass_g": 3750.0,
    "island": "Torgersen",
    "sex": "male",
}
