"""Instances (EC2, Auto Scaling), as the Pulumi AWS provider makes them: the control planes
(`RunInstances` with their fixed addresses), the workers' launch template and the Auto Scaling
group that launches from it, and the Elastic IP association. AWS-assigned values come from the
API; where moto leaves out part of the program's intent (IPv6 addresses) the replay makes a second
call and notes the moto gap."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from typing import Any

from tools.aws_replay_base import (
    INSTANCE,
    SECURITY_GROUP,
    SUBNET,
    ApiCalls,
    InstanceInfo,
    PlannedResource,
    ReplayState,
    same_host,
    tag_list,
    tag_spec,
)

# Canonical's Ubuntu images name their root device /dev/sda1.
ROOT_DEVICE = "/dev/sda1"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
INSTANCE_PROFILE = "aws:iam/instanceProfile:InstanceProfile"


def metadata_options(options: Mapping[str, Any]) -> dict[str, Any]:
    return {
        key[0].upper() + key[1:]: int(value) if isinstance(value, float) else value for key, value in options.items()
    }


def flag(value: Any) -> bool:
    """The provider's booleans of launch templates are strings ("true"/"false")."""
    return value is True or str(value).lower() == "true"


def template_block_device(planned: Mapping[str, Any]) -> dict[str, Any]:
    ebs = planned.get("ebs", {})
    mapping: dict[str, Any] = {"DeviceName": planned["deviceName"]}
    if ebs:
        mapping["Ebs"] = {
            "VolumeSize": int(ebs.get("volumeSize", 8)),
            "VolumeType": ebs.get("volumeType", "gp3"),
            "Encrypted": flag(ebs.get("encrypted")),
            "DeleteOnTermination": flag(ebs.get("deleteOnTermination")),
        }
    return mapping


class ComputeCalls(ApiCalls):
    """A mixin of `ApiCalls`: one method per instance resource type."""

    def __init__(self, api: Mapping[str, Any], result: ReplayState, types: Mapping[str, str]) -> None:
        super().__init__(api, result, types)
        self.images: dict[str, str] = {}
        """The program's AMI -> the registered stand-in."""
        self.template_versions: dict[str, int] = {}
        """Launch template ID -> its latest version number."""

    def image(self, r: PlannedResource, key: str = "ami") -> str:
        """A registered stand-in for the program's AMI (input `key`; the API knows no Canonical images)."""
        planned = str(r.inputs[key])
        if planned not in self.images:
            arm = re.match(r"^[a-z]+\d+g", str(r.inputs.get("instanceType", "")))
            image = self.call(
                r,
                "ec2",
                "register_image",
                Name=f"stand-in-for-{planned}",
                RootDeviceName=ROOT_DEVICE,
                Architecture="arm64" if arm else "x86_64",
                VirtualizationType="hvm",
                Description=f"stands in for {planned}, the program's Ubuntu AMI",
            )
            self.images[planned] = image["ImageId"]
        return self.images[planned]

    def instance(self, r: PlannedResource) -> None:
        i = r.inputs
        subnet_urns = [urn for urn in r.property_dependencies.get("subnetId", ()) if urn in self.result.ids]
        subnet_block = self.result.subnet_ipv6_cidrs.get(self.result.names[subnet_urns[0]]) if subnet_urns else None
        ipv6 = [same_host(a, subnet_block) if subnet_block else a for a in i.get("ipv6Addresses", [])]
        params: dict[str, Any] = {
            "ImageId": self.image(r),
            "InstanceType": i["instanceType"],
            "MinCount": 1,
            "MaxCount": 1,
            "SubnetId": self.ref(r, "subnetId"),
            "SecurityGroupIds": self.refs(r, "vpcSecurityGroupIds", SECURITY_GROUP),
        }
        if ipv6:
            params["Ipv6Addresses"] = [{"Ipv6Address": address} for address in ipv6]
        elif "ipv6AddressCount" in i:
            params["Ipv6AddressCount"] = int(i["ipv6AddressCount"])
        if "privateIp" in i:
            params["PrivateIpAddress"] = i["privateIp"]
        if "iamInstanceProfile" in i:
            params["IamInstanceProfile"] = {"Name": self.ref(r, "iamInstanceProfile")}
        if "metadataOptions" in i:
            params["MetadataOptions"] = metadata_options(i["metadataOptions"])
        if "enablePrimaryIpv6" in i:
            params["EnablePrimaryIpv6"] = bool(i["enablePrimaryIpv6"])
        # boto3 base64-encodes UserData, as the provider does: it takes what EC2 receives, here the
        # gzip-compressed cloud-config of `userDataBase64`.
        if "userDataBase64" in i:
            params["UserData"] = base64.b64decode(i["userDataBase64"])
        elif "userData" in i:
            params["UserData"] = i["userData"]
        specs = tag_spec("instance", i).get("TagSpecifications", [])
        root = i.get("rootBlockDevice")
        if root:
            ebs = {
                "VolumeSize": int(root.get("volumeSize", 8)),
                "VolumeType": root.get("volumeType", "gp3"),
                "Encrypted": bool(root.get("encrypted")),
                "DeleteOnTermination": bool(root.get("deleteOnTermination")),
            }
            params["BlockDeviceMappings"] = [{"DeviceName": ROOT_DEVICE, "Ebs": ebs}]
            specs += tag_spec("volume", root).get("TagSpecifications", [])
        if specs:
            params["TagSpecifications"] = specs
        launched = self.call(r, "ec2", "run_instances", **params)["Instances"][0]
        instance_id = launched["InstanceId"]
        self._ensure_ipv6(r, instance_id, ipv6)
        self.done(r, instance_id)
        self.result.instances[r.name] = self.describe(r, instance_id)

    def _ensure_ipv6(self, r: PlannedResource, instance_id: str, planned: list[str]) -> None:
        if not planned:
            return
        described = self.describe_raw(r, instance_id)
        interface = described["NetworkInterfaces"][0]
        missing = [a for a in planned if a not in {v["Ipv6Address"] for v in interface.get("Ipv6Addresses", [])}]
        if missing:
            self.call(
                r,
                "ec2",
                "assign_ipv6_addresses",
                NetworkInterfaceId=interface["NetworkInterfaceId"],
                Ipv6Addresses=missing,
            )
            self.result.notes.append(
                f"{r.name}: RunInstances did not apply Ipv6Addresses {missing}; assigned them to its primary interface"
            )

    def describe_raw(self, r: PlannedResource, instance_id: str) -> dict[str, Any]:
        reservations = self.call(r, "ec2", "describe_instances", InstanceIds=[instance_id])["Reservations"]
        instance: dict[str, Any] = reservations[0]["Instances"][0]
        return instance

    def describe(self, r: PlannedResource, instance_id: str) -> InstanceInfo:
        instance = self.describe_raw(r, instance_id)
        interfaces = instance.get("NetworkInterfaces", [])
        return InstanceInfo(
            instance_id=instance_id,
            subnet_id=instance["SubnetId"],
            availability_zone=instance["Placement"]["AvailabilityZone"],
            private_ipv4=instance["PrivateIpAddress"],
            ipv6=tuple(a["Ipv6Address"] for interface in interfaces for a in interface.get("Ipv6Addresses", [])),
            public_ipv4=instance.get("PublicIpAddress"),
            tags={tag["Key"]: tag["Value"] for tag in instance.get("Tags", [])},
        )

    # the workers: a launch template and the Auto Scaling group that launches from it

    def launch_template(self, r: PlannedResource) -> None:
        i = r.inputs
        data: dict[str, Any] = {"ImageId": self.image(r, "imageId"), "InstanceType": i["instanceType"]}
        if "iamInstanceProfile" in i:
            data["IamInstanceProfile"] = {"Name": self.ref(r, "iamInstanceProfile", INSTANCE_PROFILE)}
        if "metadataOptions" in i:
            data["MetadataOptions"] = metadata_options(i["metadataOptions"])
        interfaces = [self._template_interface(r, planned) for planned in i.get("networkInterfaces", [])]
        if interfaces:
            data["NetworkInterfaces"] = interfaces
        mappings = [template_block_device(planned) for planned in i.get("blockDeviceMappings", [])]
        if mappings:
            data["BlockDeviceMappings"] = mappings
        specs = [
            {"ResourceType": spec["resourceType"], "Tags": tag_list(spec)}
            for spec in i.get("tagSpecifications", [])
            if spec.get("tags")
        ]
        if specs:
            data["TagSpecifications"] = specs
        # The launch template's user data is base64 as the program gives it (the gzip-compressed
        # cloud-config); boto3 sends it unchanged, unlike RunInstances' UserData.
        if "userData" in i:
            data["UserData"] = i["userData"]
        template = self.call(
            r,
            "ec2",
            "create_launch_template",
            LaunchTemplateName=str(i.get("name", r.name)),
            LaunchTemplateData=data,
            **tag_spec("launch-template", i),
        )["LaunchTemplate"]
        template_id = template["LaunchTemplateId"]
        self.template_versions[template_id] = int(template["LatestVersionNumber"])
        self.done(r, template_id)

    def _template_interface(self, r: PlannedResource, planned: Mapping[str, Any]) -> dict[str, Any]:
        interface: dict[str, Any] = {"DeviceIndex": int(planned.get("deviceIndex", 0))}
        if planned.get("securityGroups"):
            interface["Groups"] = self.refs(r, "networkInterfaces", SECURITY_GROUP)
        if "subnetId" in planned:
            interface["SubnetId"] = self.ref(r, "networkInterfaces", SUBNET)
        if "ipv6AddressCount" in planned:
            interface["Ipv6AddressCount"] = int(planned["ipv6AddressCount"])
        flags = (("primaryIpv6", "PrimaryIpv6"), ("deleteOnTermination", "DeleteOnTermination"))
        interface.update({api: flag(planned[key]) for key, api in flags if key in planned})
        return interface

    def autoscaling_group(self, r: PlannedResource) -> None:
        i = r.inputs
        name = str(i.get("name", r.name))
        template_id = self.ref(r, "launchTemplate", LAUNCH_TEMPLATE)
        subnets = self.every_ref(r, "vpcZoneIdentifiers", SUBNET)
        desired = int(i.get("desiredCapacity", i["minSize"]))
        self.call(
            r,
            "autoscaling",
            "create_auto_scaling_group",
            AutoScalingGroupName=name,
            # The version the program pins (the template's latest), as the provider sends it.
            LaunchTemplate={"LaunchTemplateId": template_id, "Version": str(self.template_versions[template_id])},
            MinSize=int(i["minSize"]),
            MaxSize=int(i["maxSize"]),
            DesiredCapacity=desired,
            VPCZoneIdentifier=",".join(subnets),
            Tags=[
                {
                    "ResourceId": name,
                    "ResourceType": "auto-scaling-group",
                    "Key": tag["key"],
                    "Value": str(tag["value"]),
                    "PropagateAtLaunch": bool(tag.get("propagateAtLaunch")),
                }
                for tag in i.get("tags", [])
            ],
        )
        # The provider waits for the desired capacity (wait_for_capacity_timeout) before it is done.
        (group,) = self.call(r, "autoscaling", "describe_auto_scaling_groups", AutoScalingGroupNames=[name])[
            "AutoScalingGroups"
        ]
        instance_ids = sorted(instance["InstanceId"] for instance in group["Instances"])
        if len(instance_ids) != desired:
            raise self.fail(r, f"{name} launched {len(instance_ids)} instances, desired {desired}")
        self.done(r, name)
        for index, instance_id in enumerate(instance_ids):
            self._ensure_launched_ipv6(r, instance_id)
            self.result.instances[f"{r.name}-{index}"] = self.describe(r, instance_id)
        used = {self.result.instances[f"{r.name}-{index}"].subnet_id for index in range(len(instance_ids))}
        if len(subnets) > 1 and len(used) == 1:
            self.result.notes.append(
                f"{r.name}: the Auto Scaling group launched all {len(instance_ids)} instances into its first "
                f"subnet of {len(subnets)} (moto gap: AWS spreads them over the zones)"
            )

    def _ensure_launched_ipv6(self, r: PlannedResource, instance_id: str) -> None:
        """An IPv6 address from the launch template's Ipv6AddressCount, as EC2 gives it."""
        wanted = sum(int(n.get("ipv6AddressCount", 0)) for n in self._template_interfaces(r))
        if not wanted:
            return
        interface = self.describe_raw(r, instance_id)["NetworkInterfaces"][0]
        missing = wanted - len(interface.get("Ipv6Addresses", []))
        if missing > 0:
            self.call(
                r,
                "ec2",
                "assign_ipv6_addresses",
                NetworkInterfaceId=interface["NetworkInterfaceId"],
                Ipv6AddressCount=missing,
            )
            self.result.notes.append(
                f"{r.name}: the Auto Scaling group launched {instance_id} without the launch template's "
                f"Ipv6AddressCount (moto gap); assigned {missing} to its primary interface"
            )

    def _template_interfaces(self, r: PlannedResource) -> list[dict[str, Any]]:
        template_id = self.ref(r, "launchTemplate", LAUNCH_TEMPLATE)
        version = str(self.template_versions[template_id])
        (held,) = self.call(
            r, "ec2", "describe_launch_template_versions", LaunchTemplateId=template_id, Versions=[version]
        )["LaunchTemplateVersions"]
        interfaces: list[dict[str, Any]] = held["LaunchTemplateData"].get("NetworkInterfaces", [])
        return [{"ipv6AddressCount": n.get("Ipv6AddressCount", 0)} for n in interfaces]

    def eip_association(self, r: PlannedResource) -> None:
        instance_id = self.ref(r, "instanceId")
        association = self.call(
            r, "ec2", "associate_address", AllocationId=self.ref(r, "allocationId"), InstanceId=instance_id
        )
        self.done(r, association["AssociationId"])
        for name, info in self.result.instances.items():
            if info.instance_id == instance_id:
                self.result.instances[name] = self.describe(r, instance_id)


COMPUTE_HANDLERS: dict[str, Callable[[ComputeCalls, PlannedResource], None]] = {
    INSTANCE: ComputeCalls.instance,
    LAUNCH_TEMPLATE: ComputeCalls.launch_template,
    "aws:autoscaling/group:Group": ComputeCalls.autoscaling_group,
    "aws:ec2/eipAssociation:EipAssociation": ComputeCalls.eip_association,
}
"""Type token -> its calls, in the order of `tools.aws_replay_calls.HANDLERS`."""
