"""Files kept outside the web root (``PRIVATE_MEDIA_ROOT``), for every domain: deliverables,
visit reports, measurement evidence. They are served only through views that check who
may read them; the database keeps their storage name and SHA-256."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from django.conf import settings

from fundapp.uploads.content import upload_chunks


def private_path(storage_name: str) -> Path:
    """Where a stored file lies on this server."""
    return Path(settings.PRIVATE_MEDIA_ROOT) / storage_name


def private_file_write(storage_name: str, upload: Any) -> str:
    """Write the upload under ``storage_name`` (its folders made as needed), hashing it on
    the way; return its SHA-256 (hex). The upload is rewound afterwards."""
    target = private_path(storage_name)
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with open(target, "wb") as out:
        for chunk in upload_chunks(upload):
            digest.update(chunk)
            out.write(chunk)
    upload.seek(0)
    return digest.hexdigest()
