"""Identity, keys and parameters (IAM, KMS, SSM), as the Pulumi AWS provider makes them: roles,
their inline policies, instance profiles, the cluster's KMS key (its policy naming the replayed
roles) and alias, and the SSM parameters (SecureStrings under the replayed key)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from tools.aws_replay_base import ApiCalls, Call, PlannedResource, ReplayError, ReplayState, tag_list

KMS_KEY = "aws:kms/key:Key"


class IdentityCalls(ApiCalls):
    """A mixin of `ApiCalls`: one method per IAM, KMS and SSM resource type."""

    def __init__(self, api: Mapping[str, Any], result: ReplayState, types: Mapping[str, str]) -> None:
        super().__init__(api, result, types)
        self.key_arns: dict[str, str] = {}
        """KMS key ID -> its ARN."""

    def role(self, r: PlannedResource) -> None:
        i = r.inputs
        params = {"RoleName": r.name, "AssumeRolePolicyDocument": i["assumeRolePolicy"], "Tags": tag_list(i)}
        params.update({key.title(): i[key] for key in ("description", "path") if key in i})
        self.call(r, "iam", "create_role", **params)
        self.done(r, r.name)

    def role_policy(self, r: PlannedResource) -> None:
        self.call(
            r,
            "iam",
            "put_role_policy",
            RoleName=self.ref(r, "role"),
            PolicyName=r.name,
            PolicyDocument=r.inputs["policy"],
        )
        self.done(r, f"{self.ref(r, 'role')}:{r.name}")

    def instance_profile(self, r: PlannedResource) -> None:
        self.call(r, "iam", "create_instance_profile", InstanceProfileName=r.name, Tags=tag_list(r.inputs))
        if "role" in r.inputs:
            self.call(
                r, "iam", "add_role_to_instance_profile", InstanceProfileName=r.name, RoleName=self.ref(r, "role")
            )
        self.done(r, r.name)

    def parameter(self, r: PlannedResource) -> None:
        i = r.inputs
        # A secret value is "[secret]" here, as in resources.json: secrets never leave the render.
        params = {
            "Name": i.get("name", r.name),
            "Type": i.get("type", "String"),
            "Value": i["value"],
            "Tags": tag_list(i),
        }
        params.update({key.title(): i[key] for key in ("description", "tier") if key in i})
        if "keyId" in i:
            params["KeyId"] = self.key_arns[self.ref(r, "keyId", KMS_KEY)]
        self.call(r, "ssm", "put_parameter", **params)
        self.done(r, params["Name"])

    # keys

    def role_arns(self, r: PlannedResource, key: str) -> dict[str, str]:
        """Planned ARN pattern -> the API's ARN, for the roles that input `key` names.

        The program's roles are auto-named (`<logical name>-<7 hex>`); the replay creates them
        under their logical names, so a document naming them must name the replayed ones."""
        arns: dict[str, str] = {}
        for urn in r.property_dependencies.get(key, ()):
            if self.types.get(urn) == "aws:iam/role:Role" and urn in self.result.ids:
                role = self.call(r, "iam", "get_role", RoleName=self.result.ids[urn])["Role"]
                pattern = rf"arn:[\w-]+:iam::\d{{12}}:role/{re.escape(self.result.names[urn])}-[0-9a-f]{{7}}\b"
                arns[pattern] = role["Arn"]
        return arns

    def kms_key(self, r: PlannedResource) -> None:
        i = r.inputs
        params: dict[str, Any] = {"Tags": [{"TagKey": t["Key"], "TagValue": t["Value"]} for t in tag_list(i)]}
        params.update(
            {api: i[key] for key, api in (("description", "Description"), ("keyUsage", "KeyUsage")) if key in i}
        )
        if "customerMasterKeySpec" in i:
            params["KeySpec"] = i["customerMasterKeySpec"]
        if "policy" in i:
            policy = str(i["policy"])
            for pattern, arn in self.role_arns(r, "policy").items():
                policy = re.sub(pattern, arn, policy)
            params["Policy"] = policy
        metadata = self.call(r, "kms", "create_key", **params)["KeyMetadata"]
        key_id = metadata["KeyId"]
        if i.get("enableKeyRotation"):
            rotation = {"RotationPeriodInDays": int(i["rotationPeriodInDays"])} if "rotationPeriodInDays" in i else {}
            self.call(r, "kms", "enable_key_rotation", KeyId=key_id, **rotation)
        if "policy" in i:
            # The provider waits until GetKeyPolicy returns what it sent.
            held = self.call(r, "kms", "get_key_policy", KeyId=key_id, PolicyName="default")["Policy"]
            if json.loads(held) != json.loads(params["Policy"]):
                self.result.calls.append(Call(r.urn, r.name, "kms.get_key_policy", "the key holds another policy"))
                raise ReplayError("kms.get_key_policy")
        self.key_arns[key_id] = metadata["Arn"]
        self.done(r, key_id)

    def kms_alias(self, r: PlannedResource) -> None:
        name = r.inputs["name"]
        self.call(r, "kms", "create_alias", AliasName=name, TargetKeyId=self.ref(r, "targetKeyId", KMS_KEY))
        self.done(r, name)


IDENTITY_HANDLERS: dict[str, Callable[[IdentityCalls, PlannedResource], None]] = {
    "aws:iam/role:Role": IdentityCalls.role,
    "aws:iam/rolePolicy:RolePolicy": IdentityCalls.role_policy,
    "aws:iam/instanceProfile:InstanceProfile": IdentityCalls.instance_profile,
    KMS_KEY: IdentityCalls.kms_key,
    "aws:kms/alias:Alias": IdentityCalls.kms_alias,
    "aws:ssm/parameter:Parameter": IdentityCalls.parameter,
}
"""Type token -> its calls, in the order of `tools.aws_replay_calls.HANDLERS`."""
