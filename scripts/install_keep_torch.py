"""Install this repository's package into an environment that already has PyTorch (Colab), without
touching that PyTorch: the requirements of pyproject.toml minus torch, then the package with --no-deps.

The exact pin torch==2.13.0 stays for local installs (pip install -e ".[test]"); Colab ships its own
CUDA build of torch, which must not be replaced. The notebooks' first cell runs this script on Colab;
tests/test_colab_install.py runs it in a fresh virtual environment that already has a torch.

Usage: python scripts/install_keep_torch.py [--dry-run]
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def requirements(pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    """The [project] dependencies, except torch."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    deps = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    return [d for d in deps if re.split(r"[\s<>=!~;\[]", d, maxsplit=1)[0].lower() != "torch"]


def commands(root: Path = ROOT) -> list[list[str]]:
    pip = [sys.executable, "-m", "pip", "install", "--quiet"]
    return [pip + requirements(root / "pyproject.toml"), pip + ["--no-deps", "-e", str(root)]]


def main(argv: list[str]) -> int:
    try:
        import torch  # noqa: F401  (the point: use the torch that is already there)
    except ImportError:
        print("no torch in this environment: install it first, e.g. pip install torch==2.13.0", file=sys.stderr)
        return 1
    for cmd in commands():
        print("$", " ".join(cmd), flush=True)
        if "--dry-run" not in argv:
            subprocess.run(cmd, check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
