"""The pages in a real browser: Debian's headless Chromium, driven by playwright's Python client.

Charts must render with the right number of marks, nothing may log a console error, no request may
leave the host, and the hostile verse must read as text. Each page's screenshot is saved under
the test's tmp_path (pytest keeps the last runs' folders). Skipped, saying why, when Chromium or
playwright is missing; the browser is never downloaded (`.ci/run` installs Debian's chromium).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from aiohttp.test_utils import TestServer

from bot.engine.leaderboard import Board
from bot.web.app import create_app
from tests.web.conftest import ALPHA, PUBLIC_GUILD, XSS_VERSE
from tests.web.test_routes import add_tournament

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = [
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="no /usr/bin/chromium (apt-get install chromium)"
    ),
]


@pytest.fixture
def database_url(tmp_path) -> str:
    """SQLite only: the route tests cover both stores; this covers the browser."""
    return f"sqlite:///{tmp_path}/browser.db"


@pytest.fixture
async def origin(site) -> AsyncIterator[str]:
    server = TestServer(create_app(site), host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


@pytest.fixture
async def browser():
    playwright_api = pytest.importorskip("playwright.async_api", reason="playwright not installed")
    async with playwright_api.async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()


class Watched:
    """A page whose console errors, page errors, dialogs and requests are recorded; requests to
    any other host are blocked as well as recorded."""

    def __init__(self, page, origin: str) -> None:
        self.page = page
        self.origin = urlsplit(origin).netloc
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.foreign: list[str] = []
        self.requests: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        page.on("dialog", self._dialog)

    def _console(self, message) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text}")

    async def _dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        await dialog.dismiss()

    async def route(self, route) -> None:
        url = route.request.url
        self.requests.append(url)
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob") or parts.netloc == self.origin:
            await route.continue_()
        else:
            self.foreign.append(url)
            await route.abort()

    def check_clean(self) -> None:
        assert self.errors == []
        assert self.dialogs == []
        assert self.foreign == []


async def open_page(browser, origin: str, path: str, shots: Path, name: str) -> Watched:
    context = await browser.new_context(viewport={"width": 1200, "height": 900})
    page = await context.new_page()
    watched = Watched(page, origin)
    await page.route("**/*", watched.route)
    response = await page.goto(origin + path, wait_until="networkidle")
    assert response is not None and response.status == 200
    await page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
    return watched


@pytest.fixture
def shots(tmp_path) -> Path:
    folder = tmp_path / "screenshots"
    folder.mkdir()
    return folder


async def test_the_leaderboard_in_a_browser(browser, origin, data, shots):
    watched = await open_page(browser, origin, "/", shots, "leaderboard")
    page = watched.page
    rows = (await data.board(Board.CROWD, None)).rows
    assert await page.locator("#board-crowd tbody tr").count() == len(rows)
    assert await page.locator("svg.chart").count() == 4
    assert await page.locator("#chart-ratings svg .mark").count() == len(rows)
    assert await page.locator("#chart-average svg .mark").count() == len(rows)
    pairs = await data.pairs(Board.CROWD, None)
    met = {frozenset((p.model_a, p.model_b)) for p in pairs if p.model_a != p.model_b}
    assert await page.locator("#chart-winrate svg .mark").count() == 2 * len(met)
    assert await page.locator("#chart-battles svg .mark").count() == 2 * len(met)
    # The sortable table: sorting by model puts the names in order, clicking again reverses.
    header = page.locator("#board-crowd th", has_text="Model")
    await header.click()
    names = await page.locator("#board-crowd tbody tr td:nth-child(2)").all_inner_texts()
    assert names == sorted(names)
    await header.click()
    names = await page.locator("#board-crowd tbody tr td:nth-child(2)").all_inner_texts()
    assert names == sorted(names, reverse=True)
    # Every avatar loaded (a broken image has no natural width).
    widths = await page.eval_on_selector_all("img.avatar", "els => els.map(e => e.naturalWidth)")
    assert widths and all(width == 128 for width in widths)
    watched.check_clean()
    assert any(url.endswith("/static/sort.js") for url in watched.requests)


async def test_a_battle_page_shows_the_hostile_verse_as_text(browser, origin, arena, shots):
    watched = await open_page(browser, origin, f"/battles/{arena.xss}", shots, "battle")
    page = watched.page
    verses = page.locator("article.verse .text")
    assert await verses.count() == 4
    assert await verses.first.text_content() == XSS_VERSE
    # None of its markup became elements.
    assert await page.locator("main img[src='x']").count() == 0
    assert await page.locator("main a[href^='javascript:']").count() == 0
    assert await page.locator("main script").count() == 0
    # The huge line wraps inside the page instead of widening it.
    overflow = await page.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )
    assert overflow
    # Verse lines keep their breaks.
    second = await verses.nth(1).inner_text()
    assert second.count("\n") >= 4
    watched.check_clean()


async def test_a_model_page_draws_its_rating_over_time(browser, origin, data, shots):
    await data.fill_history()
    points = await data.history(ALPHA, Board.CROWD)
    watched = await open_page(browser, origin, f"/models/{ALPHA}", shots, "model")
    page = watched.page
    assert await page.locator("h1.model-id").inner_text() == ALPHA
    assert await page.locator("#chart-history svg .mark").count() == len(points) > 3
    assert await page.locator("table.h2h tbody tr").count() == 3
    watched.check_clean()


async def test_a_tournament_page_in_a_browser(browser, origin, arena, shots):
    tournament_id = await add_tournament(arena.store, PUBLIC_GUILD)
    watched = await open_page(browser, origin, f"/tournaments/{tournament_id}", shots, "tournament")
    page = watched.page
    assert await page.locator("section.round").count() == 2
    assert await page.locator("#tiers tbody tr").count() == 3
    watched.check_clean()


async def test_a_battle_page_plays_its_track_from_the_site(browser, origin, arena, shots):
    battle_id = arena.public[0]
    watched = await open_page(browser, origin, f"/battles/{battle_id}", shots, "battle-track")
    page = watched.page
    audio = page.locator("figure.track audio")
    assert await audio.count() == 1
    assert await audio.get_attribute("src") == f"/battles/{battle_id}.ogg"
    assert await audio.get_attribute("preload") == "none"
    assert await audio.get_attribute("controls") is not None
    # Nothing is fetched until the player is used; then the policy lets the track load and
    # Chromium reads its length (the fake maker's one-second tone, as Ogg Opus).
    assert not any(url.endswith(".ogg") for url in watched.requests)
    seconds = await page.evaluate(
        """() => new Promise((resolve) => {
            const audio = document.querySelector("figure.track audio");
            audio.addEventListener("loadedmetadata", () => resolve(audio.duration));
            audio.addEventListener("error", () => resolve(-1));
            audio.preload = "metadata";
            audio.load();
        })"""
    )
    assert seconds == pytest.approx(1.0, abs=0.1)
    assert any(url.endswith(f"/battles/{battle_id}.ogg") for url in watched.requests)
    watched.check_clean()
