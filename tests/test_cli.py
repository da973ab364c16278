import json
import subprocess
import sys

import pytest

from altoolkit.cli import main


def test_al_command_writes_record(tmp_path, capsys):
    out = tmp_path / "results.json"
    rc = main(["al", "--dataset", "digits", "--strategy", "disal", "--seed", "0", "--out", str(out), "--cycles", "2", "--epochs", "2", "--no-progress"])
    assert rc == 0
    rec = json.loads(out.read_text())
    assert rec["config"]["strategy"] == "disal" and rec["finished"] and len(rec["cycles"]) == 2
    assert "test acc" in capsys.readouterr().out


def test_al_command_rejects_bad_values(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["al", "--strategy", "nope", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "strategy must be one of" in err and "disal" in err
    assert main(["al", "--lam", "-1", "--out", str(out)]) == 2
    assert "λ" in capsys.readouterr().err
    assert not out.exists()


def test_strategies_lists_every_registered_name(capsys):
    from altoolkit.strategies import strategy_names

    assert main(["strategies"]) == 0
    text = capsys.readouterr().out
    for name in strategy_names():
        assert name in text
    assert "ORACLE" in text  # ce_difference says it peeks at labels


@pytest.mark.slow
def test_console_script_entry_point_runs():
    r = subprocess.run([sys.executable, "-m", "altoolkit", "strategies"], capture_output=True, text=True, check=True)
    assert "disal_no_dynamic" in r.stdout
