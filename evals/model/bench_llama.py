"""Speed of the embedded llama.cpp build on a GGUF: prompt reading and generation, tokens/s.

    python evals/model/bench_llama.py                    # the bundled SmolLM2-135M Q4_1
    python evals/model/bench_llama.py --gguf PATH        # any GGUF (e.g. gemma-3-270m Q4_K_M)
    python evals/model/bench_llama.py --no-extra-bufts   # load without llama.cpp's extra buffer
                                                         # types (weight repacking, AMX)

Each run loads the model in a child process, so a build that dies on an illegal instruction
is reported (with its signal) instead of killing the benchmark.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

CHILD = r"""
import ctypes, json, sys, time
import llama_cpp
path, extra, runs, threads = sys.argv[1], sys.argv[2] == "1", int(sys.argv[3]), int(sys.argv[4]) or None
kw = {}
if not extra:
    # Llama() has no argument for it: set the field on the model params it builds
    orig = llama_cpp.llama_model_default_params
    def params():
        p = orig()
        p.use_extra_bufts = False
        return p
    llama_cpp.llama_model_default_params = params
    import llama_cpp.llama as L
    L.llama_cpp.llama_model_default_params = params
llm = llama_cpp.Llama(model_path=path, n_ctx=2048, n_threads=threads, verbose=False, seed=1)
prompt = ("The quarterly review covered sales, staffing and the new store openings. " * 30).strip()
out = []
for _ in range(runs):
    llm.reset()
    t = time.perf_counter()
    r = llm.create_completion(prompt, max_tokens=1, temperature=0)
    pp = r["usage"]["prompt_tokens"] / (time.perf_counter() - t)
    llm.reset()
    t = time.perf_counter()
    r = llm.create_completion("Once upon a time", max_tokens=96, temperature=0)
    tg = r["usage"]["completion_tokens"] / (time.perf_counter() - t)
    out.append((pp, tg))
print(json.dumps({"system_info": llama_cpp.llama_print_system_info().decode().strip(), "runs": out}))
"""


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gguf", help="GGUF file (default: the bundled SmolLM2-135M)")
    ap.add_argument("--no-extra-bufts", action="store_true")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="0: llama.cpp's choice")
    a = ap.parse_args()
    if a.gguf is None:
        from coach.config import bundled_gguf_path

        a.gguf = str(bundled_gguf_path())
    p = subprocess.run([sys.executable, "-c", CHILD, a.gguf, "0" if a.no_extra_bufts else "1", str(a.runs),
                        str(a.threads)], capture_output=True, text=True)
    if p.returncode != 0:
        how = f"signal {-p.returncode}" if p.returncode < 0 else f"exit {p.returncode}"
        print(f"{a.gguf}: the model process died ({how})\n{p.stderr[-800:]}")
        return 1
    res = json.loads(p.stdout.strip().splitlines()[-1])
    pp = statistics.median(r[0] for r in res["runs"])
    tg = statistics.median(r[1] for r in res["runs"])
    print(f"{time.strftime('%Y-%m-%d')}  {a.gguf.rsplit('/', 1)[-1]}  extra_bufts={'off' if a.no_extra_bufts else 'on'}")
    print(f"  build: {res['system_info']}")
    print(f"  prompt: {pp:.0f} tokens/s   generation: {tg:.1f} tokens/s   (median of {a.runs})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
