output "role_arn" {
  description = "ARN of the role; the hub's topology puts it in sources[].role_arn."
  value       = aws_iam_role.reader.arn
}

output "role_name" {
  description = "Name of the role."
  value       = aws_iam_role.reader.name
}

output "stream_arn_patterns" {
  description = "The stream ARN pattern the role may read, per table name (TABLE_ARN/stream/*)."
  value       = local.stream_arn_patterns
}

output "table_arns" {
  description = "The table ARNs the role may describe, per table name."
  value       = local.tables
}
