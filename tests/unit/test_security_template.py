"""What template.yaml, edge-waf.yaml and samconfig.toml promise in docs/security.md:
browser origins named per environment, a rate rule and a body size rule at the edge,
admin routes that the authorizer guards, and merchants' uploads kept apart."""

import re
import shlex
import tomllib
from typing import Any

import pytest
import yaml

from devtools.template import ROOT, http_routes, load_template, resources, route_scopes

ENVIRONMENTS = ["dev", "prod"]


def overrides(environment: str) -> dict[str, str]:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    text = config[environment]["deploy"]["parameters"]["parameter_overrides"]
    return dict(item.split("=", 1) for item in shlex.split(text))


def _edge_waf() -> dict[str, Any]:
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, tag, node: {tag: node.value})
    loaded: dict[str, Any] = yaml.load((ROOT / "edge-waf.yaml").read_text(), Loader=Loader)
    return loaded


# ---------------------------------------------------------------------------- CORS
def test_the_api_allows_the_origins_the_environment_names_and_no_wildcard_by_default():
    parameter = load_template()["Parameters"]["CorsAllowOrigins"]
    assert parameter["Type"] == "CommaDelimitedList"
    assert "*" not in parameter["Default"]
    cors = resources("AWS::Serverless::HttpApi")["HttpApi"]["Properties"]["CorsConfiguration"]
    assert cors["AllowOrigins"] == {"Ref": "CorsAllowOrigins"}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_each_environment_names_its_browser_origins(environment):
    origins = overrides(environment)["CorsAllowOrigins"].split(",")
    for origin in origins:
        assert re.fullmatch(r"https?://[a-z0-9.-]+(:\d+)?", origin), origin
    if environment == "prod":
        assert all(origin.startswith("https://") for origin in origins)
        assert not any("localhost" in origin for origin in origins)


# ----------------------------------------------------------------------- the edge
def test_the_edge_distribution_takes_the_us_east_1_web_acl_when_given():
    distribution = resources("AWS::CloudFront::Distribution")["EdgeDistribution"]
    config = distribution["Properties"]["DistributionConfig"]
    assert config["WebACLId"] == {
        "Fn::If": ["HasEdgeWebAcl", {"Ref": "EdgeWebAclArn"}, {"Ref": "AWS::NoValue"}]
    }
    pattern = load_template()["Parameters"]["EdgeWebAclArn"]["AllowedPattern"]
    arn = "arn:aws:wafv2:us-east-1:111122223333:global/webacl/edge/0000"
    assert re.fullmatch(pattern, arn) and re.fullmatch(pattern, "")
    assert not re.fullmatch(pattern, arn.replace("us-east-1", "eu-west-1"))
    skips = {skip["id"] for skip in distribution["Metadata"]["checkov"]["skip"]}
    assert "CKV_AWS_68" not in skips  # checkov's WAF check runs


def test_prod_cannot_deploy_its_edge_without_the_web_acl():
    rule = load_template()["Rules"]["ProdEdgeHasAWebAcl"]
    assert rule["RuleCondition"] == {
        "Fn::And": [
            {"Fn::Equals": [{"Ref": "Stage"}, "prod"]},
            {"Fn::Equals": [{"Ref": "EdgeCache"}, "Enabled"]},
        ]
    }
    (assertion,) = rule["Assertions"]
    assert assertion["Assert"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "EdgeWebAclArn"}, ""]}]}
    assert overrides("prod")["EdgeWebAclArn"].startswith("arn:aws:wafv2:us-east-1:")


def test_the_edge_web_acl_blocks_an_ip_over_its_rate():
    acl = _edge_waf()["Resources"]["EdgeWebAcl"]["Properties"]
    assert acl["Scope"] == "CLOUDFRONT"
    assert acl["DefaultAction"] == {"Allow": {}}
    rule = acl["Rules"][0]
    assert rule["Action"] == {"Block": {}}
    rate = rule["Statement"]["RateBasedStatement"]
    assert rate["AggregateKeyType"] == "IP"
    assert rate["Limit"] == {"Ref": "RequestsPerIpPer5Minutes"}


# WAF inspects this much of a body at a CloudFront distribution unless the web ACL's
# AssociationConfig raises it, for a fee per request (AWS WAF API reference, Body).
WAF_BODY_INSPECTION_BYTES = 16 * 1024


def test_the_edge_web_acl_refuses_a_body_past_what_waf_inspects_with_the_apis_413():
    from stockroom.http_rules import MAX_BODY_BYTES
    from stockroom.models import ErrorEnvelope

    acl = _edge_waf()["Resources"]["EdgeWebAcl"]["Properties"]
    assert "AssociationConfig" not in acl  # so WAF sees the first 16 KB of a body
    (rule,) = [rule for rule in acl["Rules"] if "SizeConstraintStatement" in rule["Statement"]]
    size = rule["Statement"]["SizeConstraintStatement"]
    # Past the inspection limit the body matches (oversize MATCH), whatever its size:
    # a body of 6 to 10 MB, which API Gateway takes and Lambda refuses, stops here.
    assert size["FieldToMatch"] == {"Body": {"OversizeHandling": "MATCH"}}
    assert (size["ComparisonOperator"], size["Size"]) == ("GT", WAF_BODY_INSPECTION_BYTES)
    assert size["Size"] <= MAX_BODY_BYTES  # never admits what the API would refuse
    block = rule["Action"]["Block"]["CustomResponse"]
    assert block["ResponseCode"] == 413
    body = acl["CustomResponseBodies"][block["CustomResponseBodyKey"]]
    assert body["ContentType"] == "APPLICATION_JSON"
    error = ErrorEnvelope.model_validate_json(body["Content"]).error
    assert (error.code, [detail.field for detail in error.details]) == (
        "PAYLOAD_TOO_LARGE",
        ["body"],
    )
    assert str(WAF_BODY_INSPECTION_BYTES) in error.message


# ------------------------------------------------------------------------ admin
def test_admin_operations_sit_on_routes_that_require_the_admin_scope():
    scoped = route_scopes()
    admin = {route for route in http_routes() if route[1].startswith("/admin/")}
    assert admin == {
        ("GET", "/admin/orders/{order_id}"),
        ("POST", "/admin/orders/{order_id}/cancel"),
    }
    assert set(scoped) == admin  # and no other route asks for a scope
    for route in admin:
        assert scoped[route] == [{"Ref": "AdminScope"}], route
        assert http_routes()[route] == ("OrdersFunction", True)
    assert load_template()["Parameters"]["AdminScope"]["Default"] == "stockroom/admin"


def test_no_code_decides_who_is_an_admin_from_a_tokens_scopes():
    """The word admin in a token grants nothing by itself: only the route does."""
    from stockroom.identity import Caller

    assert not hasattr(Caller(customer_id="c", scopes=frozenset({"admin"})), "is_admin")
    for path in [*(ROOT / "functions").rglob("*.py"), *(ROOT / "layers").rglob("*.py")]:
        text = path.read_text()
        assert not re.search(r"""["']admin["']\s+in\b|\bin\s+\w*scopes""", text), path


# -------------------------------------------------------------- merchants' uploads
BUCKET_ARN = "${ImportBucket.Arn}"


def test_the_import_bucket_keeps_what_an_overwrite_replaced():
    bucket = resources("AWS::S3::Bucket")["ImportBucket"]
    assert bucket["Properties"]["VersioningConfiguration"] == {"Status": "Enabled"}
    rules = {rule["Id"]: rule for rule in bucket["Properties"]["LifecycleConfiguration"]["Rules"]}
    assert rules["ExpireReplacedVersions"]["NoncurrentVersionExpiration"]["NoncurrentDays"] > 0
    skips = {skip["id"] for skip in bucket["Metadata"]["checkov"]["skip"]}
    assert "CKV_AWS_21" not in skips  # checkov's versioning check runs


def test_only_the_importer_may_write_reports_and_checkpoints():
    policy = resources("AWS::S3::BucketPolicy")["ImportBucketPolicy"]["Properties"]
    statements = {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}
    deny = statements["OnlyTheImporterWritesReportsAndCheckpoints"]
    assert (deny["Effect"], deny["Principal"]) == ("Deny", "*")
    assert set(deny["Action"]) == {"s3:PutObject", "s3:DeleteObject"}
    assert deny["Resource"] == [
        {"Fn::Sub": f"{BUCKET_ARN}/reports/*"},
        {"Fn::Sub": f"{BUCKET_ARN}/checkpoints/*"},
    ]
    assert deny["Condition"] == {
        "ArnNotEquals": {"aws:PrincipalArn": {"Fn::GetAtt": ["CatalogImportFunctionRole", "Arn"]}}
    }


def test_a_merchants_policy_writes_only_its_own_prefix_and_reads_only_its_reports():
    policy = resources("AWS::IAM::ManagedPolicy")["MerchantUploadPolicy"]["Properties"]
    statements = policy["PolicyDocument"]["Statement"]
    own = "${!aws:PrincipalTag/merchant}"
    granted = {(s["Effect"], s["Action"], s["Resource"]["Fn::Sub"]) for s in statements}
    assert granted == {
        ("Allow", "s3:PutObject", f"{BUCKET_ARN}/imports/{own}/*"),
        ("Allow", "s3:GetObject", f"{BUCKET_ARN}/reports/imports/{own}/*"),
    }
    for statement in statements:
        # Untagged principals get nothing; a tag with a slash would reach another's prefix.
        assert statement["Condition"]["Null"] == {"aws:PrincipalTag/merchant": "false"}
        assert "*/*" in statement["Condition"]["StringNotLike"]["aws:PrincipalTag/merchant"]


def test_the_importer_reads_only_merchants_prefixes():
    from import_bucket import merchant_of

    assert merchant_of("imports/acme/spring catalog.csv") == "acme"
    assert merchant_of("imports/acme/nested/file.csv") == "acme"
    for key in ("imports/catalog.csv", "imports//x.csv", "imports/a b/x.csv", "reports/a/x.csv"):
        assert merchant_of(key) is None, key
