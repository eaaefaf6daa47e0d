"""Data > Profiles: the fields and their types, the row count, and replacing them with an uploaded file."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import UploadFile

from segport.errors import InvalidInput, SegportError
from segport.profiles.reading import check_upload_name
from segport.profiles.service import describe_if_loaded, import_profiles
from segport.users.sessions import add_notice
from segport.web.pages import render
from segport.web.session import PageSession, Post, StoreDep, allow

router = APIRouter(include_in_schema=False)


@router.get("/profiles")
def page(request: Request, session: PageSession, store: StoreDep) -> Response:
    return render(request, "profiles.html", session, source=describe_if_loaded(store), key="")


@router.post("/profiles")
def upload(request: Request, posted: Post, store: StoreDep) -> Response:
    allow(posted.session, "admin")
    key = posted.text("key")
    upload = posted.form.get("file")
    try:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise InvalidInput("No file was chosen.", hint="Choose a CSV or Parquet file with one row per customer.")
        check_upload_name(upload.filename)
        if not key:
            raise InvalidInput("Name the column that identifies a customer.", hint="For example customer_id.")
        with tempfile.TemporaryDirectory(prefix="segport-upload-") as directory:
            path = Path(directory) / Path(upload.filename).name  # the name the source is described by
            with path.open("wb") as out:
                shutil.copyfileobj(upload.file, out)
            imported = import_profiles(
                store,
                path,
                key=key,
                actor=posted.session.user.name,
                allow_shrink=posted.checked("allow_shrink"),
                allow_breaking=posted.checked("allow_breaking"),
            )
    except SegportError as error:
        return render(
            request,
            "profiles.html",
            posted.session,
            status_code=400,
            error=error,
            source=describe_if_loaded(store),
            key=key,
        )
    add_notice(
        store, posted.session, "success", f"Imported {imported.rows:,} profiles with {len(imported.fields)} fields."
    )
    return RedirectResponse("/profiles", status_code=303)
