"""README's screenshots (docs/*.png), taken from the running app in Chromium, and a walk through a
senior's debrief and a junior's topic ideas at desktop and phone width (into --out, to look at).

    python scripts/screenshots.py [--out /tmp/coach-shots] [--readme]

Uses the test helpers (tests/conftest.py): a fresh data dir, the 78 development gold debriefs
ingested as past debriefs of the default programme, a pair created by the facilitator."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import json  # noqa: E402

from playwright.sync_api import sync_playwright  # noqa: E402

from tests.conftest import CHROMIUM, open_tab, run_cli, start_app  # noqa: E402
from tests.test_interview_browser import answer, participant  # noqa: E402


def new_pair(data: Path, url: str, n: int) -> dict[str, str]:
    """A pair in the default programme (that of the ingested debriefs): its invitation links."""
    out = run_cli("pair", "create", "--senior", "Retail operations director", "--junior", "Social media associate",
                  "--topic", "How Gen Z discovers stores on TikTok", "--senior-user", f"ann{n}@example.org",
                  "--junior-user", f"jo{n}@example.org", "--belief", "Young people find shops on Google.",
                  "--belief", "Video is a passing fad.", "--data-dir", str(data), "--base-url", url)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)["invitations"]


# what the senior says, by what the coach last asked (first match wins)
REPLIES = [("Is that it?", "Yes, that's it."), ("Is that right?", "Yes."), ("got that right", "Yes, that's it."),
           ("concrete example", "She searched for a café near her flat and every result was a short video."),
           ("One was:", "No. Now I know they search TikTok first, and Google comes later if at all."),
           ("Another was:", "Not really: she showed me videos are how they judge a shop before they go."),
           ("do differently", "I'll ask each store manager to post one short video a week, starting next month."),
           ("sessions themselves go", "They worked well because she used our own stores as examples."),
           ("", "I'm not sure what else to add.")]


def debrief(browser, link: str, out: Path, width: int) -> None:
    page = participant(browser, link, width, 900 if width > 500 else 844)
    page.get_by_text("Looking back over your sessions").wait_for()
    said = answer(page, "I learned that teenagers search TikTok before Google when they look for a shop.")
    for _ in range(14):
        if said.startswith("Thank you"):
            break
        reply = next(r for cue, r in REPLIES if cue in said)
        if "One was:" in said:  # README's shot: the coach returning to a starting belief
            page.get_by_label("Your answer").fill(reply)
            page.wait_for_timeout(1500)  # the page settles (progress line, no "processing")
            page.screenshot(path=str(out / f"debrief-{width}.png"))
        said = answer(page, reply)
    page.wait_for_timeout(800)
    page.screenshot(path=str(out / f"summary-{width}.png"), full_page=True)
    page.get_by_label("I agree to share this summary").check()
    page.get_by_role("button", name="Confirm summary").click()
    page.get_by_text("You agreed to share this summary").wait_for()
    page.wait_for_timeout(800)
    page.screenshot(path=str(out / f"confirmed-{width}.png"), full_page=True)
    page.context.close()


def topic_ideas(browser, link: str, out: Path, width: int) -> None:
    page = participant(browser, link, width, 1000 if width > 500 else 844)
    open_tab(page, "Topic ideas")
    page.get_by_label("The senior: role and context").fill("CFO of a regional bank, sceptical of social media")
    page.get_by_label("The junior: role and strengths").fill("22-year-old analyst, builds TikTok content")
    page.get_by_role("button", name="Suggest topics").click()
    page.locator("#topic-cards .topic-card").first.wait_for()
    page.locator("#topic-cards details summary").first.click()
    page.wait_for_timeout(500)
    page.screenshot(path=str(out / f"topic-ideas-{width}.png"), full_page=width < 500)
    page.context.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "coach-shots")
    ap.add_argument("--readme", action="store_true", help="also copy the desktop shots to docs/")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    data = Path(tempfile.mkdtemp()) / "data"
    gold = ROOT / "evals" / "extraction" / "gold_dev.jsonl"
    assert run_cli("ingest", str(gold), "--data-dir", str(data), "-q").returncode == 0
    proc, url = start_app(data, COACH_LOCAL_AUTOSTART="false")
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            for n, width in enumerate((1100, 390)):
                links = new_pair(data, url, n)
                debrief(browser, links["senior"], args.out, width)
                topic_ideas(browser, links["junior"], args.out, width)
            browser.close()
    finally:
        proc.terminate()
    if args.readme:
        shutil.copy(args.out / "debrief-1100.png", ROOT / "docs" / "debrief.png")
        shutil.copy(args.out / "topic-ideas-1100.png", ROOT / "docs" / "topic-ideas.png")
    print(f"screenshots in {args.out}")


if __name__ == "__main__":
    main()
