"""The one error type whose message is shown to users as it is."""


class UserError(Exception):
    """A failure the user can act on; ``str(error)`` is a one-line message safe to show anywhere."""


class ConfigError(UserError):
    """A setting is missing or invalid."""


class InvalidBattle(UserError):
    """A battle was asked for with options outside the rules."""


class UnknownModel(UserError):
    """What the user typed names no model, or more than one."""

    def __init__(self, message: str, candidates: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.candidates = candidates
