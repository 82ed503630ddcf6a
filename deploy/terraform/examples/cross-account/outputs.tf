output "reader_role_arn" {
  description = "The owner's role the hub assumes: sources[].role_arn in the topology."
  value       = module.reader.role_arn
}

output "bridge_role_arn" {
  description = "The hub role the polling bridge runs as (its ECS task role, for example)."
  value       = aws_iam_role.bridge.arn
}

output "topology_source" {
  description = "The topology's sources entry for the polled table; EXTERNAL_ID comes from the bridge's environment."
  value       = <<-YAML
    - type: dynamodb
      table: ${local.polled_table_name}
      region: ${var.region}
      role_arn: ${module.reader.role_arn}
      external_id: $${EXTERNAL_ID}
  YAML
}

output "lambda_function_arn" {
  description = "The Lambda bridge in the owner's account."
  value       = module.lambda_bridge.function_arn
}

output "lambda_event_source_mapping_uuid" {
  description = "The event source mapping that feeds it."
  value       = module.lambda_bridge.event_source_mapping_uuid
}
