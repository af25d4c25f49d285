"""The control-plane role as the enforcing AWS proxy judges it: the rendered policies with moto's IDs,
the role session named after the instance, and the negative case's change (fix 3 reverted).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from collections.abc import Mapping, Sequence

from tools.iam_check.model import NamedPolicy
from tools.iam_check.stack_facts import RoleFacts, StackFacts, stack_facts
from tools.offline.capture import Graph


def role_for_proxy(role: RoleFacts, policies: Sequence[NamedPolicy], session_name: str) -> RoleFacts:
    """The role as the proxy judges it: these policies, the session named after the instance."""
    return dataclasses.replace(role, policies=tuple(policies), session_name=session_name)


AWS_ID = r"\b(?:vpc|subnet|sg|igw|eigw|rtb|i|eni|nat|eipalloc)-[0-9a-f]{8,17}\b"


def with_replayed_ids(policies: Sequence[NamedPolicy], ids: Mapping[str, str]) -> tuple[NamedPolicy, ...]:
    """The documents as the program renders them once deployed: every ID the mock engine gave a
    resource (a VPC in a statement's Resource or ArnEquals) replaced by the ID the replay into moto got.

    An ID in a document that the replay does not know is an error: the document would name
    nothing in the account."""
    pattern = re.compile(AWS_ID)
    replaced = []
    for policy in policies:
        text = json.dumps(policy.document)
        unknown = sorted({found for found in pattern.findall(text) if found not in ids})
        if unknown:
            raise LookupError(f"policy {policy.name} names {unknown}, which the replay into moto did not create")
        replaced.append(NamedPolicy(policy.name, json.loads(pattern.sub(lambda m: ids[m.group(0)], text))))
    return tuple(replaced)


LISTENER_CREATE_ACTION = "CreateListener"


def without_listener_tag_on_create(policies: Sequence[NamedPolicy]) -> tuple[NamedPolicy, ...]:
    """Fix 3 reverted: the CCM policy's `elasticloadbalancing:AddTags` tag-on-create statement
    without `CreateListener` in its `elasticloadbalancing:CreateAction` list (as before the policy
    followed the CCM's v1.23+ tagging of listeners on create). Raises if no statement has it."""
    changed: list[NamedPolicy] = []
    removed = 0
    for policy in policies:
        document = copy.deepcopy(policy.document)
        kept = []
        for statement in document.get("Statement", []):
            values = statement.get("Condition", {}).get("StringEquals", {}).get("elasticloadbalancing:CreateAction")
            if isinstance(values, list) and LISTENER_CREATE_ACTION in values:
                removed += 1
                values = [value for value in values if value != LISTENER_CREATE_ACTION]
                if not values:
                    continue  # the statement allowed listeners only: without them it allows nothing
                statement["Condition"]["StringEquals"]["elasticloadbalancing:CreateAction"] = values
            elif values == LISTENER_CREATE_ACTION:
                removed += 1
                continue
            kept.append(statement)
        document["Statement"] = kept
        changed.append(NamedPolicy(policy.name, document))
    if removed == 0:
        raise LookupError("no statement allows elasticloadbalancing:CreateAction = CreateListener")
    return tuple(changed)


CONTROL_PLANE = "control-plane"


def deployed_control_plane(graph: Graph, replayed_ids: Mapping[str, str]) -> tuple[StackFacts, RoleFacts]:
    """The render's facts and control-plane role as deployed into moto: the VPC and every ID in the
    role's policies replaced by the ID the replay got (`with_replayed_ids`)."""
    facts = stack_facts(graph)
    if facts.vpc_id not in replayed_ids:
        raise LookupError(f"the replay into moto did not create the render's VPC {facts.vpc_id}")
    facts = dataclasses.replace(facts, vpc_id=replayed_ids[facts.vpc_id])
    role = facts.roles[CONTROL_PLANE]
    return facts, dataclasses.replace(role, policies=with_replayed_ids(role.policies, replayed_ids))
