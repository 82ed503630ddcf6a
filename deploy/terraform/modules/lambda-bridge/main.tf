data "aws_partition" "current" {}

locals {
  txn_id_prefix = coalesce(var.transactional_id_prefix, "streamhub-lambda-${var.function_name}")
  msk_iam       = var.sasl_mechanism == "AWS_MSK_IAM"
  in_vpc        = length(var.subnet_ids) > 0

  # The names the handler reads (sources/dynamodb/lambda/config.go); unset ones keep its
  # defaults. The transactional-ID prefix is always set so the function and its IAM policy
  # cannot disagree about it.
  streamhub_env = {
    STREAMHUB_BROKERS                 = join(",", var.brokers)
    STREAMHUB_TOPIC                   = var.topic
    STREAMHUB_KEYS                    = join(",", var.keys)
    STREAMHUB_TABLE                   = var.table_name
    STREAMHUB_DLQ_TOPIC               = var.dlq_topic
    STREAMHUB_TLS                     = var.tls ? "true" : null
    STREAMHUB_TLS_CA_FILE             = var.tls_ca_file
    STREAMHUB_SASL_MECHANISM          = var.sasl_mechanism
    STREAMHUB_SASL_USERNAME           = var.sasl_username
    STREAMHUB_SASL_PASSWORD           = var.sasl_password
    STREAMHUB_SASL_REGION             = var.sasl_region
    STREAMHUB_COMPRESSION             = var.compression
    STREAMHUB_PRODUCE_TIMEOUT         = var.produce_timeout
    STREAMHUB_TRANSACTIONAL_ID_PREFIX = local.txn_id_prefix
  }
  environment = merge(var.extra_environment, { for k, v in local.streamhub_env : k => v if v != null })

  # MSK IAM resource ARNs share the cluster's NAME/UUID path under another resource type.
  msk_topic_base = var.msk_cluster_arn == null ? null : replace(var.msk_cluster_arn, ":cluster/", ":topic/")
  msk_txn_base   = var.msk_cluster_arn == null ? null : replace(var.msk_cluster_arn, ":cluster/", ":transactional-id/")
  msk_topic_arns = local.msk_topic_base == null ? [] : [for t in compact([var.topic, var.dlq_topic]) : "${local.msk_topic_base}/${t}"]
  msk_txn_arn    = local.msk_txn_base == null ? null : "${local.msk_txn_base}/${local.txn_id_prefix}-*"

  on_failure_sqs = var.on_failure_destination_arn != null && can(regex(":sqs:", coalesce(var.on_failure_destination_arn, "-")))
}

data "aws_iam_policy_document" "assume" {
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "function" {
  name               = "${var.function_name}-exec"
  description        = "Execution role of the streamhub Lambda bridge ${var.function_name}"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "function" {
  # The log group is created here, so the function needs no logs:CreateLogGroup.
  statement {
    sid       = "Logs"
    effect    = "Allow"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.function.arn}:*"]
  }

  # The event source mapping polls with the function's role.
  statement {
    sid       = "ReadStream"
    effect    = "Allow"
    actions   = ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"]
    resources = [var.stream_arn]
  }

  # ListStreams cannot be scoped to a stream (its request names none); it returns ARNs only.
  statement {
    sid       = "ListStreams"
    effect    = "Allow"
    actions   = ["dynamodb:ListStreams"]
    resources = ["*"]
  }

  dynamic "statement" {
    for_each = local.msk_iam && var.msk_cluster_arn != null ? [1] : []
    content {
      sid       = "MskConnect"
      effect    = "Allow"
      actions   = ["kafka-cluster:Connect", "kafka-cluster:WriteDataIdempotently"]
      resources = [var.msk_cluster_arn]
    }
  }

  dynamic "statement" {
    for_each = local.msk_iam && var.msk_cluster_arn != null ? [1] : []
    content {
      sid       = "MskWriteTopics"
      effect    = "Allow"
      actions   = ["kafka-cluster:DescribeTopic", "kafka-cluster:WriteData"]
      resources = local.msk_topic_arns
    }
  }

  # One Kafka transaction per batch: the producer registers IDs under the prefix, one per
  # execution environment, so the grant is the prefix and a wildcard.
  dynamic "statement" {
    for_each = local.msk_iam && var.msk_cluster_arn != null ? [1] : []
    content {
      sid       = "MskTransactions"
      effect    = "Allow"
      actions   = ["kafka-cluster:DescribeTransactionalId", "kafka-cluster:AlterTransactionalId"]
      resources = [local.msk_txn_arn]
    }
  }

  # Lambda sends the discarded batch's stream positions with the function's role.
  dynamic "statement" {
    for_each = var.on_failure_destination_arn == null ? [] : [1]
    content {
      sid       = "OnFailureDestination"
      effect    = "Allow"
      actions   = local.on_failure_sqs ? ["sqs:SendMessage"] : ["sns:Publish"]
      resources = [var.on_failure_destination_arn]
    }
  }
}

resource "aws_iam_role_policy" "function" {
  name   = "streamhub-lambda-bridge"
  role   = aws_iam_role.function.id
  policy = data.aws_iam_policy_document.function.json
}

# ENI management has no resource-level scoping; AWS's managed policy is the usual grant.
resource "aws_iam_role_policy_attachment" "vpc" {
  count      = local.in_vpc ? 1 : 0
  role       = aws_iam_role.function.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
}

resource "aws_cloudwatch_log_group" "function" {
  name              = "/aws/lambda/${var.function_name}"
  retention_in_days = var.log_retention_in_days
  tags              = var.tags
}

resource "aws_lambda_function" "bridge" {
  function_name                  = var.function_name
  description                    = "streamhub bridge: DynamoDB stream into ${var.topic}"
  role                           = aws_iam_role.function.arn
  runtime                        = "provided.al2023"
  handler                        = "bootstrap"
  architectures                  = [var.architecture]
  memory_size                    = var.memory_size
  timeout                        = var.timeout
  reserved_concurrent_executions = var.reserved_concurrent_executions
  kms_key_arn                    = var.kms_key_arn

  filename          = var.package_file
  s3_bucket         = var.s3_bucket
  s3_key            = var.s3_key
  s3_object_version = var.s3_object_version
  source_code_hash  = var.package_file != null ? filebase64sha256(coalesce(var.package_file, "-")) : var.source_code_hash

  environment {
    variables = local.environment
  }

  dynamic "vpc_config" {
    for_each = local.in_vpc ? [1] : []
    content {
      subnet_ids         = var.subnet_ids
      security_group_ids = var.security_group_ids
    }
  }

  tags = var.tags

  lifecycle {
    precondition {
      condition     = (var.package_file != null) != (var.s3_bucket != null && var.s3_key != null)
      error_message = "Set either package_file or both s3_bucket and s3_key."
    }
    precondition {
      condition     = !local.msk_iam || var.msk_cluster_arn != null
      error_message = "sasl_mechanism AWS_MSK_IAM needs msk_cluster_arn, so the execution role can be granted the kafka-cluster actions."
    }
    precondition {
      condition     = !contains(["PLAIN", "SCRAM-SHA-512"], coalesce(var.sasl_mechanism, "-")) || (var.sasl_username != null && var.sasl_password != null)
      error_message = "sasl_mechanism PLAIN and SCRAM-SHA-512 need sasl_username and sasl_password."
    }
    precondition {
      condition     = !local.in_vpc || length(var.security_group_ids) > 0
      error_message = "A function in subnets needs security_group_ids."
    }
  }

  depends_on = [
    aws_cloudwatch_log_group.function,
    aws_iam_role_policy.function,
    aws_iam_role_policy_attachment.vpc,
  ]
}

resource "aws_lambda_event_source_mapping" "stream" {
  function_name     = aws_lambda_function.bridge.arn
  event_source_arn  = var.stream_arn
  starting_position = var.starting_position

  # Without it Lambda ignores the reported failures and moves on, losing the records of a
  # batch whose transaction was aborted.
  function_response_types = ["ReportBatchItemFailures"]

  batch_size                         = var.batch_size
  maximum_batching_window_in_seconds = var.maximum_batching_window_in_seconds
  bisect_batch_on_function_error     = var.bisect_batch_on_function_error
  maximum_retry_attempts             = var.maximum_retry_attempts
  maximum_record_age_in_seconds      = var.maximum_record_age_in_seconds
  parallelization_factor             = var.parallelization_factor

  dynamic "destination_config" {
    for_each = var.on_failure_destination_arn == null ? [] : [1]
    content {
      on_failure {
        destination_arn = var.on_failure_destination_arn
      }
    }
  }

  # The mapping starts polling at once and needs the stream grants in place to do so.
  depends_on = [aws_iam_role_policy.function]
}
