"""Path parameters both faces over HTTP take: a record's id, refused (422) beyond the store's integers (see
segport.limits) instead of reaching the database."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

from segport.limits import LARGEST_INTEGER

Id = Annotated[int, Path(ge=1, le=LARGEST_INTEGER, description="The record's number.")]
