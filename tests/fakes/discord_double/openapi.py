"""Check request bodies against Discord's OpenAPI description (JSON Schema 2020-12).

The description is read from a path given at runtime (it is not part of this project).
Tolerated deviations, both things real Discord accepts:

* snowflakes may be JSON integers (the spec says strings; discord.py sends ints in
  ``allowed_mentions.users/roles``, ``message_reference``, ``sticker_ids``...);
* ``MessageCreateRequest.content`` allows 4000 characters in the spec; the 2000 limit for bots
  is enforced separately (see ``errors.check_message_body``).
"""

from __future__ import annotations

import copy
import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry
from referencing.jsonschema import DRAFT202012

SPEC_URI = "urn:discord-openapi"
_JSON = "application/json"


@dataclass(frozen=True)
class SchemaError:
    path: tuple[str | int, ...]
    keyword: str
    message: str

    def __str__(self) -> str:
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in self.path)
        return f"${where}: {self.message}"


def _pointer(*parts: str) -> str:
    escaped = (part.replace("~", "~0").replace("/", "~1") for part in parts)
    return quote("/" + "/".join(escaped), safe="/~")


def _short(error: ValidationError) -> str:
    message = str(error.message)
    return message if len(message) <= 200 else message[:197] + "..."


class OpenApiValidator:
    """Validators for request bodies, built once per operation and cached."""

    def __init__(self, spec: dict[str, Any]) -> None:
        spec = copy.deepcopy(spec)
        schemas = spec["components"]["schemas"]
        schemas["SnowflakeType"] = {
            "anyOf": [schemas["SnowflakeType"], {"type": "integer", "minimum": 0}]
        }
        self._spec = spec
        self._registry: Registry = Registry().with_resource(
            SPEC_URI, DRAFT202012.create_resource(spec)
        )
        self._validators: dict[tuple[str, str], Draft202012Validator | None] = {}

    def has_operation(self, path: str, method: str) -> bool:
        return method.lower() in self._spec["paths"].get(path, {})

    def _validator(self, path: str, method: str) -> Draft202012Validator | None:
        key = (path, method.lower())
        if key not in self._validators:
            operation = self._spec["paths"].get(path, {}).get(method.lower(), {})
            content = operation.get("requestBody", {}).get("content", {})
            validator = None
            if _JSON in content:
                pointer = _pointer(
                    "paths", path, method.lower(), "requestBody", "content", _JSON, "schema"
                )
                validator = Draft202012Validator(
                    {"$ref": f"{SPEC_URI}#{pointer}"}, registry=self._registry
                )
            self._validators[key] = validator
        return self._validators[key]

    def validate(self, path: str, method: str, body: Any) -> list[SchemaError]:
        """Errors of ``body`` for the operation ``method path`` (path as in the spec)."""
        validator = self._validator(path, method)
        if validator is None:
            return []
        errors = []
        for error in validator.iter_errors(body):
            detail = best_match([error])
            errors.append(
                SchemaError(tuple(detail.absolute_path), str(detail.validator), _short(detail))
            )
        return errors


@functools.cache
def load_validator(spec_path: str) -> OpenApiValidator:
    """One validator per spec file and process (loading and compiling is the slow part)."""
    return OpenApiValidator(json.loads(Path(spec_path).read_text(encoding="utf-8")))


_DISCORD_CODES = {
    "maxLength": "BASE_TYPE_MAX_LENGTH",
    "minLength": "BASE_TYPE_MIN_LENGTH",
    "maxItems": "BASE_TYPE_MAX_LENGTH",
    "minItems": "BASE_TYPE_MIN_LENGTH",
    "required": "BASE_TYPE_REQUIRED",
    "type": "BASE_TYPE_BAD_TYPE",
    "enum": "BASE_TYPE_CHOICES",
    "maximum": "NUMBER_TYPE_MAX",
    "minimum": "NUMBER_TYPE_MIN",
}


def discord_code(keyword: str) -> str:
    """Discord's error code for a JSON Schema keyword (a close enough guess)."""
    return _DISCORD_CODES.get(keyword, "BASE_TYPE_INVALID")
