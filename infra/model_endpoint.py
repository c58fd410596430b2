"""The SageMaker endpoint the function calls (contract 6): an existing one, or one deployed here.

Deployed here: Model (the training artifact, model.tar.gz with code/inference.py, on the
SageMaker PyTorch inference image named in context) -> EndpointConfig -> Endpoint, with
invocation-based autoscaling when a maximum above the initial instance count is given.
"""

from __future__ import annotations

from typing import Optional

from aws_cdk import ArnFormat, Aws, Stack
from aws_cdk import aws_applicationautoscaling as autoscaling
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from infra.cdk_context import ModelSource
from infra.nag import acknowledge

# Invocations per instance per minute at which autoscaling adds an instance. One image is a few
# ms of CPU on an ml.m5.large; this leaves headroom for bursts while a new instance starts.
INVOCATIONS_PER_INSTANCE_TARGET = 600


class ModelEndpoint(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        variant_name: str,
        endpoint_name: Optional[str] = None,
        model: Optional[ModelSource] = None,
    ) -> None:
        super().__init__(scope, construct_id)
        if (endpoint_name is None) == (model is None):
            raise ValueError("give either an existing endpoint_name or a model to deploy")
        self.variant_name = variant_name
        if endpoint_name is not None:
            self.endpoint_name: str = endpoint_name
            # SageMaker writes endpoint names in lower case in their ARNs.
            self.endpoint_arn: str = Stack.of(self).format_arn(
                service="sagemaker", resource="endpoint", resource_name=endpoint_name.lower()
            )
            return
        assert model is not None
        role = self._execution_role(model)
        cfn_model = sagemaker.CfnModel(
            self,
            "Model",
            execution_role_arn=role.role_arn,
            primary_container=sagemaker.CfnModel.ContainerDefinitionProperty(
                image=model.image.uri,
                model_data_url=model.model_data_url,
                environment={
                    # The PyTorch container runs code/inference.py from the unpacked artifact and
                    # pip-installs code/requirements.txt (onnxruntime) at start-up.
                    "SAGEMAKER_PROGRAM": "inference.py",
                    "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
                    "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
                    "SAGEMAKER_REGION": Aws.REGION,
                },
            ),
        )
        if isinstance(role, iam.Role):
            cfn_model.node.add_dependency(role)  # the model's first start must already see its grants
        config = sagemaker.CfnEndpointConfig(
            self,
            "Config",
            production_variants=[
                sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                    variant_name=variant_name,
                    model_name=cfn_model.attr_model_name,
                    instance_type=model.instance_type,
                    initial_instance_count=model.initial_instance_count,
                    initial_variant_weight=1.0,
                )
            ],
        )
        endpoint = sagemaker.CfnEndpoint(
            self, "Endpoint", endpoint_config_name=config.attr_endpoint_config_name
        )
        self.endpoint_name = endpoint.attr_endpoint_name
        self.endpoint_arn = endpoint.ref  # Ref of AWS::SageMaker::Endpoint is its ARN
        if model.max_instance_count > model.initial_instance_count:
            target = autoscaling.ScalableTarget(
                self,
                "Scaling",
                service_namespace=autoscaling.ServiceNamespace.SAGEMAKER,
                resource_id=f"endpoint/{endpoint.attr_endpoint_name}/variant/{variant_name}",
                scalable_dimension="sagemaker:variant:DesiredInstanceCount",
                min_capacity=model.initial_instance_count,
                max_capacity=model.max_instance_count,
            )
            target.scale_to_track_metric(
                "InvocationsPerInstance",
                target_value=INVOCATIONS_PER_INSTANCE_TARGET,
                predefined_metric=autoscaling.PredefinedMetric.SAGEMAKER_VARIANT_INVOCATIONS_PER_INSTANCE,
            )
        for resource, reasons in (
            (cfn_model, ("SM1", "SM3")),
            (config, ("SM2",)),
        ):
            acknowledge(resource, {f"AwsSolutions-{rule}": _SAGEMAKER_REASONS[rule] for rule in reasons})

    def grant_invoke(self, grantee: iam.IGrantable) -> iam.Grant:
        """sagemaker:InvokeEndpoint on this one endpoint (no CDK grant exists for it)."""
        return iam.Grant.add_to_principal(
            grantee=grantee, actions=["sagemaker:InvokeEndpoint"], resource_arns=[self.endpoint_arn]
        )

    def _execution_role(self, model: ModelSource) -> iam.IRole:
        if model.role_arn:
            return iam.Role.from_role_arn(self, "ExecutionRole", model.role_arn, mutable=False)
        role = iam.Role(
            self,
            "ExecutionRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="chartguard model endpoint: reads its artifact, pulls its image, writes its logs",
        )
        stack = Stack.of(self)
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"],
                resources=[f"arn:{Aws.PARTITION}:s3:::{model.model_data_bucket}/{model.model_data_key}"],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "ecr:BatchCheckLayerAvailability",
                    "ecr:BatchGetImage",
                    "ecr:GetDownloadUrlForLayer",
                ],
                resources=[
                    f"arn:{Aws.PARTITION}:ecr:{model.image.region}:{model.image.account}:"
                    f"repository/{model.image.repository}"
                ],
            )
        )
        role.add_to_policy(iam.PolicyStatement(actions=["ecr:GetAuthorizationToken"], resources=["*"]))
        role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "logs:CreateLogGroup",
                    "logs:CreateLogStream",
                    "logs:PutLogEvents",
                    "logs:DescribeLogStreams",
                ],
                resources=[
                    stack.format_arn(
                        service="logs",
                        resource="log-group",
                        resource_name="/aws/sagemaker/Endpoints/*",
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
                ],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": ["/aws/sagemaker/Endpoints"]}},
            )
        )
        acknowledge(
            role,
            {
                "AwsSolutions-IAM5[Resource::*]": "GetAuthorizationToken and PutMetricData have no "
                "resource-level permissions (PutMetricData is held to SageMaker's namespace).",
                "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:"
                "log-group:/aws/sagemaker/Endpoints/*]": "SageMaker names the log group after the endpoint, "
                "whose name CloudFormation generates.",
            },
        )
        return role


_SAGEMAKER_REASONS = {
    "SM1": "No VPC in this design: the container reaches S3 and PyPI through SageMaker's network.",
    "SM3": "The PyTorch container pip-installs code/requirements.txt (onnxruntime) at start-up, "
    "which network isolation forbids.",
    "SM2": "SageMaker encrypts the ML storage volume with an AWS managed key; the endpoint keeps only "
    "the model at rest, no customer data.",
}
