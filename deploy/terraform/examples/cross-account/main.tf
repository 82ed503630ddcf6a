locals {
  polled_table_name = element(split("/", var.polled_table_arn), 1)
  lambda_table_name = element(split("/", var.lambda_stream_arn), 1)
}

# --- Polling bridge: runs in the hub, reads the owner's stream through an assumed role. ---

data "aws_iam_policy_document" "bridge_trust" {
  provider = aws.hub

  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = [var.bridge_service_principal]
    }
  }
}

# The hub-side identity the owner's role trusts: naming one role instead of the hub's root
# keeps every other principal of the hub account out, whatever the hub's own policies say.
resource "aws_iam_role" "bridge" {
  provider = aws.hub

  name               = "streamhub-bridge"
  assume_role_policy = data.aws_iam_policy_document.bridge_trust.json
  tags               = var.tags
}

module "reader" {
  source    = "../../modules/dynamodb-stream-reader"
  providers = { aws = aws.table_owner }

  table_arns         = [var.polled_table_arn]
  hub_principal_arns = [aws_iam_role.bridge.arn]
  external_id        = var.external_id
  role_name          = "streamhub-stream-reader"
  tags               = var.tags
}

# Cross-account AssumeRole needs both sides: the owner's trust policy and this grant.
data "aws_iam_policy_document" "bridge_assume_reader" {
  provider = aws.hub

  statement {
    effect    = "Allow"
    actions   = ["sts:AssumeRole"]
    resources = [module.reader.role_arn]
  }
}

resource "aws_iam_role_policy" "bridge_assume_reader" {
  provider = aws.hub

  name   = "assume-stream-reader"
  role   = aws_iam_role.bridge.id
  policy = data.aws_iam_policy_document.bridge_assume_reader.json
}

# --- Lambda variant: runs in the owner's account beside the stream, writes to the hub's MSK. ---

module "lambda_bridge" {
  source    = "../../modules/lambda-bridge"
  providers = { aws = aws.table_owner }

  function_name      = "streamhub-${local.lambda_table_name}"
  package_file       = var.lambda_package_file
  subnet_ids         = var.lambda_subnet_ids
  security_group_ids = var.lambda_security_group_ids

  brokers         = var.msk_brokers
  topic           = "${var.env}.${local.lambda_table_name}.cdc"
  dlq_topic       = "${var.env}.streamhub.dlq"
  keys            = var.lambda_table_keys
  table_name      = local.lambda_table_name
  sasl_mechanism  = "AWS_MSK_IAM"
  sasl_region     = var.region
  msk_cluster_arn = var.msk_cluster_arn

  stream_arn                         = var.lambda_stream_arn
  starting_position                  = "TRIM_HORIZON"
  batch_size                         = 1000
  maximum_batching_window_in_seconds = 1
  bisect_batch_on_function_error     = false
  maximum_retry_attempts             = -1
  on_failure_destination_arn         = var.on_failure_queue_arn

  tags = var.tags
}

# A client in another account passes MSK IAM auth only if the cluster's own policy admits it
# too; the grants mirror the ones on the function's role.
data "aws_iam_policy_document" "msk_cluster" {
  provider = aws.hub

  statement {
    sid     = "StreamhubLambdaConnect"
    effect  = "Allow"
    actions = ["kafka-cluster:Connect", "kafka-cluster:WriteDataIdempotently"]
    principals {
      type        = "AWS"
      identifiers = [module.lambda_bridge.role_arn]
    }
    resources = [var.msk_cluster_arn]
  }

  statement {
    sid     = "StreamhubLambdaTopics"
    effect  = "Allow"
    actions = ["kafka-cluster:DescribeTopic", "kafka-cluster:WriteData"]
    principals {
      type        = "AWS"
      identifiers = [module.lambda_bridge.role_arn]
    }
    resources = module.lambda_bridge.msk_topic_arns
  }

  statement {
    sid     = "StreamhubLambdaTransactions"
    effect  = "Allow"
    actions = ["kafka-cluster:DescribeTransactionalId", "kafka-cluster:AlterTransactionalId"]
    principals {
      type        = "AWS"
      identifiers = [module.lambda_bridge.role_arn]
    }
    resources = [module.lambda_bridge.msk_transactional_id_arn]
  }
}

resource "aws_msk_cluster_policy" "streamhub_lambda" {
  provider = aws.hub
  count    = var.manage_msk_cluster_policy ? 1 : 0

  cluster_arn = var.msk_cluster_arn
  policy      = data.aws_iam_policy_document.msk_cluster.json
}
