variable "function_name" {
  description = "Name of the Lambda function; also the default transactional-ID prefix (streamhub-lambda-NAME) and the log group (/aws/lambda/NAME)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,64}$", var.function_name))
    error_message = "function_name must be 1 to 64 characters of A-Z a-z 0-9 _ -."
  }
}

variable "package_file" {
  description = "Local path of the deployment zip holding the streamhub-lambda binary as `bootstrap`. Set this or s3_bucket/s3_key."
  type        = string
  default     = null
}

variable "s3_bucket" {
  description = "S3 bucket of the deployment zip, instead of package_file."
  type        = string
  default     = null
}

variable "s3_key" {
  description = "S3 key of the deployment zip, with s3_bucket."
  type        = string
  default     = null
}

variable "s3_object_version" {
  description = "Version of the S3 object, to pin it in a versioned bucket."
  type        = string
  default     = null
}

variable "source_code_hash" {
  description = "Base64 SHA-256 of the zip, so a new zip at the same S3 key is deployed. Computed from package_file when that is set."
  type        = string
  default     = null
}

variable "architecture" {
  description = "Instruction set the binary was built for: arm64 (GOARCH=arm64) or x86_64 (GOARCH=amd64)."
  type        = string
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.architecture)
    error_message = "architecture must be arm64 or x86_64."
  }
}

variable "memory_size" {
  description = "Memory of the function in MB; CPU grows with it, and compression of large batches uses CPU."
  type        = number
  default     = 256

  validation {
    condition     = var.memory_size >= 128 && var.memory_size <= 10240
    error_message = "memory_size must be between 128 and 10240 MB."
  }
}

variable "timeout" {
  description = "Function timeout in seconds. Keep it above STREAMHUB_PRODUCE_TIMEOUT (produce_timeout, default 10s) so the handler can answer before Lambda kills it."
  type        = number
  default     = 30

  validation {
    condition     = var.timeout >= 1 && var.timeout <= 900
    error_message = "timeout must be between 1 and 900 seconds."
  }
}

variable "reserved_concurrent_executions" {
  description = "Concurrency reserved for the function; -1 leaves it unreserved. A shard is never invoked twice at once, so shards times parallelization_factor is the most it uses."
  type        = number
  default     = -1
}

variable "subnet_ids" {
  description = "Subnets (private, with a route to the MSK brokers) to run the function in; empty runs it outside a VPC."
  type        = list(string)
  default     = []
}

variable "security_group_ids" {
  description = "Security groups of the function's network interfaces; they must be allowed into the brokers' port (9098 for IAM, 9096 for SCRAM, 9094 for TLS)."
  type        = list(string)
  default     = []
}

variable "log_retention_in_days" {
  description = "Retention of the function's CloudWatch log group."
  type        = number
  default     = 30
}

variable "brokers" {
  description = "Kafka bootstrap brokers, host:port (STREAMHUB_BROKERS)."
  type        = list(string)

  validation {
    condition     = length(var.brokers) > 0 && alltrue([for b in var.brokers : can(regex("^[^:,\\s]+:[0-9]+$", b))])
    error_message = "brokers needs at least one host:port, without commas."
  }
}

variable "topic" {
  description = "The table's raw CDC topic (STREAMHUB_TOPIC), <env>.<table>.cdc in a topology. It must exist."
  type        = string
}

variable "keys" {
  description = "Key attributes of the table, hash key then optional range key (STREAMHUB_KEYS)."
  type        = list(string)

  validation {
    condition     = length(var.keys) >= 1 && length(var.keys) <= 2
    error_message = "keys must name the hash key and at most one range key."
  }
}

variable "table_name" {
  description = "Table name for record headers and logs (STREAMHUB_TABLE); null takes it from the stream ARN."
  type        = string
  default     = null
}

variable "dlq_topic" {
  description = "Topic for records that cannot be parsed or keyed (STREAMHUB_DLQ_TOPIC); null reports them as batch item failures, which blocks the shard."
  type        = string
  default     = null
}

variable "tls" {
  description = "TLS to the brokers with the system roots (STREAMHUB_TLS); AWS_MSK_IAM implies it."
  type        = bool
  default     = false
}

variable "tls_ca_file" {
  description = "Path, inside the zip or a layer, of the PEM CA that signed the brokers' certificates (STREAMHUB_TLS_CA_FILE)."
  type        = string
  default     = null
}

variable "sasl_mechanism" {
  description = "SASL mechanism (STREAMHUB_SASL_MECHANISM): PLAIN, SCRAM-SHA-512 or AWS_MSK_IAM; null for none. AWS_MSK_IAM needs msk_cluster_arn."
  type        = string
  default     = null

  validation {
    condition     = var.sasl_mechanism == null || contains(["PLAIN", "SCRAM-SHA-512", "AWS_MSK_IAM"], coalesce(var.sasl_mechanism, "-"))
    error_message = "sasl_mechanism must be PLAIN, SCRAM-SHA-512, AWS_MSK_IAM or null."
  }
}

variable "sasl_username" {
  description = "SASL user name for PLAIN and SCRAM-SHA-512 (STREAMHUB_SASL_USERNAME)."
  type        = string
  default     = null
}

variable "sasl_password" {
  description = "SASL password for PLAIN and SCRAM-SHA-512 (STREAMHUB_SASL_PASSWORD). It is stored in the function's environment, readable by anyone allowed lambda:GetFunctionConfiguration; set kms_key_arn to encrypt it with your key."
  type        = string
  default     = null
  sensitive   = true
}

variable "sasl_region" {
  description = "Region of the MSK cluster for AWS_MSK_IAM (STREAMHUB_SASL_REGION); null uses the function's region."
  type        = string
  default     = null
}

variable "compression" {
  description = "Kafka compression (STREAMHUB_COMPRESSION): none, lz4, snappy, zstd or gzip; null keeps the default, lz4."
  type        = string
  default     = null

  validation {
    condition     = var.compression == null || contains(["none", "lz4", "snappy", "zstd", "gzip"], coalesce(var.compression, "-"))
    error_message = "compression must be none, lz4, snappy, zstd, gzip or null."
  }
}

variable "produce_timeout" {
  description = "How long an invocation waits for Kafka's acknowledgements, a Go duration such as 10s (STREAMHUB_PRODUCE_TIMEOUT); null keeps 10s. Keep it below timeout."
  type        = string
  default     = null
}

variable "transactional_id_prefix" {
  description = "Prefix of the producer's transactional IDs (STREAMHUB_TRANSACTIONAL_ID_PREFIX); null uses streamhub-lambda-<function_name>. The MSK IAM policy is scoped to it."
  type        = string
  default     = null
}

variable "extra_environment" {
  description = "More environment variables for the function; they cannot override the STREAMHUB_* ones this module sets."
  type        = map(string)
  default     = {}
}

variable "kms_key_arn" {
  description = "KMS key that encrypts the function's environment; null uses the AWS managed key."
  type        = string
  default     = null
}

variable "msk_cluster_arn" {
  description = "ARN of the MSK cluster (arn:aws:kafka:REGION:ACCOUNT:cluster/NAME/UUID); with AWS_MSK_IAM the execution role gets the kafka-cluster actions on it, its topics and the transactional-ID prefix."
  type        = string
  default     = null

  validation {
    condition     = var.msk_cluster_arn == null || can(regex("^arn:aws[a-zA-Z-]*:kafka:[a-z0-9-]+:[0-9]{12}:cluster/[^/]+/[^/]+$", coalesce(var.msk_cluster_arn, "-")))
    error_message = "msk_cluster_arn must be arn:aws:kafka:REGION:ACCOUNT:cluster/NAME/UUID."
  }
}

variable "stream_arn" {
  description = "ARN of the DynamoDB stream the event source mapping reads (the table's LatestStreamArn). A re-created table has a new stream: update this and apply."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-zA-Z-]*:dynamodb:[a-z0-9-]+:[0-9]{12}:table/[^/]+/stream/.+$", var.stream_arn))
    error_message = "stream_arn must be arn:aws:dynamodb:REGION:ACCOUNT:table/NAME/stream/LABEL."
  }
}

variable "starting_position" {
  description = "Where a new mapping starts: TRIM_HORIZON (everything the stream still holds, 24 hours) or LATEST."
  type        = string
  default     = "TRIM_HORIZON"

  validation {
    condition     = contains(["TRIM_HORIZON", "LATEST"], var.starting_position)
    error_message = "starting_position must be TRIM_HORIZON or LATEST."
  }
}

variable "batch_size" {
  description = "Most records per invocation (1 to 10000); one batch is one Kafka transaction."
  type        = number
  default     = 1000

  validation {
    condition     = var.batch_size >= 1 && var.batch_size <= 10000
    error_message = "batch_size must be between 1 and 10000."
  }
}

variable "maximum_batching_window_in_seconds" {
  description = "How long Lambda gathers records before it invokes (0 to 300); longer means fewer, larger transactions and more latency."
  type        = number
  default     = 1

  validation {
    condition     = var.maximum_batching_window_in_seconds >= 0 && var.maximum_batching_window_in_seconds <= 300
    error_message = "maximum_batching_window_in_seconds must be between 0 and 300."
  }
}

variable "bisect_batch_on_function_error" {
  description = "Split a failed batch in two and retry the halves. The handler reports failures per batch itself, so splitting only re-sends more records: keep false."
  type        = bool
  default     = false
}

variable "maximum_retry_attempts" {
  description = "Retries of a failed batch before it is discarded (-1 = until the record expires, 0 to 10000). -1 lets a Kafka outage wait instead of dropping records."
  type        = number
  default     = -1

  validation {
    condition     = var.maximum_retry_attempts >= -1 && var.maximum_retry_attempts <= 10000
    error_message = "maximum_retry_attempts must be between -1 and 10000."
  }
}

variable "maximum_record_age_in_seconds" {
  description = "Oldest record Lambda still sends (-1 = unlimited, or 60 to 604800)."
  type        = number
  default     = -1

  validation {
    condition     = var.maximum_record_age_in_seconds == -1 || (var.maximum_record_age_in_seconds >= 60 && var.maximum_record_age_in_seconds <= 604800)
    error_message = "maximum_record_age_in_seconds must be -1 or between 60 and 604800."
  }
}

variable "parallelization_factor" {
  description = "Concurrent batches per shard (1 to 10). Per-item order holds for any value; 1 also keeps the shard's order."
  type        = number
  default     = 1

  validation {
    condition     = var.parallelization_factor >= 1 && var.parallelization_factor <= 10
    error_message = "parallelization_factor must be between 1 and 10."
  }
}

variable "on_failure_destination_arn" {
  description = "SQS queue or SNS topic ARN that receives the stream positions of batches Lambda discards (after maximum_retry_attempts or maximum_record_age_in_seconds); null for none. The execution role may send to it."
  type        = string
  default     = null

  validation {
    condition     = var.on_failure_destination_arn == null || can(regex("^arn:aws[a-zA-Z-]*:(sqs|sns):[a-z0-9-]+:[0-9]{12}:.+$", coalesce(var.on_failure_destination_arn, "-")))
    error_message = "on_failure_destination_arn must be an SQS queue or SNS topic ARN."
  }
}

variable "tags" {
  description = "Tags for the function, its role and its log group."
  type        = map(string)
  default     = {}
}
