locals {
  # Keyed by table name so outputs can be looked up the way a topology names its sources.
  tables = { for arn in var.table_arns : element(split("/", arn), 1) => arn }

  # A table re-created under its name gets a new stream label; the wildcard keeps the role
  # valid for every stream the table ever has, which the bridge needs to finish the old one.
  stream_arn_patterns = { for name, arn in local.tables : name => "${arn}/stream/*" }
}

data "aws_iam_policy_document" "trust" {
  statement {
    sid     = "StreamhubHub"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "AWS"
      identifiers = var.hub_principal_arns
    }

    # The confused-deputy guard: only a caller that knows the agreed ID gets in.
    condition {
      test     = "StringEquals"
      variable = "sts:ExternalId"
      values   = [var.external_id]
    }
  }
}

data "aws_iam_policy_document" "read" {
  statement {
    sid       = "ReadStreams"
    effect    = "Allow"
    actions   = ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"]
    resources = values(local.stream_arn_patterns)
  }

  # DescribeTable yields LatestStreamArn when a source names no stream_arn; it also reveals
  # the key schema and sizes, but no item.
  statement {
    sid       = "FindLatestStream"
    effect    = "Allow"
    actions   = ["dynamodb:DescribeTable"]
    resources = values(local.tables)
  }

  # ListStreams names no stream in its request (only an optional TableName), so IAM cannot
  # scope it to one: AWS's own AWSLambdaDynamoDBExecutionRole grants it on "*". It returns
  # stream ARNs and table names, never records; the records stay behind ReadStreams.
  statement {
    sid       = "ListOlderStreams"
    effect    = "Allow"
    actions   = ["dynamodb:ListStreams"]
    resources = ["*"]
  }
}

resource "aws_iam_role" "reader" {
  name                 = var.role_name
  description          = "streamhub reads the DynamoDB streams of ${join(", ", keys(local.tables))}"
  assume_role_policy   = data.aws_iam_policy_document.trust.json
  max_session_duration = var.max_session_duration
  tags                 = var.tags
}

resource "aws_iam_role_policy" "read" {
  name   = "streamhub-read-streams"
  role   = aws_iam_role.reader.id
  policy = data.aws_iam_policy_document.read.json
}
