"""The HTML pages as a person sees them: rendered by headless Chromium (Debian's, JavaScript
off), screenshotted, and checked for what is on the screen, not for markup."""

import dataclasses
import json
import re
import shutil
import subprocess
import sys
from contextlib import contextmanager
from html import unescape
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from axe_playwright_python.sync_playwright import Axe
from PIL import Image
from playwright.sync_api import Browser, Page, sync_playwright

from grader.batch import discover, grade_batch
from grader.formats import write_formats
from grader.gradebook import CsvLayout, Gradebook, read_roster
from grader.html import render_html
from grader.sandbox import Isolation
from grader.view import seed_fingerprint
from tests.conftest import REPO, UNDER_CI, grade

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PHONE = {"width": 390, "height": 844}


def chromium_or_skip() -> str:
    """Debian's chromium; a skip on a laptop without it; a failure under CI."""
    path = shutil.which("chromium")
    if path:
        return path
    if UNDER_CI:
        pytest.fail("chromium is not installed under CI: .ci/install-os-packages should have installed it")
    pytest.skip("Debian's chromium is not installed (sh .ci/install-os-packages installs it)")


@pytest.fixture(scope="module")
def browser():
    executable = chromium_or_skip()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@contextmanager
def opened(browser: Browser, path: Path, *, javascript: bool = False, viewport=PHONE):
    """The file in a fresh tab; every request the page makes is recorded."""
    context = browser.new_context(java_script_enabled=javascript, viewport=viewport)
    page = context.new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(path.as_uri())
    try:
        yield page, requests
    finally:
        context.close()


def highlight_share(image: Image.Image, box: dict, colour: tuple[int, int, int]) -> float:
    """Share of the pixels inside ``box`` (CSS pixels of the viewport) that are ``colour``."""
    crop = image.convert("RGB").crop((round(box["x"]), round(box["y"]),
                                      round(box["x"] + box["width"]), round(box["y"] + box["height"])))
    raw = crop.tobytes()
    pixels = [raw[i:i + 3] for i in range(0, len(raw), 3)]
    near = sum(1 for p in pixels if all(abs(a - b) <= 6 for a, b in zip(p, colour, strict=False)))
    return near / len(pixels)


def rgb(css: str) -> tuple[int, int, int]:
    return tuple(int(n) for n in re.findall(r"\d+", css)[:3])  # type: ignore[return-value]


def serious_accessibility_violations(browser: Browser, path: Path) -> list[str]:
    """axe-core's serious and critical findings. axe runs as a script, so this one tab has
    JavaScript on; the page itself has none, so it looks the same."""
    with opened(browser, path, javascript=True) as (page, _):
        results = Axe().run(page)
    return [f"{v['id']}: {v['help']} {[n['target'] for n in v['nodes']][:3]}"
            for v in results.response["violations"] if v["impact"] in ("serious", "critical")]


@pytest.fixture(scope="module")
def carol(tmp_path_factory):
    """carol.py assigns grads instead of accumulating them: "a node added to itself" fails."""
    report = grade("value-basic", REPO / "submissions" / "carol.py")
    out = tmp_path_factory.mktemp("carol")
    write_formats(report, out, ("html",))
    return report, out / "report.html"


def failure(page: Page, test_name: str):
    return page.locator("article", has=page.get_by_role("heading", name=re.compile(re.escape(test_name))))


def test_the_score_and_the_failed_tests_are_visible_on_a_phone(browser, carol, tmp_path):
    report, path = carol
    with opened(browser, path) as (page, _):
        page.screenshot(path=tmp_path / "top.png")
        score = page.get_by_text(f"{report.score:g} / {report.max_score:g}", exact=True)
        assert score.is_visible() and score.bounding_box()["y"] < PHONE["height"]  # without scrolling
        row = page.get_by_role("row", name=re.compile("a node added to itself"))
        assert row.is_visible() and "✗ failed" in row.inner_text()
        passed = page.get_by_role("row", name=re.compile("the task's example"))
        assert "✓ passed" in passed.inner_text()


def test_the_wrong_node_is_highlighted_in_the_graph(browser, carol, tmp_path):
    _, path = carol
    with opened(browser, path) as (page, _):
        article = failure(page, "a node added to itself")
        wrong = article.locator("svg g.node.wrong")
        right = article.locator("svg g.node:not(.wrong)")
        assert wrong.count() == 1 and right.count() == 1
        assert wrong.get_attribute("data-node") == "a"
        lines = wrong.locator("text").all_text_contents()
        assert "✗ grad 1" in lines and "grad should be 2" in lines
        assert "WRONG grad: expected 2, got 1" in wrong.locator("title").text_content()  # said, not only shown
        fill = rgb(wrong.locator("rect").evaluate("el => getComputedStyle(el).fill"))
        plain = rgb(right.locator("rect").evaluate("el => getComputedStyle(el).fill"))
        assert fill != plain
        article.locator("svg").scroll_into_view_if_needed()
        page.screenshot(path=tmp_path / "graph.png")
        shot = Image.open(tmp_path / "graph.png")
        assert highlight_share(shot, wrong.bounding_box(), fill) > 0.4
        assert highlight_share(shot, right.bounding_box(), fill) < 0.01
        # not by colour alone: the border of the wrong box is thicker and dashed
        border = wrong.locator("rect").evaluate("el => [getComputedStyle(el).strokeWidth, getComputedStyle(el).strokeDasharray]")
        plain_border = right.locator("rect").evaluate("el => getComputedStyle(el).strokeWidth")
        assert float(border[0].rstrip("px")) > float(plain_border.rstrip("px")) and border[1] != "none"


def test_expected_and_got_are_readable_in_the_table_next_to_the_graph(browser, carol, tmp_path):
    _, path = carol
    with opened(browser, path) as (page, _):
        table = failure(page, "a node added to itself").locator("table.compare")
        group = table.locator("tbody", has=page.locator("tr.wrong"))
        assert group.count() == 1 and group.locator("th").inner_text().startswith("a")
        cells = group.locator("tr.wrong td")
        cells.first.scroll_into_view_if_needed()
        page.screenshot(path=tmp_path / "table.png")
        assert [cells.nth(i).inner_text() for i in range(cells.count())] == ["grad", "2", "1", "✗ wrong"]
        assert all(cells.nth(i).is_visible() for i in range(cells.count()))


def test_the_page_fits_a_phone_and_loads_nothing_but_itself(browser, carol, tmp_path):
    _, path = carol
    with opened(browser, path) as (page, requests):
        page.screenshot(path=tmp_path / "full.png", full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        assert requests == [path.as_uri()]
    html = path.read_text()
    assert "<script" not in html and not re.search(r'(?:src|href)="(?!#)', html)


def test_the_student_page_has_no_serious_accessibility_violation(browser, carol):
    _, path = carol
    assert serious_accessibility_violations(browser, path) == []


def test_a_file_that_does_not_load_gets_a_kind_page(browser, tmp_path):
    report = grade("value-basic", REPO / "submissions" / "grace.py")
    path = tmp_path / "report.html"
    path.write_text(render_html(report))
    with opened(browser, path) as (page, _):
        page.screenshot(path=tmp_path / "grace.png", full_page=True)
        assert page.get_by_role("heading", name="Your file could not be graded").is_visible()
        assert page.get_by_text("SyntaxError on line 34").is_visible()
        assert page.locator("a[href^='#']").count() == 0  # no link to details that are not there
        assert "Traceback" not in page.inner_text("body")


def test_a_secret_seed_is_shown_only_as_its_source_and_a_fingerprint():
    report = grade("value-basic", REPO / "submissions" / "carol.py")
    public = unescape(render_html(report))
    assert f"{report.problem.seed} (the problem's public seed)" in public
    secret = dataclasses.replace(report, problem=dataclasses.replace(report.problem, seed=73519, seed_source="--seed"))
    html = render_html(secret)
    assert "73519" not in html
    assert f"secret, from --seed; fingerprint {seed_fingerprint(73519)}" in html
    assert seed_fingerprint(73519) != seed_fingerprint(73520)


def test_what_the_code_printed_on_the_visible_tests_is_shown(tmp_path):
    """Only the visible tests' run is captured (hidden ones run in processes of their own, see
    tests/test_sandbox.py): what it printed is the student's to read."""
    path = tmp_path / "prints.py"
    path.write_text("print('debug: 7.25')\n" + (REPO / "submissions" / "carol.py").read_text())
    report = grade("value-basic", path)
    assert report.stdout.count("debug: 7.25") == 1  # the visible run's, not the hidden run's too
    assert "debug: 7.25" in render_html(report)


@pytest.mark.slow
def test_the_class_page_flags_broken_submissions_first_and_links_every_report(browser, course, tmp_path):
    folder = tmp_path / "class"
    folder.mkdir()
    for name, source in (("alice", "alice"), ("grace", "grace"), ("Zoë O'Neil", "carol"), ("back\\slash", "alice")):
        shutil.copy(REPO / "submissions" / f"{source}.py", folder / f"{name}.py")
    (folder / "notes.txt").write_text("not a submission\n")
    roster = tmp_path / "roster.csv"
    roster.write_text("submission,Student,ID\nalice,Alice,1\ngrace,Grace,2\nZoë O'Neil,Zoë,3\nback\\slash,Back,4\n")
    found = discover(folder)
    gradebook = Gradebook(found.not_graded, read_roster(roster), CsvLayout.CANVAS)
    out = tmp_path / "out"
    rows = grade_batch(course.load("value-basic"), found.entries, out, jobs=2, isolation=Isolation.PROCESS,
                       formats=("json", "html"), gradebook=gradebook).rows
    assert {row.status for row in rows} == {"graded", "failed_to_load"}
    index = out / "index.html"
    with opened(browser, index) as (page, requests):
        page.screenshot(path=tmp_path / "index.png", full_page=True)
        first = page.locator("main > section").first
        assert "Need attention" in first.inner_text() and "grace" in first.inner_text()
        assert "failed to load" in first.inner_text()
        assert first.bounding_box()["y"] < page.get_by_role("heading", name=re.compile("Scores")).bounding_box()["y"]
        assert page.get_by_text("median", exact=False).first.is_visible()
        left_out = page.locator("section", has=page.locator("#left-out"))
        assert "notes.txt: not on the roster" in left_out.inner_text()  # not in Canvas's file, and why
        links = page.locator("#students ~ div table a")
        hrefs = [links.nth(i).get_attribute("href") for i in range(links.count())]
        assert len(hrefs) == 4  # back\slash's reports are in a renamed folder: linked there
        for href in hrefs:
            assert (out / unquote(urlparse(href).path)).is_file(), href
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        assert requests == [index.as_uri()]
        page.get_by_role("link", name="Zoë O'Neil").click()
        assert page.get_by_role("heading", name=re.compile("Report for")).inner_text() == "Report for Zoë O'Neil.py"
    assert serious_accessibility_violations(browser, index) == []


def test_grade_with_format_html_writes_a_report_a_browser_shows(browser, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "grader", "grade", "submissions/dave.py", "--problem", "value-basic",
         "--out", str(tmp_path), "--format", "json,html"],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    with opened(browser, tmp_path / "report.html") as (page, _):
        assert page.get_by_text(f"{report['score']:g} / {report['max_score']:g}", exact=True).is_visible()
        assert page.locator("svg g.node.wrong").count() >= 1
