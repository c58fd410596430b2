"""The evidence bucket: the chart images behind each risk record (contract 4's `evidence`)."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra import constants
from infra.nag import acknowledge


class EvidenceBucket(Construct):
    """Private, TLS-only, encrypted; access-logged to a second bucket; write once, read many.

    Object Lock in compliance mode keeps every image unchanged and undeletable, by anyone, for
    `retention_days` from its upload (the risk record it belongs to expires after as many days);
    then lifecycle expires it. Object Lock needs versioning: an overwrite would only add a
    version, and the function never overwrites (its put is conditional on the key being free).
    """

    def __init__(self, scope: Construct, construct_id: str, *, retention_days: int) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,  # server access logging supports SSE-S3 only
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            removal_policy=RemovalPolicy.RETAIN,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(retention_days))],
        )
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="evidence-bucket/",
            removal_policy=RemovalPolicy.RETAIN,
            versioned=True,
            object_lock_enabled=True,
            object_lock_default_retention=s3.ObjectLockRetention.compliance(Duration.days(retention_days)),
            lifecycle_rules=[
                # The lock has run out by then: the current version gets a delete marker, and the
                # version itself goes a day later.
                s3.LifecycleRule(
                    id="expire-evidence",
                    prefix=constants.EVIDENCE_PREFIX,
                    expiration=Duration.days(retention_days),
                    noncurrent_version_expiration=Duration.days(1),
                ),
                s3.LifecycleRule(id="remove-expired-delete-markers", expired_object_delete_marker=True),
                s3.LifecycleRule(
                    id="abort-incomplete-uploads", abort_incomplete_multipart_upload_after=Duration.days(1)
                ),
            ],
        )
        acknowledge(
            self.access_logs, {"AwsSolutions-S1": "This is the access-log bucket; logging it would recurse."}
        )
