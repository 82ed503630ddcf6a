output "function_arn" {
  description = "ARN of the Lambda function."
  value       = aws_lambda_function.bridge.arn
}

output "function_name" {
  description = "Name of the Lambda function."
  value       = aws_lambda_function.bridge.function_name
}

output "role_arn" {
  description = "ARN of the function's execution role (for MSK cluster policies or Kafka ACL mappings)."
  value       = aws_iam_role.function.arn
}

output "role_name" {
  description = "Name of the function's execution role, to attach more policies."
  value       = aws_iam_role.function.name
}

output "event_source_mapping_uuid" {
  description = "UUID of the event source mapping."
  value       = aws_lambda_event_source_mapping.stream.uuid
}

output "log_group_name" {
  description = "CloudWatch log group of the function (configuration errors appear in its init log)."
  value       = aws_cloudwatch_log_group.function.name
}

output "transactional_id_prefix" {
  description = "The transactional-ID prefix the function uses (for Kafka ACLs: WRITE and DESCRIBE on this prefix)."
  value       = local.txn_id_prefix
}

output "msk_topic_arns" {
  description = "MSK topic ARNs the function writes (CDC and DLQ topics); empty without msk_cluster_arn."
  value       = local.msk_topic_arns
}

output "msk_transactional_id_arn" {
  description = "MSK transactional-ID ARN pattern the function uses; null without msk_cluster_arn."
  value       = local.msk_txn_arn
}
