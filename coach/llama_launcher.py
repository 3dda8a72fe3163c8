"""Run llama-cpp-python's server, exiting as soon as the app that started it is gone.

``python -m coach.llama_launcher PARENT_PID [server args...]``. A killed app (even SIGKILL,
which runs no clean-up) must not leave a model server holding memory and a port.
"""

import os
import sys
import threading
import time


def _watch(parent: int) -> None:
    while True:
        if os.getppid() != parent:
            os._exit(0)
        time.sleep(1)


def main() -> None:
    parent = int(sys.argv[1])
    threading.Thread(target=_watch, args=(parent,), daemon=True).start()
    sys.argv = ["llama_cpp.server", *sys.argv[2:]]
    from llama_cpp.server.__main__ import main as serve

    serve()


if __name__ == "__main__":
    main()
