"""The chaos soak's invariants, checked once the load has ended and every vote window has passed:
from the Discord double's records (what people saw) and the store (what the bot kept)."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from benchmarks.chaos_bots import Life
from benchmarks.chaos_load import LoadRecord
from benchmarks.chaos_messages import Kind, Posted, bot_posts, places
from bot.engine.battle import Side
from bot.engine.lifecycle import BattleState
from bot.engine.ratings import fit_ratings
from bot.services.battles.standings import StandingsService
from bot.services.tournaments.bracket import bracket_card
from bot.stages.embeds import card_embed
from bot.store import Store, StoredBattle
from bot.store.tournaments import StoredTournament, TournamentState
from tests.fakes.discord_double import DiscordDouble, Thread

RATING_TOLERANCE = 1e-6
BATTLE_NUMBER = re.compile(r"[Bb]attle #(\d+)")
LOG_RECORD = re.compile(r"^\d{4}-\d\d-\d\d [\d:,]+ (?P<level>[A-Z]+) (?P<name>\S+): (?P<msg>.*)")
REPORTED = (
    (re.compile(r"Battle (\d+) \(.*\) crashed"), Kind.CRASH_NOTICE),
    (re.compile(r"Vote of battle (\d+) \(.*\) crashed"), Kind.END_NOTICE),
)


@dataclass
class Invariant:
    name: str
    checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def holds(self) -> bool:
        return not self.problems

    def check(self, ok: bool, problem: str) -> None:
        self.checked += 1
        if not ok:
            self.problems.append(problem)


@dataclass
class Evidence:
    """Everything the checks read, gathered after the bot stopped."""

    battles: list[StoredBattle]
    ballots: dict[int, dict[int, Side]]
    tournaments: list[StoredTournament]
    unannounced_results: list[StoredBattle]
    unfinished_verdicts: list[tuple[int, object]]
    verdict_messages: dict[int, int | None]  # judged battle -> its verdict message
    # Per board (a server, None for global): the bot's ratings, and a fit from the stored votes.
    boards: dict[int | None, tuple[dict[str, float], dict[str, float]]]


async def gather(store: Store) -> Evidence:
    battles = await store.battles_in(list(BattleState))
    ballots = {b.id: await store.ballots(b.id) for b in battles if b.state is BattleState.CLOSED}
    verdicts = {}
    for battle in battles:
        status = await store.verdict_status(battle.id)
        if status is not None:
            verdicts[battle.id] = status.message_id
    return Evidence(
        battles,
        ballots,
        await store.tournaments_in(list(TournamentState)),
        await store.unannounced_results(),
        await store.unfinished_verdicts(),
        verdicts,
        await _boards(store, battles, ballots),
    )


async def _boards(
    store: Store, battles: list[StoredBattle], ballots: dict[int, dict[int, Side]]
) -> dict[int | None, tuple[dict[str, float], dict[str, float]]]:
    """Each leaderboard as the bot shows it (a fresh service, so nothing cached), beside a fit
    from the stored ballots of every rated closed battle."""
    standings = StandingsService(store)
    boards = {}
    for scope in [None, *sorted({b.guild_id for b in battles})]:
        rows = []
        for battle in battles:
            if battle.state is not BattleState.CLOSED or not battle.rated:
                continue
            if scope is not None and battle.guild_id != scope:
                continue
            sides = list(ballots.get(battle.id, {}).values())
            if sides and battle.battle.model_a != battle.battle.model_b:
                share = sum(side is Side.A for side in sides) / len(sides)
                rows.append((battle.battle.model_a, battle.battle.model_b, share))
        shown = {row.model: row.rating.rating for row in await standings.standings(scope)}
        fitted = {model: rating.rating for model, rating in fit_ratings(rows).items()}
        boards[scope] = (shown, fitted)
    return boards


def _check_boards(evidence: Evidence) -> Invariant:
    check = Invariant("each leaderboard equals a fit from the stored votes")
    for scope, (shown, fitted) in evidence.boards.items():
        same = shown.keys() == fitted.keys() and all(
            abs(shown[m] - fitted[m]) <= RATING_TOLERANCE * max(1.0, abs(fitted[m])) for m in shown
        )
        check.check(same, f"board {scope or 'global'}: shown {shown}, fitted {fitted}")
    return check


def attribute(
    double: DiscordDouble, battles: Sequence[StoredBattle], verdicts: dict[int, int | None]
) -> dict[int, list[Posted]]:
    """Each battle's posts. A vote, results or verdict message the store names is its battle's,
    and so is a notice naming "#N"; any other post is the battle's whose title card thread it is
    in, or else the battle's that started last before it in its channel (or tournament thread).
    A vote may close while the next battle in its channel runs, hence the store first."""
    by_place: dict[int, list[StoredBattle]] = defaultdict(list)
    named: dict[int, int] = {}
    for battle in sorted(battles, key=lambda b: b.created_at):
        by_place[battle.channel_id].append(battle)
        for message_id in (battle.vote_message_id, battle.results_message_id):
            if message_id is not None:
                named[message_id] = battle.id
    named |= {message: battle for battle, message in verdicts.items() if message is not None}
    owned: dict[int, list[Posted]] = {b.id: [] for b in battles}
    thread_owner: dict[int, int] = {}
    for place in places(double):
        for post in bot_posts(double, place):
            if post.kind in (Kind.TOURNAMENT, Kind.TOURNAMENT_NOTICE):
                continue
            mention = BATTLE_NUMBER.search(post.text) if post.kind is Kind.END_NOTICE else None
            if post.id in named:
                owned[named[post.id]].append(post)
            elif mention and int(mention[1]) in owned:
                owned[int(mention[1])].append(post)
            elif isinstance(place, Thread) and place.id in thread_owner:
                owned[thread_owner[place.id]].append(post)
            else:
                earlier = [b for b in by_place.get(place.id, []) if b.created_at <= post.at + 0.002]
                if not earlier:
                    continue
                owner = earlier[-1]
                owned[owner.id].append(post)
                if post.kind is Kind.TITLE_CARD:
                    thread_owner[post.id] = owner.id  # a thread opened from it has its id
    return owned


def expected_verses(battle: StoredBattle) -> list[tuple[str, int]]:
    counts: Counter[str] = Counter()
    order = []
    for slot in battle.battle.plan():
        if slot.side is not None:
            model = battle.battle.model(slot.side)
            counts[model] += 1
            order.append((model, counts[model]))
    return order


def check_all(
    double: DiscordDouble,
    evidence: Evidence,
    load: LoadRecord,
    lives: Sequence[Life],
) -> list[Invariant]:
    battles = evidence.battles
    owned = attribute(double, battles, evidence.verdict_messages)
    final = Invariant("every battle ends in exactly one final state")
    says = Invariant("its channel says how it ended, exactly once")
    once = Invariant("no title card, vote, results or verdict posted twice")
    verses = Invariant("no verse posted twice or out of order")
    votes = Invariant("every vote cast (bot up or down) is counted")
    for battle in battles:
        posts = owned[battle.id]
        kinds = Counter(p.kind for p in posts)
        final.check(battle.state.is_final, f"battle {battle.id} is still {battle.state.value}")
        ended = kinds[Kind.END_NOTICE] + kinds[Kind.CRASH_NOTICE]
        if battle.state is BattleState.CLOSED:
            results = [p.id for p in posts if p.kind is Kind.RESULTS]
            says.check(
                results == [battle.results_message_id] and ended == 0,
                f"battle {battle.id} (closed): results {results}, stored "
                f"{battle.results_message_id}, end notices {ended}",
            )
        elif battle.state.is_final:
            says.check(
                ended == 1 and kinds[Kind.RESULTS] == 0,
                f"battle {battle.id} ({battle.state.value}): {ended} end notices, "
                f"{kinds[Kind.RESULTS]} results",
            )
        for kind in (Kind.TITLE_CARD, Kind.VOTE, Kind.RESULTS, Kind.VERDICT):
            once.check(kinds[kind] <= 1, f"battle {battle.id}: {kinds[kind]} {kind.value}s")
        if battle.id in evidence.verdict_messages and kinds[Kind.VERDICT]:
            [verdict] = [p.id for p in posts if p.kind is Kind.VERDICT][:1] or [None]
            once.check(
                verdict == evidence.verdict_messages[battle.id],
                f"battle {battle.id}: verdict {verdict} posted, "
                f"{evidence.verdict_messages[battle.id]} stored",
            )
        shown = [p.verse for p in posts if p.kind is Kind.VERSE]
        plan = expected_verses(battle)
        complete = battle.state is BattleState.CLOSED
        verses.check(
            shown == plan if complete else shown == plan[: len(shown)],
            f"battle {battle.id} ({battle.state.value}): verses {shown}, planned {plan}",
        )
        _check_votes(double, battle, evidence, load, posts, votes)
    nonces = Counter(p.nonce for ps in owned.values() for p in ps if p.nonce)
    twice = [n for n, count in nonces.items() if count > 1]
    verses.check(not twice, f"verses posted twice: {twice}")
    return [
        final,
        says,
        once,
        verses,
        votes,
        _check_boards(evidence),
        *_check_tournament(double, evidence),
        _check_threads_and_webhooks(double, battles, owned),
        _check_nothing_open(evidence, lives, double),
        _check_tracebacks(lives, owned, double),
        _check_protocol(double),
    ]


def _check_votes(
    double: DiscordDouble,
    battle: StoredBattle,
    evidence: Evidence,
    load: LoadRecord,
    posts: list[Posted],
    votes: Invariant,
) -> None:
    vote_posts = [p.id for p in posts if p.kind is Kind.VOTE]
    cast = [v for v in load.votes if v.message_id in vote_posts]
    if battle.state is not BattleState.CLOSED:
        votes.check(
            not vote_posts,
            f"battle {battle.id} ended {battle.state.value}, yet showed a vote {vote_posts}",
        )
        votes.check(
            not cast,
            f"battle {battle.id} ({battle.state.value}): {len(cast)} votes cast on its vote "
            "message were never counted",
        )
        return
    message = double._state.message(battle.vote_message_id or 0)
    on_message: dict[int, Side] = {}
    if message is not None:
        for side in Side:
            entry = message.reactions.get(_emoji(battle, side))
            for user_id, burst in entry.users.items() if entry else ():
                if user_id != double.bot_user.id and not burst:
                    on_message[user_id] = side
    ballots = evidence.ballots.get(battle.id, {})
    votes.check(
        ballots == on_message,
        f"battle {battle.id}: ballots {sorted(ballots.items())}, reactions "
        f"{sorted(on_message.items())}",
    )
    counted = (battle.votes_a, battle.votes_b)
    wanted = tuple(sum(s is side for s in on_message.values()) for side in Side)
    votes.check(counted == wanted, f"battle {battle.id}: counted {counted}, cast {wanted}")
    missing = [v.user_id for v in cast if v.user_id not in ballots]
    votes.check(not missing, f"battle {battle.id}: votes of {missing} not counted")


def _emoji(battle: StoredBattle, side: Side) -> str:
    from bot.engine.votes import DEFAULT_EMOJI

    return (battle.emoji or DEFAULT_EMOJI)[side]


def _check_threads_and_webhooks(
    double: DiscordDouble, battles: Sequence[StoredBattle], owned: dict[int, list[Posted]]
) -> Invariant:
    check = Invariant("no thread or webhook created twice for one battle")
    threads = {t.id: t for g in double.guilds.values() for t in g.threads.values()}
    for battle in battles:
        cards = [p.id for p in owned[battle.id] if p.kind is Kind.TITLE_CARD]
        opened = [c for c in cards if c in threads]
        check.check(len(opened) <= 1, f"battle {battle.id}: {len(opened)} threads")
        if battle.thread_id is not None:
            check.check(
                opened == [battle.thread_id],
                f"battle {battle.id}: stored thread {battle.thread_id}, opened {opened}",
            )
    for guild in double.guilds.values():
        for channel in guild.channels.values():
            hooks = [h for h in double.webhooks(channel.id) if h.get("name") == "rapbattle"]
            check.check(len(hooks) <= 1, f"#{channel.name}: {len(hooks)} webhooks of the bot")
    return check


def _check_nothing_open(
    evidence: Evidence, lives: Sequence[Life], double: DiscordDouble
) -> Invariant:
    check = Invariant("nothing left running or open")
    open_battles = [b.id for b in evidence.battles if not b.state.is_final]
    check.check(not open_battles, f"battles still open: {open_battles}")
    unposted = [b.id for b in evidence.unannounced_results]
    check.check(not unposted, f"results never posted: {unposted}")
    check.check(
        not evidence.unfinished_verdicts, f"verdicts unfinished: {evidence.unfinished_verdicts}"
    )
    running = [t.id for t in evidence.tournaments if t.state is TournamentState.RUNNING]
    check.check(not running, f"tournaments still running: {running}")
    last = {}
    for life in lives:
        last[life.slot] = life
    for life in last.values():
        check.check(
            life.returncode == 0 and not life.killed,
            f"bot {life.slot}'s last process ended with {life.returncode} on Ctrl-C",
        )
    connected = [s.shard_id for s in double.sessions if s.live]
    check.check(not connected, f"gateway sessions still connected after the stop: {connected}")
    return check


def _check_tracebacks(
    lives: Sequence[Life], owned: dict[int, list[Posted]], double: DiscordDouble
) -> Invariant:
    """Each traceback must come with a report where people look: a battle's crash with its
    channel's notice, a vote's with its no-contest notice, a command's with the error hook's
    answer to its user (which the hook always sends)."""
    check = Invariant("no traceback the bot did not also report where people look")
    tournament_crashes = sum(
        "hit an error on our side" in p.text
        for place in places(double)
        for p in bot_posts(double, place)
        if p.kind is Kind.TOURNAMENT_NOTICE
    )
    for life in lives:
        record = ""
        for line in life.lines:
            found = LOG_RECORD.match(line)
            if found:
                record = found["msg"]
                continue
            if not line.startswith("Traceback (most recent call last)"):
                continue
            check.check(
                _reported(record, owned, tournament_crashes),
                f"bot {life.slot} life {life.number}: traceback after {record!r}",
            )
    return check


def _reported(record: str, owned: dict[int, list[Posted]], tournament_crashes: int) -> bool:
    if record.startswith("Command /") and " failed (" in record:
        return True
    if record.startswith("Tournament ") and record.endswith("crashed"):
        return tournament_crashes > 0
    for pattern, kind in REPORTED:
        found = pattern.search(record)
        if found:
            return any(p.kind is kind for p in owned.get(int(found[1]), []))
    return False


def _check_protocol(double: DiscordDouble) -> Invariant:
    check = Invariant("every request the bot sent Discord was well-formed")
    check.check(not double.violations, f"violations: {double.violations[:5]}")
    return check


def _check_tournament(double: DiscordDouble, evidence: Evidence) -> list[Invariant]:
    check = Invariant("the tournament ends with one champion, one result a match, its bracket true")
    check.check(len(evidence.tournaments) == 1, f"{len(evidence.tournaments)} tournaments")
    by_id = {b.id: b for b in evidence.battles}
    for tournament in evidence.tournaments:
        check.check(
            tournament.state is TournamentState.FINISHED and tournament.champion is not None,
            f"tournament {tournament.id} is {tournament.state.value}, champion "
            f"{tournament.champion}",
        )
        check.check(tournament.champion_announced, f"tournament {tournament.id}: not announced")
        for round_ in tournament.rounds:
            for match in round_.matches:
                where = f"tournament {tournament.id} round {round_.number} match {match.index}"
                check.check(match.winner is not None, f"{where}: no winner")
                battle = by_id.get(match.battle_id or 0)
                check.check(battle is not None, f"{where}: no battle")
                if battle is not None and battle.state is BattleState.CLOSED:
                    a, b = battle.votes_a or 0, battle.votes_b or 0
                    if a != b:
                        crowd = battle.battle.model_a if a > b else battle.battle.model_b
                        check.check(
                            match.winner == crowd,
                            f"{where}: {match.winner} advanced, the crowd chose {crowd}",
                        )
        cards = Counter()
        for place in places(double):
            for post in bot_posts(double, place):
                if post.kind is Kind.TOURNAMENT and f"#{tournament.id}" in post.text:
                    cards[(place.id, post.text.strip().split("\n", 1)[0])] += 1
        doubled = [key for key, count in cards.items() if count > 1]
        check.check(not doubled, f"tournament {tournament.id}: cards posted twice: {doubled}")
        threads = [
            t
            for g in double.guilds.values()
            for t in g.threads.values()
            if t.id == tournament.announcement_message_id
        ]
        check.check(
            tournament.thread_id is None or [t.id for t in threads] == [tournament.thread_id],
            f"tournament {tournament.id}: thread {tournament.thread_id}, opened {threads}",
        )
        if tournament.bracket_message_id is not None:
            shown = double._state.message(tournament.bracket_message_id)
            wanted = card_embed(bracket_card(tournament)).to_dict()
            got = shown.embeds[0] if shown is not None and shown.embeds else {}
            same = all(got.get(key) == wanted.get(key) for key in ("title", "description"))
            same = same and [(f["name"], f["value"]) for f in got.get("fields", [])] == [
                (f["name"], f["value"]) for f in wanted.get("fields", [])
            ]
            check.check(same, f"tournament {tournament.id}: the bracket differs from the store")
        else:
            check.check(False, f"tournament {tournament.id}: no bracket message")
    return [check]
