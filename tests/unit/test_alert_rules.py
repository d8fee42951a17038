"""The Prometheus rules mirror template.yaml's alarms (devtools/alert_rules.py): the
committed files are what the alarms generate, one rule an alarm with its threshold, and
every series a rule reads is one the local stack's /metrics carries."""

import re

import yaml

from devtools.alert_rules import RULES, alarms, generated, threshold
from devtools.metrics import emitted_names
from devtools.template import resources


def test_the_committed_rules_and_their_tests_are_what_the_alarms_generate():
    for path, text in generated().items():
        assert path.read_text() == text, f"{path.name} is stale: run `make alert-rules`"


def test_every_alarm_has_its_rule_with_its_threshold():
    rules = {
        rule["alert"]: rule for rule in yaml.safe_load(RULES.read_text())["groups"][0]["rules"]
    }
    template_alarms = resources("AWS::CloudWatch::Alarm")
    assert set(rules) == set(template_alarms)
    for name, alarm in template_alarms.items():
        compared = rules[name]["expr"].removeprefix("count_over_time(")
        assert re.search(rf" > {threshold(alarm['Properties']):g}\b", compared), name
    assert rules["ApiLatencyAlarm"]["expr"].endswith("[900s:300s]) >= 2")  # 2 of 3 periods


def test_every_rule_reads_series_the_local_stack_emits():
    emitted = emitted_names()
    read = set()
    for alarm in alarms():
        read |= {re.sub(r"[{\[].*", "", found.selector) for found in alarm.twins.values()}
        read |= set(re.findall(r"\b(\w+_bucket)\[", alarm.value))
    histograms = {name for name in read if name + "_bucket" in emitted}
    assert read - histograms <= emitted
    assert "StuckOrdersRequeued_total" in read
