#!/usr/bin/env python3
"""Runs template.yaml through the SAM transform, as CloudFormation does on `sam deploy`, and
checks what it makes of the parts that matter for access.

    .venv-sam/bin/python tests/sam_transform.py [template.yaml]

`sam validate --lint` (what samconfig.toml asks for) runs cfn-lint only; this is the
translator itself, which refuses what CloudFormation's transform would refuse. It needs the
`aws-sam-translator` package (aws-sam-cli brings it) and no AWS account.
"""

import sys

import boto3
from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator
from samtranslator.yaml_helper import yaml_parse


def transformed(path):
    template = yaml_parse(open(path, encoding="utf-8").read())
    # `sam deploy` uploads each function's code and puts its S3 address here.
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = "s3://bucket/function.zip"
    translator = Translator(
        managed_policy_map=None,
        sam_parser=Parser(),
        plugins=[],
        boto_session=boto3.Session(region_name="us-east-1"),
    )
    try:
        return translator.translate(
            sam_template=template, parameter_values={}, get_managed_policy_map=lambda: {}
        )
    except InvalidDocumentException as e:
        sys.exit("the SAM transform refuses the template:\n" + "\n".join(str(c) for c in e.causes))


def main():
    out = transformed(sys.argv[1] if len(sys.argv) > 1 else "template.yaml")
    resources = out["Resources"]
    failures = []

    # Meta's webhook: the function URL, open, and both permissions new function URLs need.
    url = resources.get("WebhookFunctionUrl", {})
    if url.get("Properties", {}).get("AuthType") != "NONE":
        failures.append("the webhook has no open function URL")
    granted = {
        (p["Properties"]["Action"], p["Properties"].get("InvokedViaFunctionUrl", False))
        for p in resources.values()
        if p["Type"] == "AWS::Lambda::Permission"
        and p["Properties"].get("FunctionName") == {"Ref": "WebhookFunction"}
        and p["Properties"].get("Principal") == "*"
    }
    for need in [("lambda:InvokeFunctionUrl", False), ("lambda:InvokeFunction", True)]:
        if need not in granted:
            failures.append(f"the webhook's URL lacks the public permission {need}")
    if out["Outputs"]["WebhookUrl"]["Value"] != {"Fn::GetAtt": ["WebhookFunctionUrl", "FunctionUrl"]}:
        failures.append("the WebhookUrl output is not the function URL")

    # The desk's HTTP API: /agent and /supervisor behind the Cognito authorizer, the console's
    # page and the webhook's former address open, nothing else.
    api = resources["WebhookApi"]["Properties"]["Body"]
    routes = {}
    for path, operations in api["paths"].items():
        for method, operation in operations.items():
            routes[(path, method)] = [name for s in operation.get("security", []) for name in s]
    expected = {
        ("/agent/{proxy+}", "x-amazon-apigateway-any-method"): ["DeskJwt"],
        ("/supervisor/{proxy+}", "x-amazon-apigateway-any-method"): ["DeskJwt"],
        ("/desk", "get"): [],
        ("/desk/{proxy+}", "get"): [],
        ("/webhook", "get"): [],
        ("/webhook", "post"): [],
    }
    if routes != expected:
        failures.append(f"the desk API's routes and authorizers: {routes}")

    for failure in failures:
        print(f"sam_transform: {failure}", file=sys.stderr)
    if failures:
        sys.exit(1)
    kinds = sorted({r["Type"] for r in resources.values()})
    print(f"sam_transform: {len(resources)} resources of {len(kinds)} kinds; webhook URL and desk routes as expected")


if __name__ == "__main__":
    main()
