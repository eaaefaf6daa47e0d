"""Profiles (schema, count, upload) and segments (create, read, preview, count, activate, delete)."""

from __future__ import annotations

import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from segport import outputs
from segport.api import answers
from segport.api.auth import AdminUser, CurrentUser, StoreDep
from segport.csv_text import attachment, csv_chunks
from segport.permissions import require
from segport.profiles.reading import check_upload_name
from segport.profiles.service import describe, import_profiles
from segport.segments import membership
from segport.segments import service as segments
from segport.segments.service import SegmentView
from segport.server.params import Id

router = APIRouter()


@router.get("/api/profiles", tags=["profiles"])
def profiles(user: CurrentUser, store: StoreDep) -> outputs.ProfileSource:
    """The profile source: its fields with their types, the key, and how many rows."""
    return outputs.profile_source(describe(store))


@router.post("/api/profiles", tags=["profiles"])
async def upload_profiles(
    user: AdminUser,
    store: StoreDep,
    file: Annotated[UploadFile, File(description="A CSV or Parquet file, one row per customer.")],
    key: Annotated[str, Form(description="The column that identifies a customer.")],
    allow_shrink: Annotated[
        bool, Form(description="Allow a file that holds far fewer profiles than are loaded now, or none.")
    ] = False,
    allow_breaking: Annotated[
        bool,
        Form(
            description="Allow a file that lacks columns (or changes their types, or the key) that active segments "
            "or exports use; they fail until edited."
        ),
    ] = False,
) -> answers.ImportedProfiles:
    """Replace the embedded profiles with the uploaded file (atomically: a bad file changes nothing)."""
    check_upload_name(file.filename or "")
    with tempfile.TemporaryDirectory(prefix="segport-upload-") as directory:
        path = Path(directory) / Path(file.filename or "").name
        with path.open("wb") as out:
            await run_in_threadpool(shutil.copyfileobj, file.file, out)
        imported = await run_in_threadpool(
            lambda: import_profiles(
                store, path, key=key, actor=user.name, allow_shrink=allow_shrink, allow_breaking=allow_breaking
            )
        )
    return answers.ImportedProfiles(rows=imported.rows, key=imported.key, fields=[f.name for f in imported.fields])


class NewSegment(BaseModel):
    name: str = Field(min_length=1, max_length=255)
    rule: str = Field(min_length=1, description='The rule as text, e.g. country = "CA" and orders >= 2.')
    description: str | None = None
    active: bool = True


def _segment(view: SegmentView) -> outputs.Segment:
    return outputs.segment(view)


@router.get("/api/segments", tags=["segments"])
def list_segments(user: CurrentUser, store: StoreDep) -> list[outputs.Segment]:
    return [_segment(view) for view in segments.list_segments(store)]


@router.get("/api/segments/{name}", tags=["segments"])
def show_segment(name: str, user: CurrentUser, store: StoreDep) -> outputs.Segment:
    return _segment(segments.show_segment(store, name=name))


@router.post("/api/segments", status_code=201, tags=["segments"])
def create_segment(body: NewSegment, user: CurrentUser, store: StoreDep) -> outputs.Segment:
    require(user, "admin", "contributor")
    view = segments.create_segment(
        store, name=body.name, rule_text=body.rule, description=body.description, active=body.active, actor=user.name
    )
    return _segment(view)


class SegmentChange(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=255, description="A new name.")
    rule: str | None = Field(default=None, min_length=1)
    description: str | None = None


class SegmentCopy(BaseModel):
    new_name: str = Field(min_length=1, max_length=255)


@router.get("/api/segments/id/{segment_id}", tags=["segments"])
def show_segment_by_id(segment_id: Id, user: CurrentUser, store: StoreDep) -> outputs.Segment:
    """The segment with this id (ids never change)."""
    return show_segment(segments.segment_name(store, segment_id=segment_id), user, store)


@router.patch("/api/segments/id/{segment_id}", tags=["segments"])
def edit_segment_by_id(segment_id: Id, body: SegmentChange, user: CurrentUser, store: StoreDep) -> outputs.Segment:
    return edit_segment(segments.segment_name(store, segment_id=segment_id), body, user, store)


@router.delete("/api/segments/id/{segment_id}", status_code=204, tags=["segments"])
def delete_segment_by_id(segment_id: Id, user: CurrentUser, store: StoreDep) -> None:
    delete_segment(segments.segment_name(store, segment_id=segment_id), user, store)


@router.patch("/api/segments/{name}", tags=["segments"])
def edit_segment(name: str, body: SegmentChange, user: CurrentUser, store: StoreDep) -> outputs.Segment:
    """Rename it, or change the rule and/or the description."""
    require(user, "admin", "contributor")
    view = segments.edit_segment(
        store, name=name, rule_text=body.rule, description=body.description, new_name=body.name, actor=user.name
    )
    return _segment(view)


@router.post("/api/segments/{name}/duplicate", status_code=201, tags=["segments"])
def duplicate_segment(name: str, body: SegmentCopy, user: CurrentUser, store: StoreDep) -> outputs.Segment:
    """A new segment with the same rule and description."""
    require(user, "admin", "contributor")
    return _segment(segments.duplicate_segment(store, name=name, new_name=body.new_name, actor=user.name))


@router.get(
    "/api/segments/{name}/members.csv", tags=["segments"], response_class=StreamingResponse, responses=answers.CSV
)
def members_csv(name: str, user: CurrentUser, store: StoreDep) -> StreamingResponse:
    """Every member with every profile field, ordered by key (profile data: admins and contributors only)."""
    require(user, "admin", "contributor")
    columns, rows = membership.member_rows(store, name=name)
    return StreamingResponse(
        csv_chunks(columns, rows, raw=store.settings.csv_raw),
        media_type="text/csv",
        headers=attachment(f"{name} members.csv"),
    )


@router.delete("/api/segments/{name}", status_code=204, tags=["segments"])
def delete_segment(name: str, user: CurrentUser, store: StoreDep) -> None:
    require(user, "admin", "contributor")
    segments.delete_segment(store, name=name, actor=user.name)


@router.post("/api/segments/{name}/activate", tags=["segments"])
def activate(name: str, user: CurrentUser, store: StoreDep) -> outputs.Segment:
    require(user, "admin", "contributor")
    return _segment(segments.set_active(store, name=name, active=True, actor=user.name))


@router.post("/api/segments/{name}/deactivate", tags=["segments"])
def deactivate(name: str, user: CurrentUser, store: StoreDep) -> outputs.Segment:
    require(user, "admin", "contributor")
    return _segment(segments.set_active(store, name=name, active=False, actor=user.name))


@router.get("/api/segments/{name}/count", tags=["segments"])
def count(name: str, user: CurrentUser, store: StoreDep) -> outputs.SegmentCount:
    """Members now (the count is recorded on the segment)."""
    return outputs.SegmentCount(name=name, members=membership.count_segment(store, name=name))


@router.get("/api/segments/{name}/history", tags=["segments"])
def history(
    name: str,
    user: CurrentUser,
    store: StoreDep,
    days: Annotated[
        int | None, Query(ge=1, le=membership.HISTORY_DAYS, description="Only the last so many days (else all kept).")
    ] = None,
) -> list[outputs.CountAt]:
    """Every recorded count of the segment (each refresh and each count now), oldest first."""
    since = None if days is None else datetime.now(UTC) - timedelta(days=days)
    return [
        outputs.CountAt(counted_at=moment, members=members)
        for moment, members in membership.count_history(store, name=name, since=since)
    ]


@router.get("/api/segments/{name}/preview", tags=["segments"])
def preview(name: str, user: CurrentUser, store: StoreDep) -> answers.Preview:
    """The first 100 members (profile data: admins and contributors only)."""
    require(user, "admin", "contributor")
    columns, rows = membership.preview_segment(store, name=name)
    return answers.Preview(columns=list(columns), rows=[[_plain(value) for value in row] for row in rows])


def _plain(value: Any) -> Any:
    return value if value is None or isinstance(value, str | int | float | bool) else str(value)
