"""Where the bundled sample data is (two days around the March 2023 USDC de-peg)."""

from __future__ import annotations

from pathlib import Path


def samples_dir() -> Path:
    """./data/samples when run from a checkout or the Docker image's /app, else the source tree."""
    here = Path.cwd() / "data" / "samples"
    return here if here.is_dir() else Path(__file__).resolve().parents[3] / "data" / "samples"
