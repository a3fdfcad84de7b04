"""The runtime path works without torch and pynq, and importing the package has no side effects."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from conftest import EXAMPLE_JPG, REPO_ROOT

BLOCKER = textwrap.dedent('''
    import importlib.abc
    import sys

    class Blocker(importlib.abc.MetaPathFinder):
        """Pretend torch and pynq are not installed."""
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("torch", "pynq", "torchvision"):
                raise ImportError(f"blocked for the test: {name}")
            return None

    sys.meta_path.insert(0, Blocker())
    for name in list(sys.modules):
        if name.split(".")[0] in ("torch", "pynq", "torchvision"):
            del sys.modules[name]
''')


def _python(code: str, timeout: int = 180) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "MPLBACKEND": "Agg"}
    env.pop("PYNQ_DEPTH_DEBUG", None)
    return subprocess.run([sys.executable, "-c", BLOCKER + textwrap.dedent(code)], capture_output=True, text=True,
                          env=env, timeout=timeout, cwd=str(REPO_ROOT))


def test_import_package_is_side_effect_free():
    result = _python('''
        import json, sys
        before = set(sys.modules)
        import pynq_depth
        loaded = sorted(set(sys.modules) - before)
        print(json.dumps({"version": pynq_depth.__version__, "loaded": loaded}))
    ''')
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout.strip().splitlines()[-1])
    assert data["version"]
    heavy = [m for m in data["loaded"] if m.split(".")[0] in ("torch", "pynq", "matplotlib", "PIL", "tqdm")]
    assert heavy == [], heavy


def test_runtime_modules_import_without_torch_or_pynq():
    result = _python('''
        import sys
        for blocked in ("torch", "pynq", "torch.nn"):
            try:
                __import__(blocked)
            except ImportError:
                pass
            else:
                raise SystemExit(f"the blocker let {blocked} through")
        import pynq_depth
        from pynq_depth import cli, backends, program, runtime, arith, config, depth, preprocess, netspec, metrics
        from pynq_depth.backends import emulator, csim, kernel
        from pynq_depth.program import load_program
        from pynq_depth.runtime import DEFAULT_WEIGHTS, create_estimator
        program = load_program(DEFAULT_WEIGHTS)
        assert not [m for m in sys.modules if m.split(".")[0] in ("torch", "pynq")]
        print("imports ok", len(program.commands))
    ''')
    assert result.returncode == 0, result.stderr
    assert "imports ok" in result.stdout


def test_cli_run_without_torch_or_pynq(tmp_path):
    out = tmp_path / "depth.png"
    result = _python(f'''
        import sys
        from pynq_depth import cli
        rc = cli.main(["run", {str(EXAMPLE_JPG)!r}, "-o", {str(out)!r}, "--backend", "emulator", "--npy"])
        assert not [m for m in sys.modules if m.split(".")[0] in ("torch", "pynq")]
        rc_auto = cli.main(["run", {str(EXAMPLE_JPG)!r}, "-o", {str(tmp_path / "auto.png")!r}])
        rc_info = cli.main(["info"])
        sys.exit(rc or rc_auto or rc_info)
    ''')
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert out.is_file() and out.with_suffix(".npy").is_file() and (tmp_path / "auto.png").is_file()
    assert "backend: emulator" in result.stderr


def test_torch_commands_fail_cleanly_without_torch(tmp_path):
    result = _python(f'''
        import sys
        from pynq_depth import cli
        codes = [
            cli.main(["run", {str(EXAMPLE_JPG)!r}, "-o", {str(tmp_path / "f.png")!r}, "--backend", "float"]),
            cli.main(["quantize", "x.pt", "-o", {str(tmp_path / "q.npz")!r}]),
            cli.main(["train", "-o", {str(tmp_path / "t.pt")!r}, "--steps", "1"]),
            cli.main(["bench", "--backend", "float", "--runs", "1"]),
        ]
        print("codes", codes)
    ''')
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    codes = eval(result.stdout.strip().splitlines()[-1].split(" ", 1)[1])
    assert all(code != 0 for code in codes)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 4 and all("torch" in line for line in errors), result.stderr
