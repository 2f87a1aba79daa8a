"""What each model is shown on its turn, following the rapbench tournament protocol."""

from __future__ import annotations

from collections.abc import Sequence

from bot.engine.battle import Battle, Side, Turn

FIRST_ROUND_MESSAGE = "You drew the first round. Open the battle with your first verse."
#: Ends every model's system message in a clean-mode battle (the server setting ``clean``). It is
#: a request to the model, not a filter: nothing checks the verses against it.
CLEAN_MODE_LINE = (
    "Keep it clean: no slurs, no sexual content, "
    "and no attacks on real private people (public figures and your opponent are fair game)."
)

Message = dict[str, str]


def system_prompt(battle: Battle, side: Side) -> str:
    me, opponent = battle.stage_name(side), battle.stage_name(side.opponent)
    prompt = (
        f"You are {me}, in a rap battle against {opponent}. "
        "Battle in rhyme, with wit, humor and harshness. "
        "Open your first verse by introducing yourself. "
        "Answer with your verse only."
    )
    if battle.topic:
        # Quoted and labelled so that a topic reads as a subject, not as instructions.
        prompt += f' The topic of this battle, chosen by the audience: "{battle.topic}".'
    if battle.clean:
        prompt += " " + CLEAN_MODE_LINE
    return prompt


def messages_for(battle: Battle, side: Side, history: Sequence[Turn]) -> list[Message]:
    """The chat messages for ``side``'s next verse, given every turn before it."""
    messages: list[Message] = [{"role": "system", "content": system_prompt(battle, side)}]
    # The first-round note stays in the opener's later requests too, so every conversation
    # starts with a user turn and alternates, as strict providers require.
    if not history or history[0].side is side:
        messages.append({"role": "user", "content": FIRST_ROUND_MESSAGE})
    for turn in history:
        if turn.side is None:
            role = "system"
        elif turn.side is side:
            role = "assistant"
        else:
            role = "user"
        messages.append({"role": role, "content": turn.text})
    return messages
