"""Fixtures for the statement parser tests (pure Python, no database)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SAMPLES = Path(os.environ.get("FINOPS_SAMPLES_DIR") or Path(__file__).resolve().parents[2].parent / "shared" / "samples")


@pytest.fixture
def sample():
    """``sample("mt940/mt940_ing_oca.940")`` -> Path, or skip when the shared samples are not checked out."""

    def get(relative: str) -> Path:
        path = SAMPLES / relative
        if not path.exists():
            pytest.skip(f"sample file {path} is not available (the shared samples live outside the repo)")
        return path

    return get
