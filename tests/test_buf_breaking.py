"""The proto contract stays wire- and JSON-compatible (`buf breaking`,
WIRE_JSON rules from proto/buf.yaml) with its last committed state before the
working tree's; and a breaking change really is caught."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT

BUF = ROOT / "node_modules" / ".bin" / "buf"
TIMEOUT = 300


def _buf_available() -> bool:
    if shutil.which("node") is None or not BUF.exists():
        return False
    try:
        return subprocess.run([str(BUF), "--version"], capture_output=True,
                              timeout=TIMEOUT).returncode == 0
    except OSError:
        return False


pytestmark = pytest.mark.skipif(not _buf_available(),
                                reason="buf is missing (node or node_modules/.bin/buf; run `npm ci`)")


def git(*args: str, cwd: Path = ROOT, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=TIMEOUT, check=check)


def buf_breaking(cwd: Path, source: str, against: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BUF), "breaking", source, "--against", against], cwd=cwd,
                          capture_output=True, text=True, timeout=TIMEOUT)


def _in_git_checkout() -> bool:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        return False
    top = git("rev-parse", "--show-toplevel", check=False)
    return top.returncode == 0 and Path(top.stdout.strip()).resolve() == ROOT


def baseline_ref() -> str:
    """The commit holding the proto/ state the working tree's proto/ follows:
    HEAD when proto/ has uncommitted changes (tracked or new files); else the
    parent of the last commit that touched proto/; else (proto/ came with the
    first commit) that commit itself."""
    dirty = git("status", "--porcelain", "--untracked-files=all", "--", "proto").stdout.strip()
    if dirty or git("diff", "--quiet", "HEAD", "--", "proto", check=False).returncode != 0:
        return git("rev-parse", "HEAD").stdout.strip()
    last = git("log", "-n", "1", "--format=%H", "--", "proto").stdout.strip()
    assert last, "no commit touches proto/"
    parent = git("rev-parse", "--verify", "--quiet", f"{last}^", check=False)
    return parent.stdout.strip() if parent.returncode == 0 else last


def test_contract_is_compatible_with_its_previous_committed_state() -> None:
    if not _in_git_checkout():
        pytest.skip(f"{ROOT} is not a git checkout")
    ref = baseline_ref()
    result = buf_breaking(ROOT, "proto", f".git#subdir=proto,ref={ref}")
    assert result.returncode == 0, (
        f"buf breaking against {ref} failed ({result.returncode}):\n{result.stdout}{result.stderr}")


def test_buf_breaking_catches_a_renamed_field(tmp_path: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not on PATH")
    shutil.copytree(ROOT / "proto", tmp_path / "proto")
    environment = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
    for args in (["init", "-q"], ["config", "user.name", "Lenses Tests"],
                 ["config", "user.email", "tests@lenses.invalid"],
                 ["config", "commit.gpgsign", "false"], ["add", "proto"],
                 ["commit", "-q", "-m", "contract"]):
        subprocess.run(["git", *args], cwd=tmp_path, capture_output=True, text=True,
                       timeout=TIMEOUT, check=True, env=environment)

    source, against = str(tmp_path / "proto"), f"{tmp_path / '.git'}#subdir=proto"
    clean = buf_breaking(tmp_path, source, against)
    assert clean.returncode == 0, f"the unchanged copy does not pass:\n{clean.stdout}{clean.stderr}"

    common = tmp_path / "proto" / "lenses" / "v1" / "common.proto"
    text = common.read_text()
    finding = text.index("message Finding {")
    field = text.index("string rule_id = 1;", finding)
    assert field < text.index("}", finding), "Finding no longer has `string rule_id = 1;`"
    common.write_text(text[:field] + "string rule_name = 1;" + text[field + len("string rule_id = 1;"):])

    result = buf_breaking(tmp_path, source, against)
    assert result.returncode != 0, "buf breaking accepted a renamed field"
    assert "rule_name" in result.stdout, result.stdout + result.stderr
