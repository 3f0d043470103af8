"""Local tabular files through polars."""
