"""Feeds that are local files (`file://` URLs and bare paths, DESIGN §6): read whole, capped.

The demo's seeds are files, so this path is as real as HTTP: a missing or unreadable file is a
feed error with the path in the reason, and an unchanged file (same mtime and size) answers
"not modified" just as a 304 would, so its body is not parsed again.
"""

from __future__ import annotations

import asyncio
import email.utils
import stat
from dataclasses import replace
from pathlib import Path
from urllib.parse import unquote, urlsplit

from services.poller.result import FetchResult, failure

__all__ = ["fetch_file", "file_url_path", "resolve_path"]


def file_url_path(url: str, base_dir: Path) -> Path:
    """The path a `file:` URL names; relative ones are taken against `base_dir`."""
    parts = urlsplit(url)
    path = unquote(parts.path)
    if parts.netloc not in ("", "localhost"):  # file://host/share: treat as a UNC-ish path
        path = f"//{parts.netloc}{path}"
    return resolve_path(Path(path), base_dir)


def resolve_path(path: Path, base_dir: Path) -> Path:
    """Relative feed paths are relative to the config folder, as the README says."""
    return path if path.is_absolute() else base_dir / path


async def fetch_file(path: Path, etag: str | None, max_bytes: int) -> FetchResult:
    """Read a feed file off the event loop; an unchanged mtime+size gives `not_modified`."""
    return await asyncio.to_thread(_read_file, path.absolute(), etag, max_bytes)


def _read_file(path: Path, etag: str | None, max_bytes: int) -> FetchResult:
    uri = path.as_uri()
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):  # a FIFO or device could block the thread forever
            return failure(uri, f"not a regular file: {path}")
        validator = f'"{info.st_mtime_ns:x}-{info.st_size:x}"'
        modified = email.utils.formatdate(info.st_mtime, usegmt=True)
        unchanged = FetchResult(uri, None, None, etag=validator, last_modified=modified)
        if etag == validator:
            return replace(unchanged, not_modified=True)
        with path.open("rb") as handle:
            body = handle.read(max_bytes + 1)
    except FileNotFoundError:
        return failure(uri, f"file not found: {path}")
    except PermissionError:
        return failure(uri, f"permission denied: {path}")
    except OSError as exc:
        return failure(uri, f"cannot read {path}: {exc.strerror or type(exc).__name__}")
    if len(body) > max_bytes:
        return failure(uri, f"body exceeds {max_bytes} bytes")
    if not body.strip():
        return failure(uri, f"empty file: {path}")
    return replace(unchanged, body=body, bytes_read=len(body))
