variable "region" {
  description = "Region of the tables, the MSK cluster and the function."
  type        = string
  default     = "eu-west-1"
}

variable "table_owner_profile" {
  description = "AWS CLI profile with credentials of the account that owns the tables; null uses the default credential chain."
  type        = string
  default     = null
}

variable "hub_profile" {
  description = "AWS CLI profile with credentials of the streamhub hub account; null uses the default credential chain."
  type        = string
  default     = null
}

variable "env" {
  description = "The topology's env; topic names derive from it (<env>.<table>.cdc)."
  type        = string
  default     = "prod"
}

variable "polled_table_arn" {
  description = "Table whose stream the hub's polling bridge (streamhub bridge) reads through the reader role."
  type        = string
}

variable "external_id" {
  description = "External ID the hub presents when it assumes the reader role; the topology reads it as $${EXTERNAL_ID}."
  type        = string
  sensitive   = true
}

variable "bridge_service_principal" {
  description = "AWS service that runs the polling bridge in the hub account and assumes its role (ecs-tasks.amazonaws.com for ECS, ec2.amazonaws.com for EC2)."
  type        = string
  default     = "ecs-tasks.amazonaws.com"
}

variable "lambda_stream_arn" {
  description = "Stream of the table the Lambda variant reads, in the table owner's account (where the function and its event source mapping live)."
  type        = string
}

variable "lambda_table_keys" {
  description = "Key attributes of the Lambda variant's table: hash key, then optional range key."
  type        = list(string)
  default     = ["pk"]
}

variable "lambda_package_file" {
  description = "The zip with the streamhub-lambda binary as bootstrap (see cmd/streamhub-lambda/README.md)."
  type        = string
  default     = "streamhub-lambda.zip"
}

variable "lambda_subnet_ids" {
  description = "Subnets of the table owner's VPC with a route to the hub's MSK brokers (MSK multi-VPC private connectivity or peering)."
  type        = list(string)
}

variable "lambda_security_group_ids" {
  description = "Security groups of the function, allowed out to the brokers' port 9098."
  type        = list(string)
}

variable "msk_brokers" {
  description = "Bootstrap brokers of the hub's MSK cluster for IAM auth (port 9098), as the function reaches them."
  type        = list(string)
}

variable "msk_cluster_arn" {
  description = "ARN of the hub's MSK cluster."
  type        = string
}

variable "manage_msk_cluster_policy" {
  description = "Let this example write the MSK cluster policy that admits the function's role. It replaces any cluster policy already there: merge by hand when the cluster has one."
  type        = bool
  default     = false
}

variable "on_failure_queue_arn" {
  description = "SQS queue in the table owner's account for the positions of batches the mapping discards; null for none."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags for everything the example creates."
  type        = map(string)
  default     = { app = "streamhub" }
}
