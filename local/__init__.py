"""The system on one machine, no AWS account: moto's server, the SageMaker endpoint stand-in, the
SQS event-source-mapping runner, the resources the CDK stack would create, and the stack that runs
them together (used by `chartguard local`/`demo`, the integration tests and the benchmarks)."""
