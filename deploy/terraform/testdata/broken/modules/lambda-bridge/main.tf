variable "stream_arn" {
  description = "Stream."
  type        = string
}

locals {
  streamhub_env = {
    STREAMHUB_BROKER = "b-1:9098"
    STREAMHUB_KEYS   = "pk"
  }
}

data "aws_iam_policy_document" "function" {
  statement {
    actions   = ["dynamodb:*"]
    resources = [var.stream_arn]
  }
}

resource "aws_lambda_function" "bridge" {
  function_name = "streamhub"
  runtime       = "go1.x"
  handler       = "bootstrap"
  role          = "arn:aws:iam::111111111111:role/x"

  environment {
    variables = local.streamhub_env
  }
}

resource "aws_lambda_event_source_mapping" "stream" {
  function_name                      = aws_lambda_function.bridge.arn
  event_source_arn                   = var.stream_arn
  starting_position                  = "LATEST"
  batch_size                         = 100
  maximum_batching_window_in_seconds = 1
  maximum_retry_attempts             = -1
  function_response_types            = []
}

output "function_arn" {
  description = "Function."
  value       = aws_lambda_function.bridge.arn
}
