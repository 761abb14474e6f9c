"""The penguin-species model: dataset, training, and its DVC-tracked artifacts.

A library: the server loads what it saves, and the Airflow pipeline trains with it.
"""
