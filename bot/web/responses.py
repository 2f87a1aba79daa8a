"""The responses every page shares: HTML, JSON and a file to download, all in UTF-8; plain text;
and a media file that the page plays, whole or the part of it a player asks for."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web


def html_page(text: str) -> web.Response:
    return web.Response(text=text, content_type="text/html", charset="utf-8")


def json_document(value: Mapping[str, Any], status: int = 200) -> web.Response:
    return web.Response(
        text=json.dumps(value, ensure_ascii=False),
        status=status,
        content_type="application/json",
        charset="utf-8",
    )


def download(text: str, filename: str, content_type: str) -> web.Response:
    return web.Response(
        text=text,
        content_type=content_type,
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def plain_text(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/plain", charset="utf-8")


def media(request: web.Request, body: bytes, filename: str, content_type: str) -> web.Response:
    """A file a page plays (``<audio src>``): shown inline, with the byte range a player asks
    for when it seeks or reads the duration from the end (206), else whole."""
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Disposition": f'inline; filename="{filename}"',
    }
    size = len(body)
    try:
        wanted = request.http_range
    except ValueError:  # a Range we do not understand is ignored, as HTTP allows
        wanted = slice(None)
    if wanted.start is None and wanted.stop is None:
        return web.Response(body=body, content_type=content_type, headers=headers)
    if wanted.start is not None and wanted.start >= size:
        return web.Response(status=416, headers={**headers, "Content-Range": f"bytes */{size}"})
    start, stop, _ = wanted.indices(size)
    headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
    return web.Response(
        body=body[start:stop], status=206, content_type=content_type, headers=headers
    )
