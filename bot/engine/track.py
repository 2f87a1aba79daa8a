"""A battle as a track's script: who says what, in which voice, in order.

Pure rules, no audio: the host reads the title card, then every turn of the transcript in order,
each verse in its MC's voice and each announcement ("Final round!") in the host's. The text is
what a listener should hear: markdown markers are dropped, stage directions are skipped, and
model ids are read as display names. Long text is cut into chunks an engine accepts.
"""

from __future__ import annotations

import enum
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.engine.battle import BLIND_NAMES, Side, Turn

# OpenAI's speech endpoint takes at most this many characters per request.
SPEECH_CHARS = 4096


class Speaker(enum.Enum):
    HOST = "host"
    MC_A = "mc_a"
    MC_B = "mc_b"


@dataclass(frozen=True, slots=True)
class TrackPart:
    """One stretch of speech in the track: its speaker, the voice and the words (never empty)."""

    speaker: Speaker
    voice: str
    text: str


@dataclass(frozen=True, slots=True)
class VoiceCast:
    """The voices of one battle: the host's and each MC's."""

    host: str
    mc_a: str
    mc_b: str

    def voice(self, speaker: Speaker) -> str:
        match speaker:
            case Speaker.HOST:
                return self.host
            case Speaker.MC_A:
                return self.mc_a
            case Speaker.MC_B:
                return self.mc_b


# -- voices ---------------------------------------------------------------------------------------


def voice_index(model_id: str, count: int) -> int:
    """A model's place in a list of ``count`` voices, the same in every process and every battle.

    sha256, not ``hash()``: Python salts string hashes per process, so a model would change voice
    on every restart.
    """
    digest = hashlib.sha256(model_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count


def cast_voices(model_a: str, model_b: str, voices: Sequence[str], host_voice: str) -> VoiceCast:
    """Each MC's voice, derived from its model id, never the host's and never each other's.

    Each model keeps its voice across battles; when both land on the same one, model B takes the
    next voice in the list. Only a list with a single voice (besides the host's) makes the two
    MCs share it; a list holding nothing but the host's voice lends it to the MCs too.
    """
    pool = list(dict.fromkeys(voice for voice in voices if voice != host_voice))
    if not pool:
        if not voices:
            raise ValueError("a speech engine needs at least one voice")
        pool = [host_voice]
    first = voice_index(model_a, len(pool))
    second = voice_index(model_b, len(pool))
    if second == first:
        second = (second + 1) % len(pool)
    return VoiceCast(host=host_voice, mc_a=pool[first], mc_b=pool[second])


# -- the script -----------------------------------------------------------------------------------


def track_parts(
    model_a: str,
    model_b: str,
    turns: Sequence[Turn],
    cast: VoiceCast,
    topic: str | None = None,
) -> tuple[TrackPart, ...]:
    """The track in order: the host's title card, then every turn as the transcript has it.

    A verse is spoken by its side's MC, an announcement by the host. A turn with nothing left to
    say once markdown and stage directions are gone (a verse of only ``*drops the mic*``) has no
    part. Where a verse names either model by its id, the display name is read instead.
    """
    parts = [TrackPart(Speaker.HOST, cast.host, title_card(model_a, model_b, topic))]
    names = {model: display_name(model) for model in (model_a, model_b)}
    for turn in turns:
        speaker = _speaker(turn)
        text = speech_text(_with_display_names(turn.text, names))
        if text:
            parts.append(TrackPart(speaker, cast.voice(speaker), text))
    return tuple(parts)


def title_card(model_a: str, model_b: str, topic: str | None = None) -> str:
    """What the host says first: "qwen max versus gpt 4o", then the topic if there is one."""
    card = f"{display_name(model_a)} versus {display_name(model_b)}"
    spoken_topic = speech_text(topic) if topic else ""
    if spoken_topic:
        card += f". The topic: {spoken_topic}"
    return card


def _with_display_names(text: str, names: dict[str, str]) -> str:
    for model in sorted(names, key=len, reverse=True):
        if model != names[model]:
            text = text.replace(model, names[model])
    return text


def _speaker(turn: Turn) -> Speaker:
    if turn.is_announcement:
        return Speaker.HOST
    return Speaker.MC_A if turn.side is Side.A else Speaker.MC_B


# -- display names --------------------------------------------------------------------------------

_VARIANT = re.compile(r":[a-z][a-z0-9-]*$", re.IGNORECASE)  # OpenRouter's ":free", ":beta"
_NAME_SEPARATORS = re.compile(r"[-_:\s]+")


def display_name(model_id: str) -> str:
    """A model id as it is read aloud: ``qwen/qwen-max`` is "qwen max".

    The part after the last "/" (the vendor is noise when read aloud), without an OpenRouter
    variant such as ":free", with dashes, underscores and colons read as spaces. Version tokens
    stay as they are ("llama 3.1 405b instruct", "gpt 4o"): engines read "3.1" as "three point
    one". The blind names "MC A" and "MC B", and names with nothing to tidy, stay as they are.
    """
    if model_id in BLIND_NAMES:
        return model_id
    name = model_id.strip().rstrip("/").rsplit("/", 1)[-1]
    name = _VARIANT.sub("", name)
    name = _NAME_SEPARATORS.sub(" ", name).strip()
    return name or model_id.strip()


# -- what is read aloud ---------------------------------------------------------------------------

_FENCE = re.compile(r"^\s*(```|~~~)")
_RULE = re.compile(r"^\s*([-*_])(\s*\1){2,}\s*$")
_HEADING = re.compile(r"^\s*#{1,6}(\s+|$)")
_QUOTE = re.compile(r"^\s*(>\s?)+")
_BULLET = re.compile(r"^\s*(?:[-+*•]|\d{1,3}[.)])\s+")
# An asterisk span on one line: ``*x*``, ``**x**`` or ``***x***``.
_STARRED = re.compile(r"(?<!\\)(\*{1,3})(?=\S)(.+?)(?<=\S)(?<!\\)\1(?!\*)")
_OPENERS = "([{"
_SENTENCE_ENDS = tuple(".!?…—–")
_CLOSERS = ")]}"
_IMAGE_OR_LINK = re.compile(r"!?\[([^\]\n]*)\]\([^)\n]*\)")
_REFERENCE_LINK = re.compile(r"\[([^\]\n]+)\]\[[^\]\n]*\]")
_AUTOLINK = re.compile(r"<(?:https?|ftp|mailto):[^>\s]*>", re.IGNORECASE)
_BARE_URL = re.compile(r"\b(?:https?://|www\.)\S+", re.IGNORECASE)
_HTML_TAG = re.compile(r"</?[a-z][a-z0-9]*(?:\s[^<>]*)?/?>", re.IGNORECASE)
_UNDERSCORED = re.compile(r"(?<![\w\\])(_{1,3})(?=\S)(.+?)(?<=\S)\1(?![\w])")
_STRUCK = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!>~|])")
_STRAY_MARKERS = re.compile(r"[*`]+|~~")
_EMPTY_BRACKETS = re.compile(r"\(\s*\)|\[\s*\]|\{\s*\}")
_SPACES = re.compile(r"[ \t\f\v\u00a0]+")
_SPACE_BEFORE_PUNCTUATION = re.compile(r"\s+([,.;:!?])")
_WORD = re.compile(r"\w")


def speech_text(verse: str) -> str:
    """A verse as it is read aloud, line by line; "" when nothing in it is meant to be heard.

    - Markdown markers are not read: headings' ``#``, quotes' ``>``, list bullets, code fences
      and backticks, ``_emphasis_``, ``~~strike~~``, horizontal rules, and links (their text is
      read, their URL is not; bare URLs are dropped).
    - Stage directions are skipped whole: a span in asterisks (``*x*``, ``**x**``, ``***x***``)
      set apart from the lyrics, that is alone on its line (``**clears throat**``), in brackets
      (``(*laughs*)``), or ending a line after a full stop (``...put the mic down. *bows*``).
      Inside a line of lyrics the same span is emphasis, and its words are read: rhymes such as
      ``More like Nemotron *slam*.`` or ``**Ultra Rhymer** never stops`` keep every word.
    """
    lines: list[str] = []
    for raw in verse.splitlines():
        if _FENCE.match(raw) or _RULE.match(raw):
            continue
        line = _spoken_line(raw)
        if line:
            lines.append(line)
    text = "\n".join(lines)
    return text if _WORD.search(text) else ""


def _spoken_line(line: str) -> str:
    line = _HEADING.sub("", line)
    line = _QUOTE.sub("", line)
    line = _BULLET.sub("", line)
    line = _IMAGE_OR_LINK.sub(r"\1", line)
    line = _REFERENCE_LINK.sub(r"\1", line)
    line = _AUTOLINK.sub("", line)
    line = _BARE_URL.sub("", line)
    line = _HTML_TAG.sub(" ", line)
    line = _without_stage_directions(line)
    line = _UNDERSCORED.sub(r"\2", line)
    line = _STRUCK.sub(r"\1", line)
    line = _ESCAPE.sub(r"\1", line)
    line = _STRAY_MARKERS.sub("", line).replace("_", " ")
    line = _EMPTY_BRACKETS.sub("", line)
    line = _SPACES.sub(" ", line)
    line = _SPACE_BEFORE_PUNCTUATION.sub(r"\1", line).strip()
    # A line left with punctuation only (what stood around a direction) has nothing to say.
    return line if _WORD.search(line) else ""


def _without_stage_directions(line: str) -> str:
    if "*" not in line:
        return line
    # A line of nothing but asterisk spans (and punctuation) is all stage directions.
    lyrics = _WORD.search(_STARRED.sub(" ", line)) is not None

    def replace(match: re.Match[str]) -> str:
        inner = match.group(2)
        if not lyrics or _bracketed(line, match, inner) or _after_last_sentence(line, match):
            return " "
        return inner

    return _STARRED.sub(replace, line)


def _after_last_sentence(line: str, match: re.Match[str]) -> bool:
    """``...put the mic down. *drops the mic*``: a span ending the line after a full stop."""
    if _WORD.search(line[match.end() :]):
        return False
    return line[: match.start()].rstrip()[-1:] in _SENTENCE_ENDS


def _bracketed(line: str, match: re.Match[str], inner: str) -> bool:
    """``(**laughs**)`` or ``**(laughs)**``: a bracketed aside is a direction."""
    inner = inner.strip()
    if inner[:1] in _OPENERS and inner[-1:] in _CLOSERS:
        return True
    before = line[: match.start()].rstrip()[-1:]
    after = line[match.end() :].lstrip()[:1]
    return before in _OPENERS and before != "" and after in _CLOSERS and after != ""


# -- chunks an engine accepts ---------------------------------------------------------------------

# Where a chunk may end, best first: a paragraph, a line or a sentence, a clause, any space.
_PARAGRAPH_END = re.compile(r"\n[ \t]*\n\s*")
_LINE_OR_SENTENCE_END = re.compile(r"\n\s*|[.!?…]+[\"'”’)\]]*\s+")
_CLAUSE_END = re.compile(r"[,;:—–]\s+")
_SPACE = re.compile(r"\s+")
_BOUNDARIES = (_PARAGRAPH_END, _LINE_OR_SENTENCE_END, _CLAUSE_END, _SPACE)


def speech_chunks(text: str, limit: int = SPEECH_CHARS) -> list[str]:
    """``text`` in chunks of at most ``limit`` characters, in order, none blank, none lost.

    Each cut falls at the best boundary in the back half of the window: a paragraph, then a line
    or sentence end, then a clause, then any space; failing those, the latest boundary of any
    kind, and only a text with no space at all is cut mid-word. Whitespace at the cuts is
    dropped, so the chunks joined give back the text modulo whitespace.
    """
    if limit < 1:
        raise ValueError("limit must be positive")
    chunks: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        cut = _cut(rest, limit)
        chunk = rest[:cut].strip()
        if chunk:
            chunks.append(chunk)
        rest = rest[cut:].lstrip()
    if rest:
        chunks.append(rest)
    return chunks


def _cut(text: str, limit: int) -> int:
    """Where the first chunk of ``text`` (longer than ``limit``) ends."""
    # The boundary's whitespace may run past the limit: the chunk is what comes before it.
    window = text[: limit + 1]
    latest = 0
    for boundary in _BOUNDARIES:
        ends = [m.start() + len(m.group().rstrip()) for m in boundary.finditer(window)]
        ends = [end for end in ends if 0 < end <= limit]
        if not ends:
            continue
        if ends[-1] >= limit // 2:
            return _past_whitespace(text, ends[-1])
        latest = max(latest, ends[-1])
    return _past_whitespace(text, latest) if latest else limit


def _past_whitespace(text: str, end: int) -> int:
    while end < len(text) and text[end].isspace():
        end += 1
    return end
