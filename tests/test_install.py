"""A non-editable `pip install .` carries the default model and the SDK finds it
without configuration (issue 5, 'ship it')."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_non_editable_install_finds_the_default_model(tmp_path):
    if not (REPO / "models" / "default" / "manifest.json").is_file():
        pytest.skip("no default model shipped in models/default yet")
    pytest.importorskip("onnxruntime")
    # Build from a copy so the test writes nothing into the working tree.
    src = tmp_path / "src"
    src.mkdir()
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(REPO / "sdk", src / "sdk", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "models" / "default", src / "models" / "default")
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(src)], check=True, capture_output=True, text=True)
    code = ("import sdk, json; c = sdk.Checker(engine='onnx'); r = c.check('喂，说话呀！'); "
            "print(json.dumps({'file': sdk.__file__, 'engine': r.engine, 'label': r.label}))")
    env = {**os.environ, "PYTHONPATH": str(site)}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, check=True,
                         capture_output=True, text=True).stdout
    import json
    got = json.loads(out.strip().splitlines()[-1])
    assert got["file"].startswith(str(site))
    assert got["engine"] == "onnx"
    assert got["label"] in ("standard", "non_compliant", "missing_apology", "missing_thanks")
