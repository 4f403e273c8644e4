"""Cheap checks that the set-up files agree with each other (lock file, pyproject, scripts, CI, conda)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ["scripts/setup.sh", "scripts/fetch_js.sh", "scripts/test.sh", "scripts/demo.sh", ".ci/run"]


def locked_versions() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements-lock.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"requirements-lock.txt: {line!r} is not pinned with =="
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pins


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_lock_pins_torch_2_13_0():
    assert locked_versions()["torch"] == "2.13.0"


def test_pyproject_admits_every_locked_version():
    """Every dependency (core and extras) in pyproject.toml accepts the version the lock file pins."""
    project = pyproject()["project"]
    specs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        specs += [s for s in extra if not s.startswith("bertlab[")]
    pins = locked_versions()
    torch = next(Requirement(s) for s in project["dependencies"] if Requirement(s).name == "torch")
    assert torch.specifier.contains("2.13.0")
    for spec in specs:
        req = Requirement(spec)
        name = re.sub(r"[-_.]+", "-", req.name).lower()
        assert name in pins, f"{req.name} is in pyproject.toml but not in requirements-lock.txt"
        assert req.specifier.contains(pins[name], prereleases=True), f"{spec} rejects the locked {pins[name]}"


def test_setup_installs_the_locked_torch():
    assert f'TORCH_VERSION="{locked_versions()["torch"]}"' in (ROOT / "scripts/setup.sh").read_text()


def test_ci_runs_the_test_script():
    text = (ROOT / ".ci/run").read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert re.search(r"^bash scripts/test\.sh$", text, re.M)


def test_environment_yml_uses_the_lock_file():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["name"] == "bertlab" and env["channels"] == ["conda-forge"]
    assert "python=3.11" in env["dependencies"] and "pip" in env["dependencies"]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert pip == ["-r requirements-lock.txt", "-e ."]


def test_caches_and_artifacts_are_gitignored():
    ignored = (ROOT / ".gitignore").read_text().split()
    assert {".venv/", ".cache/", "test-artifacts/"} <= set(ignored)


@pytest.mark.parametrize("script", SCRIPTS)
def test_scripts_are_strict_executable_bash(script):
    path = ROOT / script
    assert os.access(path, os.X_OK), f"{script} is not executable"
    text = path.read_text()
    assert text.startswith("#!/usr/bin/env bash\n") and "set -euo pipefail" in text
    subprocess.run(["bash", "-n", str(path)], check=True)


def fake_checkout(tmp_path: Path, pytest_status: int) -> Path:
    """A copy of scripts/test.sh beside a no-op setup.sh and a .venv/bin/python that exits with a status."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts/test.sh", tmp_path / "scripts/test.sh")
    (tmp_path / "scripts/setup.sh").write_text("echo setup ran\n")
    python = tmp_path / ".venv/bin/python"
    python.parent.mkdir(parents=True)
    python.write_text(f'#!/usr/bin/env bash\necho "python $*"\nexit {pytest_status}\n')
    python.chmod(0o755)
    return tmp_path


@pytest.mark.parametrize("status", [0, 1, 5])
def test_test_script_passes_pytest_status_through_and_flags_no_tests(tmp_path, status):
    checkout = fake_checkout(tmp_path, status)
    # Run from another directory: the script must find its checkout by itself.
    done = subprocess.run(["bash", str(checkout / "scripts/test.sh"), "-k", "nothing"], cwd=tmp_path.parent,
                          capture_output=True, text=True)
    assert done.returncode == status
    assert "setup ran" in done.stdout and "python -m pytest -k nothing" in done.stdout
    assert ("collected no tests" in done.stderr) == (status == 5)


def test_fetch_js_warns_and_succeeds_when_npm_fails(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "npm").write_text("#!/bin/sh\nexit 1\n")
    (bin_dir / "npm").chmod(0o755)
    js_dir = tmp_path / "js"
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "BERTLAB_JS_DIR": str(js_dir),
           "PYTHON": sys.executable}
    done = subprocess.run(["bash", str(ROOT / "scripts/fetch_js.sh")], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "could not fetch d3 and jQuery" in done.stderr
    assert not js_dir.exists() or not any(js_dir.iterdir())
