"""The Colab install path (scripts/install_keep_torch.py, run by every notebook's first cell on Colab) leaves
an already-installed torch untouched and makes the package importable.

A fresh virtual environment stands in for Colab: it sees this environment's packages (torch included)
through a .pth file, as Colab's own torch is simply there. The script then runs for real in it; afterwards
torch is the same file and version, pip never resolved or installed a torch, and gbp_utils imports.
"""

import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "install_keep_torch.py"


def _run(python, *args, **kwargs):
    return subprocess.run([str(python), *args], capture_output=True, text=True, timeout=240, **kwargs)


def test_requirements_leave_out_torch_and_keep_the_rest():
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import install_keep_torch
    finally:
        sys.path.pop(0)
    reqs = install_keep_torch.requirements()
    assert not [r for r in reqs if r.lower().startswith("torch")]
    assert "numpy>=1.24" in reqs and len(reqs) >= 10


def test_install_keeps_the_existing_torch(tmp_path):
    env_dir = tmp_path / "colab"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    purelib = _run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip()
    # "Colab": torch (and everything else) is already installed, in a place this venv can see.
    (Path(purelib) / "preinstalled.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    probe = "import torch; print(torch.__version__, torch.__file__)"
    before = _run(python, "-c", probe)
    assert before.returncode == 0, before.stderr

    result = _run(python, str(SCRIPT))
    assert result.returncode == 0, result.stdout + result.stderr
    log = result.stdout + result.stderr
    assert not [line for line in log.splitlines()
                if "torch" in line.lower() and ("collecting" in line.lower() or "installing" in line.lower())], log

    after = _run(python, "-c", probe)
    assert after.stdout == before.stdout, "the install replaced or moved torch"
    imported = _run(python, "-c", "import gbp_utils, pathlib; print(pathlib.Path(gbp_utils.__file__).parent.parent)",
                    cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    assert Path(imported.stdout.strip()) == ROOT
    freeze = _run(python, "-m", "pip", "list", "--path", purelib).stdout
    assert "gbp-tutorial" in freeze.lower(), f"the package was not installed into the new environment:\n{freeze}"
    assert "torch" not in freeze.lower(), f"torch was installed into the new environment:\n{freeze}"
