"""`scan --save/--baseline`, `history list|show|diff|trend` and the history location through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kubehipaa.cli.main import app
from kubehipaa.history import data_dir, locate
from tests.history.helpers import NAMESPACE, deployment, write

runner = CliRunner()
PASSWORD = "s3cret-Pw-9"


def _scan(src: Path, url: str, *extra: str) -> tuple[int, str, str]:
    res = runner.invoke(app, ["scan", str(src), "--history-url", url, "-f", "json", *extra])
    return res.exit_code, res.stdout, res.stderr


def test_save_list_show_diff_trend(history_url: str, tmp_path: Path) -> None:
    src = write(tmp_path / "k8s", {"ns.yaml": NAMESPACE, "a.yaml": deployment("ehr")})
    code, out, err = _scan(src, history_url, "--save", "--fail-on", "never")
    assert code == 0, err
    assert "saved scan #1" in err
    first = json.loads(out)
    write(src, {"b.yaml": deployment("portal")})
    code, _out, err = _scan(src, history_url, "--save", "--fail-on", "never")
    assert code == 0 and "saved scan #2" in err

    listed = runner.invoke(app, ["history", "list", "--history-url", history_url, "-f", "json"])
    assert listed.exit_code == 0, listed.stderr
    scans = json.loads(listed.stdout)["scans"]
    assert [s["id"] for s in scans] == [1, 2]
    assert scans[0]["findings"] == first["summary"]["findings"]
    assert scans[0]["target"] == [str(src)]

    shown = runner.invoke(app, ["history", "show", "1", "--history-url", history_url, "-f", "json"])
    assert shown.exit_code == 0, shown.stderr
    doc = json.loads(shown.stdout)
    assert sorted(f["fingerprint"] for f in doc["findingsList"]) == sorted(f["fingerprint"] for f in first["findings"])
    assert {i["name"] for i in doc["inputs"]} == {str(src / "ns.yaml"), str(src / "a.yaml")}

    diff = runner.invoke(app, ["history", "diff", "1", "2", "--history-url", history_url, "-f", "json"])
    assert diff.exit_code == 0, diff.stderr
    d = json.loads(diff.stdout)
    assert d["summary"]["fixed"] == 0 and d["summary"]["new"] > 0
    assert {f["resource"]["name"] for f in d["newFindings"]} == {"portal"}
    text = runner.invoke(app, ["history", "diff", "1", "--history-url", history_url])
    assert f"{d['summary']['new']} new, 0 fixed" in text.stdout

    tr = runner.invoke(app, ["history", "trend", "--history-url", history_url, "-f", "json"])
    assert tr.exit_code == 0, tr.stderr
    t = json.loads(tr.stdout)
    assert [s["id"] for s in t["scans"]] == [1, 2]
    assert t["safeguards"] and all(len(g["counts"]) == 2 for g in t["safeguards"])


def test_baseline_makes_only_new_findings_fail(history_url: str, tmp_path: Path) -> None:
    src = write(tmp_path / "k8s", {"ns.yaml": NAMESPACE, "a.yaml": deployment("ehr")})
    assert _scan(src, history_url, "--fail-on", "high")[0] == 1  # known problems fail without a baseline
    code, _out, err = _scan(src, history_url, "--save", "--baseline", "last", "--fail-on", "high")
    assert code == 1 and "every finding counts as new" in err  # nothing saved yet: all new
    code, out, err = _scan(src, history_url, "--baseline", "last", "--fail-on", "high")
    assert code == 0, err
    assert "0 new" in err and json.loads(out)["summary"]["findings"] > 0  # still all reported
    write(src, {"b.yaml": deployment("portal")})
    code, _out, err = _scan(src, history_url, "--baseline", "1", "--fail-on", "high")
    assert code == 1
    assert "new: " in err and "portal" in err and "ehr" not in err.split("only new findings")[1]
    code, _out, err = _scan(src, history_url, "--baseline", "7", "--fail-on", "high")
    assert code == 2 and "no saved scan #7" in err


def test_a_password_in_the_history_url_is_never_printed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = write(tmp_path / "k8s", {"a.yaml": deployment("ehr")})
    url = f"postgresql://kubehipaa:{PASSWORD}@127.0.0.1:1/nowhere"
    res = runner.invoke(app, ["scan", str(src), "--save", "--history-url", url])
    assert res.exit_code == 2
    assert PASSWORD not in res.stdout + res.stderr
    assert "127.0.0.1:1" in res.stderr and "<redacted:secret>" in res.stderr
    monkeypatch.setenv("KUBEHIPAA_HISTORY_URL", url)
    res = runner.invoke(app, ["history", "list"])
    assert res.exit_code == 2 and PASSWORD not in res.stdout + res.stderr


def test_the_saved_command_line_has_no_password(pg_url: str, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    src = write(tmp_path / "k8s", {"a.yaml": deployment("ehr")})
    argv = ["kubehipaa", "scan", str(src), "--save", f"--history-url={pg_url}"]
    monkeypatch.setattr("sys.argv", argv)
    res = runner.invoke(app, argv[1:])
    assert res.exit_code in (0, 1), res.stderr
    listed = runner.invoke(app, ["history", "list", "--history-url", pg_url, "-f", "json"])
    password = pg_url.split(":")[2].split("@")[0]
    assert password and password not in listed.stdout + res.stderr
    assert json.loads(listed.stdout)["scans"][0]["command"].startswith(f"kubehipaa scan {src} --save")


def test_where_the_history_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--history-url, else $KUBEHIPAA_HISTORY_URL, else the config (relative to it), else the data dir."""
    assert locate(None).url == f"sqlite:///{tmp_path / 'xdg-data' / 'kubehipaa' / 'history.sqlite3'}" or \
        locate(None).url == f"sqlite:///{data_dir() / 'history.sqlite3'}"
    cfg_dir = tmp_path / "repo"
    assert locate(None, None, "hist.db", str(cfg_dir / ".kubehipaa.yaml")).url == f"sqlite:///{cfg_dir}/hist.db"
    monkeypatch.setenv("KUBEHIPAA_HISTORY_URL", "env.db")
    assert locate(None, None, "hist.db").url == f"sqlite:///{tmp_path}/env.db"
    assert locate("postgresql://u@h/db").url == "postgresql+psycopg://u@h/db"


def test_the_default_history_lives_in_the_user_data_dir(tmp_path: Path) -> None:
    src = write(tmp_path / "k8s", {"a.yaml": deployment("ehr")})
    res = runner.invoke(app, ["scan", str(src), "--save"])
    assert res.exit_code == 1, res.stderr
    db = data_dir() / "history.sqlite3"
    assert db.is_file() and str(db).startswith(str(tmp_path))
    assert oct(db.stat().st_mode & 0o777) == "0o600"


@pytest.mark.parametrize("url,message", [
    ("mysql://u@h/db", "unsupported scheme"),
    ("sqlite://", "needs a file path"),
])
def test_bad_history_urls_are_one_line_errors(url: str, message: str) -> None:
    res = runner.invoke(app, ["history", "list", "--history-url", url])
    assert res.exit_code == 2 and message in res.stderr and "Traceback" not in res.stderr


def test_listing_a_history_that_does_not_exist_says_so(tmp_path: Path) -> None:
    res = runner.invoke(app, ["history", "list", "--history-url", str(tmp_path / "none.db")])
    assert res.exit_code == 2 and "no saved scans yet" in res.stderr
    assert not (tmp_path / "none.db").exists()
    # a baseline against a history that does not exist: all new, and no history is created by comparing
    src = write(tmp_path / "k8s", {"a.yaml": deployment("ehr")})
    code, _out, err = _scan(src, str(tmp_path / "none.db"), "--baseline", "last")
    assert code == 1 and "every finding counts as new" in err
    code, _out, err = _scan(src, str(tmp_path / "none.db"), "--baseline", "3")
    assert code == 2 and "no saved scans yet" in err
    assert not (tmp_path / "none.db").exists()


def test_config_history_block(tmp_path: Path) -> None:
    (tmp_path / ".kubehipaa.yaml").write_text("history:\n  path: h.db\n  url: sqlite:///x.db\n")
    res = runner.invoke(app, ["history", "list"])
    assert res.exit_code == 2 and "history.url or history.path, not both" in res.stderr
    (tmp_path / ".kubehipaa.yaml").write_text("history:\n  retention_dayz: 3\n")
    res = runner.invoke(app, ["history", "list"])
    assert res.exit_code == 2 and "retention_dayz: unknown key" in res.stderr


def test_history_show_re_checks_the_saved_scan(tmp_path: Path) -> None:
    import sqlite3

    url = f"sqlite:///{tmp_path / 'h.db'}"
    src = write(tmp_path / "k8s", {"a.yaml": deployment("ehr")})
    _scan(src, url, "--save")
    shown = runner.invoke(app, ["history", "show", "last", "--history-url", url])
    assert shown.exit_code == 0 and "verified" in shown.stdout
    with sqlite3.connect(tmp_path / "h.db") as db:
        db.execute("DELETE FROM scan_findings WHERE rowid IN (SELECT rowid FROM scan_findings LIMIT 1)")
    shown = runner.invoke(app, ["history", "show", "1", "--history-url", url, "-f", "json"])
    assert shown.exit_code == 2 and "finding rows differ from the sealed report" in shown.stderr
    assert json.loads(shown.stdout)["integrity"]["verified"] is False


def test_save_prunes_by_the_configured_retention_and_says_so(tmp_path: Path) -> None:
    import datetime as dt

    from kubehipaa.config import Config
    from kubehipaa.pipelines.history import save_scan
    from tests.history.helpers import run

    url = f"sqlite:///{tmp_path / 'h.db'}"
    (tmp_path / ".kubehipaa.yaml").write_text(f"history:\n  url: {url}\n  retention_days: 30\n")
    src = write(tmp_path / "k8s", {"a.yaml": deployment("ehr")})
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=31)
    save_scan(run([src]), Config(), ["kubehipaa"], url, now=old)
    res = runner.invoke(app, ["scan", str(src), "--save", "--fail-on", "never"])
    assert res.exit_code == 0, res.stderr
    assert "saved scan #2" in res.stderr
    assert "pruned 1 scan(s) older than 30 days (history.retention_days): #1" in res.stderr
    listed = json.loads(runner.invoke(app, ["history", "list", "-f", "json"]).stdout)
    assert [s["id"] for s in listed["scans"]] == [2]


def test_verify_history_names_a_changed_saved_report(tmp_path: Path) -> None:
    """`kubehipaa verify --history ID`: a saved scan's sealed report is re-checked; an edited finding in the
    stored report is named by its fingerprint (the same integrity block as a JSON or HTML report)."""
    import sqlite3
    import zlib

    import orjson

    url = f"sqlite:///{tmp_path / 'h.db'}"
    src = write(tmp_path / "k8s", {"a.yaml": deployment("ehr")})
    _scan(src, url, "--save")
    ok = runner.invoke(app, ["verify", "--history", "1", "--history-url", url])
    assert ok.exit_code == 0 and "intact" in ok.stdout, ok.output
    with sqlite3.connect(tmp_path / "h.db") as db:
        (blob,) = db.execute("SELECT report FROM scans WHERE id = 1").fetchone()
        report = orjson.loads(zlib.decompress(blob))
        finding = report["findings"][0]
        finding["message"] = "nothing to see here"
        db.execute("UPDATE scans SET report = ? WHERE id = 1", (zlib.compress(orjson.dumps(report)),))
    bad = runner.invoke(app, ["verify", "--history", "1", "--history-url", url])
    assert bad.exit_code == 1 and "CHANGED" in bad.stdout
    assert finding["fingerprint"][:8] in bad.stdout
    both = runner.invoke(app, ["verify", "x.json", "--history", "1"])
    assert both.exit_code == 2
