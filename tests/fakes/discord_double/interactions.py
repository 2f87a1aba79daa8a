"""Interactions the test starts (slash commands, autocomplete, button clicks) and their records.

Options are typed from the command the bot synced, the way the Discord client does it:
an unknown option, a missing required one or a value outside ``choices`` is a test error
(``ValueError``), because a real user could not send it.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from .model import (
    Channel,
    Json,
    Member,
    MessageFlag,
    Notifier,
    Permission,
    Role,
    StoredMessage,
    User,
)

INTERACTION_TOKEN_TTL = 15 * 60


class InteractionType(IntEnum):
    APPLICATION_COMMAND = 2
    MESSAGE_COMPONENT = 3
    AUTOCOMPLETE = 4
    MODAL_SUBMIT = 5


class OptionType(IntEnum):
    SUB_COMMAND = 1
    SUB_COMMAND_GROUP = 2
    STRING = 3
    INTEGER = 4
    BOOLEAN = 5
    USER = 6
    CHANNEL = 7
    ROLE = 8
    NUMBER = 10


#: Callback types allowed as the first answer, per interaction type.
ALLOWED_CALLBACKS: dict[int, frozenset[int]] = {
    InteractionType.APPLICATION_COMMAND: frozenset({4, 5, 9}),
    InteractionType.MESSAGE_COMPONENT: frozenset({4, 5, 6, 7, 9}),
    InteractionType.AUTOCOMPLETE: frozenset({8}),
    InteractionType.MODAL_SUBMIT: frozenset({4, 5, 6, 7}),
}


@dataclass(eq=False)
class Interaction:
    """One interaction sent to the bot and what the bot answered.

    ``await interaction.response()`` gives the callback body (``{"type": 4, "data": {...}}``,
    ``{"type": 5}``, ``{"type": 9, ...}``); ``message`` is the original response message
    (after edits), ``followups`` the followup messages, ``edits`` the bodies of the PATCHes
    of @original.
    """

    id: int
    type: InteractionType
    application_id: int
    user: Member
    channel: Channel
    name: str
    notifier: Notifier = field(repr=False)
    payload: Json = field(default_factory=dict, repr=False)
    token: str = field(default_factory=lambda: "dbl." + secrets.token_urlsafe(48))
    created_at: float = field(default_factory=time.monotonic)
    source_message: StoredMessage | None = None
    response_body: Json | None = None
    responded_at: float | None = None
    original: StoredMessage | None = None
    followup_messages: list[StoredMessage] = field(default_factory=list)
    edits: list[Json] = field(default_factory=list)

    @property
    def response_type(self) -> int | None:
        return None if self.response_body is None else int(self.response_body["type"])

    @property
    def ephemeral(self) -> bool:
        data = (self.response_body or {}).get("data") or {}
        return bool(int(data.get("flags") or 0) & MessageFlag.EPHEMERAL)

    @property
    def deferred(self) -> bool:
        return self.response_type in (5, 6)

    @property
    def latency(self) -> float | None:
        """Seconds from dispatch to the bot's callback."""
        return None if self.responded_at is None else self.responded_at - self.created_at

    @property
    def token_expired(self) -> bool:
        return time.monotonic() - self.created_at > INTERACTION_TOKEN_TTL

    @property
    def message(self) -> Json | None:
        """The original response message as it is now (None if none or deleted)."""
        original = self.original
        if original is None or original.id not in original.channel.messages:
            return None
        return original.to_view(self.application_id)

    @property
    def followups(self) -> list[Json]:
        return [m.to_view(self.application_id) for m in self.followup_messages]

    def metadata(self) -> Json:
        """``interaction_metadata`` of the messages this interaction created."""
        data: Json = {
            "id": str(self.id),
            "type": int(self.type),
            "user": self.user.user.to_wire(),
            "authorizing_integration_owners": {"0": str(self.channel.guild.id)},
        }
        if self.type == InteractionType.APPLICATION_COMMAND:
            data["name"] = self.name
        if self.source_message is not None:
            data["interacted_message_id"] = str(self.source_message.id)
        return data

    async def response(self, timeout: float = 3.0) -> Json:
        """The initial callback body, waiting for it (Discord gives the bot 3 seconds)."""
        return await self.notifier.wait_for(
            lambda: self.response_body, timeout, f"a response to interaction {self.name!r}"
        )

    async def wait_message(
        self, predicate: Callable[[Json], bool] | None = None, timeout: float = 10.0
    ) -> Json:
        """The original response once it is no longer "thinking" and matches ``predicate``."""

        def check() -> Json | None:
            message = self.message
            if message is None or message["flags"] & MessageFlag.LOADING:
                return None
            return message if predicate is None or predicate(message) else None

        return await self.notifier.wait_for(check, timeout, f"the response to {self.name!r}")

    async def wait_followup(
        self, predicate: Callable[[Json], bool] | None = None, timeout: float = 10.0
    ) -> Json:
        """The first followup matching ``predicate``."""

        def check() -> Json | None:
            return next((m for m in self.followups if predicate is None or predicate(m)), None)

        return await self.notifier.wait_for(check, timeout, f"a followup to {self.name!r}")


@dataclass(frozen=True)
class AutocompleteResult:
    choices: list[Json]
    elapsed: float  # seconds from dispatch to the bot's answer


def _check_choice(definition: Json, value: Any) -> None:
    choices = definition.get("choices")
    if choices and value not in [choice["value"] for choice in choices]:
        raise ValueError(f"{value!r} is not a choice of option {definition['name']!r}")


def _check_range(definition: Json, value: float) -> None:
    low, high = definition.get("min_value"), definition.get("max_value")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{value!r} is out of range for option {definition['name']!r}")


def _snowflake_of(value: int | User | Member | Role | Channel) -> int:
    return value if isinstance(value, int) else int(value.id)


def _typed_value(definition: Json, value: Any, resolved: Json, channel: Channel) -> Any:
    """The option's wire value, adding users/channels/roles to ``resolved``."""
    kind = definition["type"]
    name = definition["name"]
    guild = channel.guild
    if kind == OptionType.STRING:
        if not isinstance(value, str):
            raise ValueError(f"option {name!r} takes a string, got {value!r}")
        low, high = definition.get("min_length", 0), definition.get("max_length", 6000)
        if not low <= len(value) <= high:
            raise ValueError(f"option {name!r} must be {low}..{high} characters long")
        _check_choice(definition, value)
        return value
    if kind in (OptionType.INTEGER, OptionType.NUMBER):
        is_number = isinstance(value, int) or (
            kind == OptionType.NUMBER and isinstance(value, float)
        )
        if isinstance(value, bool) or not is_number:
            raise ValueError(f"option {name!r} takes a number, got {value!r}")
        _check_range(definition, value)
        _check_choice(definition, value)
        return value
    if kind == OptionType.BOOLEAN:
        if not isinstance(value, bool):
            raise ValueError(f"option {name!r} takes a boolean, got {value!r}")
        return value
    snowflake = _snowflake_of(value)
    if kind == OptionType.USER:
        member = guild.members.get(snowflake)
        if member is None:
            raise ValueError(f"user {snowflake} is not a member of {guild.name!r}")
        resolved.setdefault("users", {})[str(snowflake)] = member.user.to_wire()
        permissions = channel.permissions_for(member)
        resolved.setdefault("members", {})[str(snowflake)] = member.to_wire(
            with_user=False, permissions=permissions
        )
    elif kind == OptionType.CHANNEL:
        target = guild.channels.get(snowflake)
        if target is None:
            raise ValueError(f"channel {snowflake} is not in {guild.name!r}")
        permissions = target.permissions_for(guild.bot_member)
        resolved.setdefault("channels", {})[str(snowflake)] = {
            **target.to_wire(),
            "permissions": str(permissions),
        }
    elif kind == OptionType.ROLE:
        role = guild.roles.get(snowflake)
        if role is None:
            raise ValueError(f"role {snowflake} is not in {guild.name!r}")
        resolved.setdefault("roles", {})[str(snowflake)] = role.to_wire()
    else:
        raise ValueError(f"option type {kind} of {name!r} is not supported by the double")
    return str(snowflake)


def build_command_data(
    command: Json,
    path: list[str],
    values: Mapping[str, Any],
    channel: Channel,
    *,
    focused: str | None = None,
) -> Json:
    """``data`` of an APPLICATION_COMMAND (or AUTOCOMPLETE when ``focused``) interaction.

    ``path`` holds the subcommand group/subcommand names after the command name.
    """
    definitions: list[Json] = command.get("options") or []
    chain: list[Json] = []
    for part in path:
        sub = next(
            (
                d
                for d in definitions
                if d["name"] == part
                and d["type"] in (OptionType.SUB_COMMAND, OptionType.SUB_COMMAND_GROUP)
            ),
            None,
        )
        if sub is None:
            raise ValueError(f"{command['name']!r} has no subcommand {part!r}")
        chain.append(sub)
        definitions = sub.get("options") or []
    if any(
        d["type"] in (OptionType.SUB_COMMAND, OptionType.SUB_COMMAND_GROUP) for d in definitions
    ):
        raise ValueError(f"{command['name']!r} needs a subcommand")

    by_name = {d["name"]: d for d in definitions}
    unknown = set(values) - set(by_name)
    if unknown:
        raise ValueError(f"{command['name']!r} has no option(s) {sorted(unknown)}")
    if focused is None:
        missing = [d["name"] for d in definitions if d.get("required") and d["name"] not in values]
        if missing:
            raise ValueError(f"{command['name']!r} requires option(s) {missing}")
    elif focused not in values:
        raise ValueError(f"focused option {focused!r} needs a (partial) value")

    resolved: Json = {}
    options: list[Json] = []
    for name, value in values.items():
        definition = by_name[name]
        if name == focused:
            if not definition.get("autocomplete"):
                raise ValueError(f"option {name!r} has no autocomplete")
            options.append(
                {"name": name, "type": definition["type"], "value": value, "focused": True}
            )
        else:
            options.append(
                {
                    "name": name,
                    "type": definition["type"],
                    "value": _typed_value(definition, value, resolved, channel),
                }
            )
    for sub in reversed(chain):
        options = [{"name": sub["name"], "type": sub["type"], "options": options}]

    data: Json = {
        "id": command["id"],
        "name": command["name"],
        "type": command.get("type", 1),
        "options": options,
    }
    if command.get("guild_id"):
        data["guild_id"] = command["guild_id"]
    if resolved:
        data["resolved"] = resolved
    return data


def find_component(components: list[Json], custom_id: str) -> Json | None:
    """The component with ``custom_id`` anywhere in a message's component tree."""
    for component in components:
        if component.get("custom_id") == custom_id:
            return component
        children = list(component.get("components") or [])
        if isinstance(component.get("accessory"), dict):
            children.append(component["accessory"])
        if (found := find_component(children, custom_id)) is not None:
            return found
    return None


def command_permission_ok(command: Json, member_permissions: int) -> bool:
    """Whether a member passes the command's ``default_member_permissions``."""
    required = command.get("default_member_permissions")
    if required is None:
        return True
    required_bits = int(required)
    if required_bits == 0:  # "0" hides the command from everyone but administrators
        return bool(member_permissions & Permission.ADMINISTRATOR)
    return member_permissions & required_bits == required_bits
