"""The delivery pipeline's guard rails (.github/workflows, Makefile, docs/deploying.md):
actions pinned by commit, deploys from main alone, each job given only the secrets it
names, and the dev venv installed with every artifact checked against its hash."""

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from devtools.template import ROOT

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
MAIN_ONLY = "github.ref == 'refs/heads/main'"


def workflow(path: Path) -> dict[str, Any]:
    loaded: dict[Any, Any] = yaml.safe_load(path.read_text())
    loaded["on"] = loaded.pop(True, loaded.get("on"))  # YAML 1.1 reads `on` as true
    return loaded


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.name)
def test_every_action_is_pinned_by_commit_with_its_tag_beside_it(path):
    uses = re.findall(r"^\s*(?:- )?uses: (\S+)(.*)$", path.read_text(), flags=re.M)
    assert uses
    for action, comment in uses:
        if action.startswith("./"):
            continue  # this repository's own reusable workflow
        assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", action), action
        assert re.fullmatch(r" # v\d+(\.\d+)*", comment), (action, comment)


def _jobs() -> list[tuple[str, str, dict[str, Any]]]:
    return [(p.name, name, job) for p in WORKFLOWS for name, job in workflow(p)["jobs"].items()]


def test_no_job_inherits_every_secret_and_callers_pass_only_declared_ones():
    for file, name, job in _jobs():
        assert job.get("secrets") != "inherit", (file, name)
        if "uses" in job and job["uses"].startswith("./"):
            declared = workflow(ROOT / job["uses"])["on"]["workflow_call"].get("secrets") or {}
            assert set(job.get("secrets", {})) <= set(declared), (file, name)


def test_only_the_journeys_deployment_is_given_the_journeys_client():
    jobs = {name: job for file, name, job in _jobs() if file == "main.yml"}
    assert set(jobs["deploy-dev"]["secrets"]) == {"E2E_CLIENT_ID", "E2E_CLIENT_SECRET"}
    assert "secrets" not in jobs["deploy-prod"]


def test_deployments_run_from_main_alone():
    deploying = [
        (file, name, job)
        for file, name, job in _jobs()
        if "environment" in job or job.get("uses", "").endswith("/deploy.yml")
    ]
    assert len(deploying) == 3  # deploy.yml's job and main.yml's two calls of it
    for file, name, job in deploying:
        assert job.get("if") == MAIN_ONLY, (file, name)


def test_the_deploy_roles_trust_names_the_main_branch_and_the_environment():
    policy = json.loads((ROOT / "docs" / "deploy-role-trust.json").read_text())
    (statement,) = policy["Statement"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert set(statement["Condition"]) == {"StringEquals"}  # no wildcard match
    claims = statement["Condition"]["StringEquals"]
    assert claims["token.actions.githubusercontent.com:aud"] == "sts.amazonaws.com"
    subject = claims["token.actions.githubusercontent.com:sub"]
    assert re.fullmatch(r"repo:[^:]+:environment:[^:]+:ref:refs/heads/main", subject)
    assert "deploy-role-trust.json" in (ROOT / "docs" / "deploying.md").read_text()


def test_the_dev_venv_is_installed_with_every_artifact_checked_against_its_hash():
    makefile = (ROOT / "Makefile").read_text()
    installs = re.findall(r"^\t.*\bpip install\b.*$", makefile, flags=re.M)
    from_locks = [line for line in installs if " -r " in line]
    assert len(from_locks) == 2  # uv itself, then requirements-dev.txt with uv
    for line in from_locks:
        assert "--require-hashes" in line, line
    for lock in ("requirements-dev.txt", "devtools/uv-requirements.txt"):
        text = (ROOT / lock).read_text()
        pins = re.findall(r"^([A-Za-z0-9_.\[\],-]+==\S+)(.*)$", text, flags=re.M)
        assert pins, lock
        for pin, rest in pins:
            assert rest.strip() == "\\", (lock, pin)  # its hashes follow on the next lines
        assert text.count("--hash=sha256:") >= len(pins)
    lock_rule = re.search(r"^lock:.*\n\t(.*)$", makefile, flags=re.M)
    assert lock_rule and "--generate-hashes" in lock_rule[1]
