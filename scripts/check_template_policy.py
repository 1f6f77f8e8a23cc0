#!/usr/bin/env python3
"""Fails when template.yaml grants more than the function needs.

Every IAM statement in the template must be an Allow whose actions are all listed below, with no
wildcard action, and whose Resource is exactly the one listed for those actions; actions that can be
narrowed further by a condition must carry exactly that condition (REQUIRED_CONDITIONS). Managed
policies other than Lambda's basic execution role are refused. `--self-test` proves the check can
fail by widening a copy of the template in each way it must catch.
"""
import copy
import sys

from cfnlint.decode import cfn_yaml

SUB = "Fn::Sub"


def imagebuilder(segment):
    return {SUB: "arn:${AWS::Partition}:imagebuilder:${AWS::Region}:${AWS::AccountId}:" + segment + "/*"}


RECIPES = imagebuilder("image-recipe")
CONTAINER_RECIPES = imagebuilder("container-recipe")
COMPONENTS = imagebuilder("component")
IMAGES = imagebuilder("image")
SHARES = {SUB: "arn:${AWS::Partition}:ram:${AWS::Region}:${AWS::AccountId}:resource-share/*"}
PERMISSIONS = {SUB: "arn:${AWS::Partition}:ram:${AWS::Region}:${AWS::AccountId}:permission/*"}
DLQ = {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}

# action -> the only resources it may be granted on, exactly (one statement's Resource list)
ALLOWED = {
    "imagebuilder:GetImageRecipe": [RECIPES],
    "imagebuilder:GetImageRecipePolicy": [RECIPES],
    "imagebuilder:PutImageRecipePolicy": [RECIPES],
    "imagebuilder:GetContainerRecipe": [CONTAINER_RECIPES],
    "imagebuilder:GetContainerRecipePolicy": [CONTAINER_RECIPES],
    "imagebuilder:PutContainerRecipePolicy": [CONTAINER_RECIPES],
    # allComponentBuildVersions (component/<name>/<version>/*) is inside component/*.
    "imagebuilder:ListComponentBuildVersions": [COMPONENTS],
    "imagebuilder:GetComponentPolicy": [COMPONENTS],
    "imagebuilder:PutComponentPolicy": [COMPONENTS],
    "imagebuilder:ListImageBuildVersions": [IMAGES],
    "imagebuilder:GetImagePolicy": [IMAGES],
    "imagebuilder:PutImagePolicy": [IMAGES],
    "imagebuilder:ListTagsForResource": [COMPONENTS, IMAGES],
    "imagebuilder:TagResource": [RECIPES, CONTAINER_RECIPES, COMPONENTS, IMAGES],
    # RAM has no resource-level permissions for these reads.
    "ram:ListResources": ["*"],
    "ram:GetResourceShares": ["*"],
    "ram:GetResourceShareAssociations": ["*"],
    "ram:ListPermissions": ["*"],
    "ram:ListResourceSharePermissions": [SHARES],
    "ram:PromoteResourceShareCreatedFromPolicy": [SHARES],
    "ram:AssociateResourceShare": [SHARES],
    "ram:DisassociateResourceShare": [SHARES],
    "ram:DeleteResourceShare": [SHARES],
    "ram:TagResource": [SHARES],
    "ram:PromotePermissionCreatedFromPolicy": [PERMISSIONS],
    "sqs:SendMessage": [DLQ],
    # Image Builder supports no resource-level permission for listing.
    "imagebuilder:ListImageRecipes": ["*"],
    "imagebuilder:ListContainerRecipes": ["*"],
    "imagebuilder:ListComponents": ["*"],
    "imagebuilder:ListImages": ["*"],
    # The sweep hands its continuation to the function itself, and nothing else.
    "lambda:InvokeFunction": [{"Fn::GetAtt": ["RecipeShareFunction", "Arn"]}],
}
ALLOWED_MANAGED = {"AWSLambdaBasicExecutionRole"}

# action -> the condition its statement must carry, exactly: the narrowing IAM allows.
REQUIRED_CONDITIONS = {
    # Only the one exclude tag a refused delete sets.
    "imagebuilder:TagResource": {
        "StringEquals": {"aws:RequestTag/recipe-share:exclude": "deletion-requested"},
        "ForAllValues:StringEquals": {"aws:TagKeys": ["recipe-share:exclude"]},
    },
    # Only the configured principals (RAM checks each principal of a request on its own).
    "ram:AssociateResourceShare": {
        "StringEquals": {"ram:Principal": {"Fn::Split": [",", {"Ref": "SharePrincipals"}]}},
    },
    # Only the two tags that mark a share as the standard's.
    "ram:TagResource": {
        "StringEquals": {"aws:RequestTag/recipe-share:managed": "true"},
        "ForAllValues:StringEquals": {"aws:TagKeys": ["recipe-share:managed", "recipe-share:made-by"]},
    },
    # Only the four types the standard shares; RAM treats resource types case-insensitively, so must
    # the condition.
    "ram:PromotePermissionCreatedFromPolicy": {
        "StringEqualsIgnoreCase": {"ram:PermissionResourceType": [
            "imagebuilder:ImageRecipe", "imagebuilder:ContainerRecipe", "imagebuilder:Component",
            "imagebuilder:Image"]},
    },
}


def as_list(v):
    return v if isinstance(v, list) else [v]


def statements(template):
    """Yields (where, statement) for every IAM statement the template defines."""
    for name, res in (template.get("Resources") or {}).items():
        props = res.get("Properties") or {}
        kind = res.get("Type")
        if kind == "AWS::Serverless::Function":
            for i, pol in enumerate(as_list(props.get("Policies") or [])):
                if isinstance(pol, str):
                    yield f"{name}.Policies[{i}]", {"ManagedPolicy": pol}
                elif "Statement" in pol:
                    for j, st in enumerate(as_list(pol["Statement"])):
                        yield f"{name}.Policies[{i}].Statement[{j}]", st
                else:
                    yield f"{name}.Policies[{i}]", {"ManagedPolicy": next(iter(pol))}
        elif kind in ("AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            docs = [props.get("PolicyDocument")] + [p.get("PolicyDocument") for p in props.get("Policies") or []]
            for d in filter(None, docs):
                for j, st in enumerate(as_list(d.get("Statement") or [])):
                    yield f"{name}.Statement[{j}]", st
            for arn in props.get("ManagedPolicyArns") or []:
                yield f"{name}.ManagedPolicyArns", {"ManagedPolicy": str(arn)}


def problems(template):
    found = []
    for where, st in statements(template):
        if "ManagedPolicy" in st:
            if st["ManagedPolicy"].split("/")[-1] not in ALLOWED_MANAGED:
                found.append(f"{where}: managed policy {st['ManagedPolicy']} is not allowed")
            continue
        if st.get("Effect") != "Allow":
            continue
        if "NotAction" in st or "NotResource" in st:
            found.append(f"{where}: NotAction/NotResource grant everything else")
            continue
        resources = as_list(st.get("Resource"))
        for action in as_list(st.get("Action")):
            if not isinstance(action, str) or "*" in action:
                found.append(f"{where}: wildcard action {action!r}")
            elif action not in ALLOWED:
                found.append(f"{where}: action {action} is not needed by the function")
            elif resources != ALLOWED[action]:
                found.append(f"{where}: {action} on {resources!r} is wider than {ALLOWED[action]!r}")
            elif action in REQUIRED_CONDITIONS and st.get("Condition") != REQUIRED_CONDITIONS[action]:
                found.append(
                    f"{where}: {action} needs exactly the condition {REQUIRED_CONDITIONS[action]!r}, has {st.get('Condition')!r}"
                )
    return found


def self_test(template):
    """Each widening must be caught; the template as it is must pass."""
    def fn_statements(t):
        return t["Resources"]["RecipeShareFunction"]["Properties"]["Policies"][0]["Statement"]

    def statement(t, sid):
        return next(st for st in fn_statements(t) if st.get("Sid") == sid)

    mutations = {
        "wildcard action": lambda t: fn_statements(t)[0]["Action"].append("imagebuilder:*"),
        "star action": lambda t: fn_statements(t).append({"Effect": "Allow", "Action": "*", "Resource": "*"}),
        "wider resource": lambda t: fn_statements(t)[0].__setitem__("Resource", "*"),
        "unneeded action": lambda t: fn_statements(t)[1]["Action"].append("ram:CreateResourceShare"),
        "admin managed policy": lambda t: t["Resources"]["RecipeShareFunction"]["Properties"]["Policies"].append(
            "arn:aws:iam::aws:policy/AdministratorAccess"),
        "not action": lambda t: fn_statements(t).append({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}),
        "any function invoked": lambda t: t["Resources"]["SweepHandOnPolicy"]["Properties"]["PolicyDocument"][
            "Statement"][0].__setitem__("Resource", "*"),
        "associate with anyone": lambda t: statement(t, "RamAssociateStandardPrincipals").pop("Condition"),
        "case-sensitive resource type": lambda t: statement(t, "RamPermission").__setitem__(
            "Condition", {"StringEquals": REQUIRED_CONDITIONS["ram:PromotePermissionCreatedFromPolicy"][
                "StringEqualsIgnoreCase"]}),
        "any share tag": lambda t: statement(t, "RamManagedTags")["Condition"].pop("ForAllValues:StringEquals"),
        "any recipe tag": lambda t: statement(t, "ExcludeTag")["Condition"]["ForAllValues:StringEquals"][
            "aws:TagKeys"].append("owner"),
        "tags on every Image Builder resource": lambda t: statement(t, "ExcludeTag")["Resource"].append(
            {SUB: "arn:${AWS::Partition}:imagebuilder:${AWS::Region}:${AWS::AccountId}:*"}),
        "component policies on every resource": lambda t: statement(t, "ComponentPolicies").__setitem__(
            "Resource", {SUB: "arn:${AWS::Partition}:imagebuilder:${AWS::Region}:${AWS::AccountId}:*"}),
        "permissions of any type": lambda t: statement(t, "RamPermission")["Condition"]["StringEqualsIgnoreCase"][
            "ram:PermissionResourceType"].append("ec2:Subnet"),
        "association without its condition statement": lambda t: fn_statements(t).append(
            {"Effect": "Allow", "Action": "ram:AssociateResourceShare",
             "Resource": {SUB: "arn:${AWS::Partition}:ram:${AWS::Region}:${AWS::AccountId}:resource-share/*"}}),
    }
    observability = {
        "alarm without the topic": lambda t: t["Resources"]["SweepUnfixedAlarm"]["Properties"].pop("AlarmActions"),
        "dashboard not JSON": lambda t: t["Resources"]["Dashboard"]["Properties"].__setitem__(
            "DashboardBody", {SUB: "{\"widgets\": [}"}),
    }
    failures = []
    for name, mutate in observability.items():
        t = copy.deepcopy(template)
        mutate(t)
        if not observability_problems(t):
            failures.append(f"missed: {name}")
    if problems(template) or observability_problems(template):
        failures.append("the template itself does not pass")
    for name, mutate in mutations.items():
        t = copy.deepcopy(template)
        mutate(t)
        if not problems(t):
            failures.append(f"missed: {name}")
    return failures


def consumer_problems(consumer, template):
    """Every Custom::ImageRecipeShare sets a ServiceTimeout above the function's timeout (so the answer
    always fits) and at most CloudFormation's 3600 s (else a stack waits an hour for nothing)."""
    timeout = int(template["Resources"]["RecipeShareFunction"]["Properties"]["Timeout"])
    found = []
    for name, res in (consumer.get("Resources") or {}).items():
        if res.get("Type") != "Custom::ImageRecipeShare":
            continue
        value = (res.get("Properties") or {}).get("ServiceTimeout")
        try:
            seconds = int(value)
        except (TypeError, ValueError):
            found.append(f"{name}: ServiceTimeout {value!r} is not a number of seconds")
            continue
        if not timeout < seconds <= 3600:
            found.append(f"{name}: ServiceTimeout {seconds} must be above the function's {timeout} s and at most 3600")
    return found


def observability_problems(template):
    """The dashboard body is JSON once substituted, and every alarm notifies AlarmTopicArn."""
    import json
    import re
    found = []
    resources = template.get("Resources") or {}
    for name, res in resources.items():
        props = res.get("Properties") or {}
        if res.get("Type") == "AWS::CloudWatch::Dashboard":
            body = props.get("DashboardBody")
            text = body.get(SUB) if isinstance(body, dict) else body
            try:
                json.loads(re.sub(r"\$\{[^}]+\}", "x", text if isinstance(text, str) else ""))
            except ValueError as e:
                found.append(f"{name}: DashboardBody is not JSON: {e}")
        if res.get("Type") == "AWS::CloudWatch::Alarm":
            wanted = {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}
            if props.get("AlarmActions") != wanted:
                found.append(f"{name}: AlarmActions must notify AlarmTopicArn when it is set")
    if not any(r.get("Type") == "AWS::CloudWatch::Dashboard" for r in resources.values()):
        found.append("no dashboard")
    return found


def main(argv):
    path = next((a for a in argv[1:] if not a.startswith("--")), "template.yaml")
    template = cfn_yaml.load(path)
    if "--consumer" in argv:
        consumer_path = argv[argv.index("--consumer") + 1]
        consumer = cfn_yaml.load(consumer_path)
        found = consumer_problems(consumer, template)
        missing = copy.deepcopy(consumer)
        for res in missing["Resources"].values():
            (res.get("Properties") or {}).pop("ServiceTimeout", None)
        if not consumer_problems(missing, template):
            found.append("self-test: a consumer without ServiceTimeout was not caught")
        print("\n".join(found) or f"consumer check: {consumer_path} sets a ServiceTimeout that fits the function")
        return 1 if found else 0
    if "--self-test" in argv:
        failures = self_test(template)
        print("\n".join(failures) or "policy check self-test: every widening caught")
        return 1 if failures else 0
    found = problems(template) + observability_problems(template)
    print("\n".join(found) or f"policy check: {path} grants nothing beyond what the function needs; "
          "its dashboard is JSON and every alarm notifies AlarmTopicArn")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
