"""The responses every page shares: HTML, JSON and a file to download, all in UTF-8."""

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
