"""The shipped alert rules, their promtool unit tests, the Grafana dashboard as
Grafana's provisioning reads it, and a runbook entry in the README for each alert."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

from tests.deploy.monitoring import (
    DASHBOARD,
    README,
    ROOT,
    RULES,
    RULES_TEST,
    SCRAPE_EXAMPLE,
    alerts,
    binary,
    dashboard,
    dashboard_queries,
    metric_names,
    rules,
)


def _promtool(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [binary("promtool"), *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


# -- promtool --------------------------------------------------------------------------


def test_promtool_checks_the_rules() -> None:
    done = _promtool("check", "rules", str(RULES))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(rules())} rules found" in done.stdout


def test_promtool_unit_tests_fire_each_alert_and_keep_a_healthy_series_silent() -> None:
    spec = yaml.safe_load(RULES_TEST.read_text(encoding="utf-8"))
    assert spec["rule_files"] == [RULES.name]
    fired = {
        check["alertname"]
        for case in spec["tests"]
        for check in case["alert_rule_test"]
        if check["exp_alerts"]
    }
    silent = {
        check["alertname"]
        for case in spec["tests"]
        if case["name"].startswith("healthy")
        for check in case["alert_rule_test"]
        if not check["exp_alerts"]
    }
    names = {a["alert"] for a in alerts()}
    assert fired == names, "an alert without a firing case"
    assert silent == names, "an alert not checked silent on the healthy series"
    done = _promtool("test", "rules", RULES_TEST.name, cwd=RULES_TEST.parent)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_the_example_scrape_config_is_valid(tmp_path: Path) -> None:
    # As mounted by the compose profile: the rules at /etc/prometheus, here beside it.
    config = yaml.safe_load(SCRAPE_EXAMPLE.read_text(encoding="utf-8"))
    assert [job["job_name"] for job in config["scrape_configs"]] == ["dailystats"]
    assert "runbook_base" in config["global"]["external_labels"]
    (tmp_path / RULES.name).write_text(RULES.read_text(encoding="utf-8"), encoding="utf-8")
    config["rule_files"] = [str(tmp_path / RULES.name)]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    done = _promtool("check", "config", str(tmp_path / "prometheus.yml"))
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_compose_monitoring_profile_mounts_the_shipped_files() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    prometheus = compose["services"]["prometheus"]
    assert prometheus["profiles"] == ["monitoring"]
    mounts = dict(v.split(":")[:2] for v in prometheus["volumes"] if v.startswith("./"))
    assert mounts == {
        "./deploy/prometheus/prometheus.yml": "/etc/prometheus/prometheus.yml",
        "./deploy/prometheus/dailystats.rules.yml": "/etc/prometheus/dailystats.rules.yml",
    }
    example = yaml.safe_load(SCRAPE_EXAMPLE.read_text(encoding="utf-8"))
    assert example["rule_files"] == ["/etc/prometheus/dailystats.rules.yml"]
    assert example["scrape_configs"][0]["static_configs"][0]["targets"] == ["dailystats:8080"]


# -- the rules as operators read them ------------------------------------------------------


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, spaces to '-', punctuation dropped."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_each_alert_has_severity_summary_description_and_its_runbook_entry() -> None:
    readme = README.read_text(encoding="utf-8")
    anchors = {_slug(h) for h in re.findall(r"^#### (.+)$", readme, flags=re.MULTILINE)}
    for alert in alerts():
        name = alert["alert"]
        assert alert["labels"]["severity"] in {"critical", "warning", "info"}, name
        annotations = alert["annotations"]
        assert annotations["summary"] and "\n" not in annotations["summary"], name
        assert annotations["description"], name
        anchor = f"runbook-{name.lower()}"
        assert annotations["runbook_url"].endswith(f"/README.md#{anchor}"), name
        assert "$externalLabels.runbook_base" in annotations["runbook_url"], name
        assert anchor in anchors, f"README has no '#### runbook-{name}' entry"
    assert len({a["alert"] for a in alerts()}) == len(alerts())


def test_alerts_on_database_gauges_do_not_page_once_per_replica() -> None:
    # A gauge read from the database is the same on every replica: such an alert must
    # drop `instance`, or two replicas page twice. Process alerts keep it on purpose.
    per_process = {"DailystatsDown", "DailystatsWorkersNotAlive", "DailystatsAbsent"}
    recorded = {r["record"] for r in rules() if "record" in r}
    for alert in alerts():
        if alert["alert"] in per_process:
            continue
        expr = alert["expr"]
        reads_a_recording = any(name in expr for name in recorded)
        assert "without (instance)" in expr or reads_a_recording, alert["alert"]
    for rule in rules():
        if "record" in rule:
            assert rule["expr"].count("without (instance)") >= 2, rule["record"]


# -- the dashboard as Grafana's provisioning reads it --------------------------------------


def test_the_dashboard_is_provisionable_as_it_is() -> None:
    board = dashboard()
    # Provisioning reads the dashboard model itself: no import-only __inputs whose
    # ${DS_...} placeholders it would leave unresolved, no database id.
    assert "__inputs" not in board and "DS_PROMETHEUS" not in DASHBOARD.read_text()
    assert board.get("id") is None
    assert isinstance(board["schemaVersion"], int) and board["schemaVersion"] >= 36
    assert board["title"] and re.fullmatch(r"[A-Za-z0-9_-]{1,40}", board["uid"])
    variables = board["templating"]["list"]
    source = [v for v in variables if v["type"] == "datasource"]
    assert [(v["name"], v["query"]) for v in source] == [("datasource", "prometheus")]
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids)) and all(isinstance(i, int) for i in ids)
    for panel in board["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
    titles = " ".join(p["title"].lower() for p in board["panels"])
    for topic in (
        "scans",
        "duration",
        "last successful",
        "deliveries",
        "attempts",
        "calls",
        "spend",
        "budget",
        "videos",
        "stops",
        "alerts",
        "workers",
    ):
        assert topic in titles, topic


def test_the_provisioning_file_is_a_file_provider() -> None:
    provisioning = DASHBOARD.parent / "provisioning" / "dailystats.yml"
    spec = yaml.safe_load(provisioning.read_text(encoding="utf-8"))
    assert spec["apiVersion"] == 1
    [provider] = spec["providers"]
    assert provider["type"] == "file" and provider["options"]["path"].startswith("/")


def test_the_dashboard_reads_only_recordings_the_rules_make() -> None:
    recorded = {r["record"] for r in rules() if "record" in r}
    for title, expr in dashboard_queries():
        used = set(re.findall(r"dailystats:[a-z_]+:[a-z_]+", expr))
        assert used <= recorded, (title, used - recorded)


def test_metric_names_are_found_in_queries() -> None:
    # The extraction the live name check relies on.
    assert metric_names(
        'max without (instance) (dailystats_days_owed{reason="missed"}) > 0'
        " / dailystats:x:ratio + rate(dailystats_scans_total[1m]) and up == 1"
    ) == {"dailystats_days_owed", "dailystats_scans_total", "up"}


# -- CI installs the package -----------------------------------------------------------------


def test_ci_installs_prometheus_when_missing_and_survives_a_failed_install() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "command -v promtool" in ci
    install = next(
        line for line in ci.splitlines() if re.search(r"apt-get install -y .*prometheus", line)
    )
    assert "||" in install, "a failed install must not fail CI"
