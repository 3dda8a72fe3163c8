"""Suggestion benchmark: ingest throughput, embedding throughput, and suggest latency at scale.

    python evals/suggest/bench.py                    # 1k, 10k, 100k records (several minutes)
    python evals/suggest/bench.py --sizes 1000 --stock 200
    python evals/suggest/bench.py --sizes 10000 --queries 50 --stock 20 --system both   # before/after #18

Reports, in one run, on the same synthetic record texts:
- ingest: records/s through the path ``coach ingest`` takes (coach.ingest.ingest: SQL rows for
  debriefs, transcripts, records and their index outbox while the texts are embedded, the
  indexer draining the outbox into Chroma after each chunk);
- raw model: the int8 MiniLM alone (tokenise with dynamic padding, batch, ONNX, mean-pool) on the
  records' canonical texts, timed just before each ingest on 3,000 of them, so both figures come
  from the same conditions;
- Chroma's stock ONNX embedding function on the same model files (pads every input to 256);
- suggest latency p50/p95 (retrieval + grouping + ranking, no generative model) per store size:
  over every programme (the CLI's default), and scoped as the app scopes it, to programmes
  holding about 89%, 10%, 1% and 0.1% of the records (each programme is its own collection);
  with how many queries got only generic starter topics (nothing of the programme close enough).
``--warm-pass`` asks every query once before timing them. ``--store DIR`` keeps the store in DIR
(made on the first run) and, run again, reuses it: the second run only times suggestions (for
latency on an idle machine without waiting for a 100k ingest; the ingest figures are then left out). ``--system before`` times
evals/suggest/baseline_suggest.py (coach/suggest.py before issue #18)
instead, ``both`` times both on the same store, one after the other (a fair comparison on a
machine whose load moves).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from coach.config import load_settings  # noqa: E402
from coach.debrief_file import FileDebrief  # noqa: E402
from coach.embeddings import MiniLM, model_files  # noqa: E402
from coach.ingest import ingest  # noqa: E402
from coach.records import canonical_text, fill_pair_vectors  # noqa: E402
from coach.services import Services  # noqa: E402
from coach.store.models import DEFAULT_PROGRAMME  # noqa: E402
from coach.suggest import suggest  # noqa: E402

SUBJECTS = ["young customers", "our stores", "the sales team", "new recruits", "patients", "students", "suppliers",
            "the board", "frontline staff", "online shoppers", "drivers", "nurses", "engineers", "call-centre agents"]
TOOLS = ["TikTok", "Discord", "AI assistants", "dashboards", "short videos", "group chats", "no-code flows",
         "screen readers", "password managers", "podcasts", "livestreams", "Reddit threads", "notebooks", "BNPL apps"]
VERBS = ["discover", "compare", "trust", "ignore", "share", "search for", "complain about", "learn about", "pay for"]
OBJECTS = ["products", "shifts", "job offers", "prices", "reviews", "safety rules", "opening hours", "new features"]
PLACES = ["Leeds", "Lyon", "Porto", "Gdansk", "Austin", "Pune", "Osaka", "Nairobi", "Lima", "Graz", "Cork", "Bergen",
          "Turin", "Malmo", "Quebec", "Perth", "Seville", "Utrecht", "Brno", "Tampere", "Dundee", "Leipzig",
          "Bilbao", "Ghent", "Krakow", "Adelaide", "Halifax", "Cluj", "Aarhus", "Basel"]
TOPICS = [f"{t} for {s}" for t in TOOLS for s in SUBJECTS]
ROLES = ["Retail director", "CFO", "Head of HR", "Operations director", "Chief nurse", "Head of marketing",
         "Plant manager", "Head of customer service", "CIO", "Managing partner"]


def synth(rng: random.Random) -> str:
    """A record-like sentence; ~40M combinations, so 100k draws are practically all distinct (as
    real records are: ingest embeds every record, duplicates or not)."""
    return (f"{rng.choice(SUBJECTS).capitalize()} in {rng.choice(PLACES)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} "
            f"on {rng.choice(TOOLS)} {rng.choice(['every day', 'before buying', 'at night', 'in groups', 'first'])}, "
            f"about {rng.randint(2, 20)} times a week.")


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def synth_debrief(rng: random.Random, i: int, n_records: int = 5) -> FileDebrief:
    """A shared senior debrief whose records are ``n_records`` synthetic items of mixed kinds."""
    learned, assumptions, actions = [], [], []
    for _ in range(n_records):
        t, kind = synth(rng), rng.choice(["learned", "learned", "broken_assumption", "action"])
        if kind == "broken_assumption":
            assumptions.append({"before": t.split(" on ")[0], "after": "on " + t.split(" on ")[-1]})
        else:
            (learned if kind == "learned" else actions).append(t)
    said = " ".join(learned + actions + [a["after"] for a in assumptions])
    return FileDebrief.model_validate({
        "id": f"d{i}", "role": "senior", "shared": True,
        # each debrief its own pair, as in a real programme (a pair has two debriefs at most);
        # roles and topics repeat across pairs, as they do in a programme
        "pair": {"senior": f"{rng.choice(ROLES)}, {rng.choice(PLACES)}", "junior": f"Junior colleague, team {i}",
                 "topic": rng.choice(TOPICS)},
        "transcript": [{"speaker": "coach", "text": "What did you learn?"}, {"speaker": "participant", "text": said}],
        "expected": {"learned": learned, "broken_assumptions": assumptions, "actions": actions},
    })


def record_texts(debriefs: list[FileDebrief]) -> list[str]:
    """The canonical texts of the debriefs' records: what ingest embeds."""
    out = []
    for d in debriefs:
        exp = d.expected
        out += [canonical_text("learned", t, None, None) for t in exp.learned]
        out += [canonical_text("broken_assumption", None, b.before, b.after) for b in exp.broken_assumptions]
        out += [canonical_text("action", t, None, None) for t in exp.actions]
    return out


def raw_rate(m: MiniLM, texts: list[str]) -> float:
    """Texts/s of the bare model on these texts."""
    m.embed(texts[:64])
    t0 = time.perf_counter()
    m.embed(texts)
    return len(texts) / (time.perf_counter() - t0)


def fill(svc: Services, n: int, rng: random.Random, start: int) -> tuple[float, float]:
    """Ingest n records (shared debriefs of 5) through coach's own path, the one ``coach ingest``
    takes: SQL rows (debrief, transcript, records, outbox) with the embedding running alongside,
    the indexer draining the outbox into Chroma after each chunk. Returns (records/s, raw model
    texts/s on a sample of the same texts, timed just before)."""
    debriefs = [synth_debrief(rng, start + k) for k in range(0, n, 5)]
    raw = raw_rate(MiniLM.shared(), record_texts(debriefs)[:3000])
    t0 = time.perf_counter()
    indexed = ingest(svc.db, debriefs, after_chunk=svc.indexer.drain)
    rate = indexed / (time.perf_counter() - t0)
    return rate, raw


SMALL = "one-in-ten"
SMALLER = "one-in-a-hundred"
SMALLEST = "one-in-a-thousand"


def split_programmes(svc: Services) -> None:
    """About one pair in ten (by a hash of its id, so a pair moves once, when it first appears)
    moves to a second programme, one in a hundred to a third, one in a thousand to a fourth, so
    latency is measured for the app's programme-scoped queries too (after the ingest timing: the
    pairs' rows and their records' outbox rows in one transaction, then the indexer moves the
    records to their new programme's collection)."""
    import zlib

    from sqlalchemy import select, update

    from coach.records import enqueue
    from coach.store.models import Debrief, Pair, Record

    with svc.db.engine.begin() as conn:
        every = dict(conn.execute(select(Pair.id, Pair.programme)).all())
        for name, modulo, rest in ((SMALL, 10, 0), (SMALLER, 100, 1), (SMALLEST, 1000, 2)):
            ids = [i for i, p in every.items() if p != name and zlib.crc32(i.encode()) % modulo == rest]
            if not ids:
                continue
            # queued under the old programme: the indexer deletes them there, adds them to the new
            moved = conn.execute(select(Record.id, Pair.programme).join(Debrief, Record.debrief_id == Debrief.id)
                                 .join(Pair, Debrief.pair_id == Pair.id).where(Pair.id.in_(ids))).all()
            conn.execute(update(Pair).where(Pair.id.in_(ids)).values(programme=name))
            enqueue(conn, [(r.id, r.programme) for r in moved])
    svc.indexer.drain()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--stock", type=int, default=500, help="texts for Chroma's stock function (slow)")
    ap.add_argument("--system", choices=["after", "before", "both"], default="after")
    ap.add_argument("--store", type=Path, help="keep the store here; reuse it when it is already there")
    ap.add_argument("--warm-pass", action="store_true",
                    help="ask every query once, untimed, before timing (as in an app that has answered them: "
                         "since #18 each candidate pair's topic and roles are embedded once per process)")
    a = ap.parse_args()
    from run_retrieval import baseline

    systems = {"after": suggest}
    if a.system != "after":
        systems = {"before": baseline().suggest} | ({"after": suggest} if a.system == "both" else {})
    rng = random.Random(7)
    m = MiniLM.shared()
    sample = record_texts([synth_debrief(rng, -1 - k) for k in range(600)])
    print(f"raw model (int8 MiniLM, dynamic padding, batches of {m.batch_size} on {m.threads} threads): "
          f"{raw_rate(m, sample):,.0f} texts/s on {len(sample):,} texts")

    from chromadb.utils.embedding_functions import ONNXMiniLM_L6_V2

    with tempfile.TemporaryDirectory() as d:
        onnx, tok = model_files()
        folder = Path(d) / "all-MiniLM-L6-v2" / "onnx"
        folder.mkdir(parents=True)
        (folder / "model.onnx").symlink_to(onnx)
        for name in ("config.json", "special_tokens_map.json", "tokenizer_config.json", "tokenizer.json", "vocab.txt"):
            (folder / name).symlink_to(tok.parent / name)

        class Stock(ONNXMiniLM_L6_V2):
            DOWNLOAD_PATH = Path(d) / "all-MiniLM-L6-v2"

        stock = Stock()
        stock(sample[:8])
        t0 = time.perf_counter()
        stock(sample[: a.stock])
        print(f"Chroma stock ONNX function (pads to 256): {a.stock / (time.perf_counter() - t0):,.0f} texts/s on {a.stock} texts")

    with tempfile.TemporaryDirectory() as d:
        folder = a.store or Path(d)
        svc = Services(load_settings(data_dir=folder, backend="none"))
        have = svc.index.count()
        if have:
            print(f"reusing the store in {folder} ({have:,} records): no ingest figures")
        queries = [(f"{rng.choice(ROLES)} at a {rng.choice(['retailer', 'bank', 'hospital', 'factory'])}",
                    f"Junior who knows {rng.choice(TOOLS)} and {rng.choice(TOOLS)}") for _ in range(a.queries)]
        for size in [int(x) for x in a.sizes.split(",")]:
            if size > have:
                rate, raw = fill(svc, size - have, rng, have)
                print(f"ingest {have:>6} -> {size:>6} records: {rate:,.0f} records/s, SQL rows included "
                      f"({rate / raw:.0%} of the raw model's {raw:,.0f}/s, timed just before on the same kind of texts)")
                have = size
                t0 = time.perf_counter()
                pairs = fill_pair_vectors(svc.db)  # what the app's background start-up and `coach ingest` do next
                print(f"pair vectors: {pairs:,} new pairs' topics and roles derived in {time.perf_counter() - t0:.1f} "
                      "s (after ingest, not in its figure)")
                split_programmes(svc)
            elif size < have:
                continue  # a reused store answers for its own size only
            for label, programmes in (("every programme (CLI default)", None),
                                      ("programme holding 89%", {DEFAULT_PROGRAMME}),
                                      ("programme holding 10%", {SMALL}),
                                      ("programme holding 1%", {SMALLER}),
                                      ("programme holding 0.1%", {SMALLEST})):
                for system, run in systems.items():
                    for q in queries if a.warm_pass else queries[:1]:  # warm
                        run(svc.corpus, *q, k=5, programmes=programmes)
                    lat, generic = [], 0
                    for q in queries:
                        t0 = time.perf_counter()
                        cards = run(svc.corpus, *q, k=5, programmes=programmes)
                        lat.append((time.perf_counter() - t0) * 1000)
                        generic += bool(cards) and cards[0].generic
                    held = sum(svc.index.count(p) for p in programmes) if programmes else svc.index.count()
                    tag = f"[{system}] " if len(systems) > 1 else ""
                    print(f"{tag}suggest at {size:>6} records, {label} ({held:,} records): p50 "
                          f"{statistics.median(lat):.1f} ms, p95 {pct(lat, 0.95):.1f} ms ({len(lat)} queries, k=5; "
                          f"starter topics for {generic})")
        svc.close()


if __name__ == "__main__":
    main()
