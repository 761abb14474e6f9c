"""The Palmer penguins table (shipped inside the palmerpenguins wheel) and its feature schema."""

import pandas as pd
from palmerpenguins import load_penguins
from sklearn.model_selection import train_test_split

NUMERIC = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
CATEGORICAL = ["island", "sex"]
FEATURES = NUMERIC + CATEGORICAL
TARGET = "species"
ISLANDS = ("Biscoe", "Dream", "Torgersen")
SEXES = ("female", "male")
SPECIES = ("Adelie", "Chinstrap", "Gentoo")
SEED = 0


def load() -> pd.DataFrame:
    """All 344 rows: four numeric and two categorical features with missing values, and the species."""
    return load_penguins()[[*FEATURES, TARGET]]


def split(frame: pd.DataFrame, test_size: float = 0.25) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A stratified train/test split that is the same on every run."""
    train, test = train_test_split(frame, test_size=test_size, random_state=SEED, stratify=frame[TARGET])
    return train, test
