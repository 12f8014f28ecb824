"""The lock files are what gets installed (`make install`, the Dockerfile, both with
--require-hashes): each must pin every package of its input file at the input's version, with
hashes, and the two locks must agree, so tests run the code production runs. A requirements
edit without a new lock fails here, naming the command that makes one (SECURITY.md)."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REGENERATE = "regenerate the locks as SECURITY.md says (pip-compile --generate-hashes ...)"
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)")


def _name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def inputs(file: str) -> dict[str, str]:
    """name -> version of a human-edited requirements file, following `-r` includes."""
    pins: dict[str, str] = {}
    for line in (ROOT / file).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r "):
            pins.update(inputs(line[3:].strip()))
        elif line:
            match = _PIN.match(line)
            assert match, f"{file}: {line!r} is not pinned with =="
            pins[_name(match[1])] = match[2]
    return pins


def lock(file: str) -> dict[str, tuple[str, int]]:
    """name -> (version, number of hashes) of a pip-compile lock file."""
    entries: dict[str, tuple[str, int]] = {}
    current = None
    for line in (ROOT / file).read_text().splitlines():
        match = _PIN.match(line)
        if match:
            current = _name(match[1])
            entries[current] = (match[2], 0)
        elif current and line.strip().startswith("--hash=sha256:"):
            version, hashes = entries[current]
            entries[current] = (version, hashes + 1)
        elif line and not line.startswith((" ", "#")):
            current = None
    return entries


def test_every_input_pin_is_in_its_lock_at_the_same_version():
    for source, locked in (
        ("requirements.txt", "requirements.lock"),
        ("requirements-dev.txt", "requirements-dev.lock"),
    ):
        entries = lock(locked)
        for name, version in inputs(source).items():
            assert name in entries, f"{name} ({source}) is missing from {locked}: {REGENERATE}"
            assert entries[name][0] == version, (
                f"{source} pins {name}=={version}, {locked} has {entries[name][0]}: {REGENERATE}"
            )


def test_every_locked_package_has_hashes():
    for locked in ("requirements.lock", "requirements-dev.lock"):
        entries = lock(locked)
        assert len(entries) > 20
        unhashed = [name for name, (_, hashes) in entries.items() if not hashes]
        assert not unhashed, f"{locked}: no hash for {unhashed}"


def test_the_runtime_and_dev_locks_agree():
    runtime, dev = lock("requirements.lock"), lock("requirements-dev.lock")
    missing = sorted(set(runtime) - set(dev))
    assert not missing, f"requirements-dev.lock lacks {missing}: {REGENERATE}"
    differ = {n: (runtime[n][0], dev[n][0]) for n in runtime if runtime[n][0] != dev[n][0]}
    assert not differ, f"the locks disagree on {differ}: {REGENERATE}"


def test_installs_go_through_the_locks_with_hashes():
    makefile = (ROOT / "Makefile").read_text()
    assert "pip install --quiet --require-hashes -r requirements-dev.lock" in makefile
    assert "--require-hashes -r requirements.lock" in (ROOT / "Dockerfile").read_text()
