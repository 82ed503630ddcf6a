variable "table_arns" {
  description = "ARNs of the DynamoDB tables whose streams streamhub may read (arn:aws:dynamodb:REGION:ACCOUNT:table/NAME). The tables must be in this account; their streams must be enabled with NEW_AND_OLD_IMAGES or NEW_IMAGE."
  type        = list(string)

  validation {
    condition     = length(var.table_arns) > 0
    error_message = "table_arns needs at least one table ARN."
  }

  validation {
    condition     = alltrue([for arn in var.table_arns : can(regex("^arn:aws[a-zA-Z-]*:dynamodb:[a-z0-9-]+:[0-9]{12}:table/[A-Za-z0-9_.-]{3,255}$", arn))])
    error_message = "Each table_arns entry must be a table ARN, arn:aws:dynamodb:REGION:ACCOUNT:table/NAME, without a /stream/ or /index/ suffix."
  }
}

variable "hub_principal_arns" {
  description = "IAM principals of the streamhub hub account that may assume the role: the bridge's role ARN (arn:aws:iam::HUB:role/NAME, preferred) or the hub account's root (arn:aws:iam::HUB:root, which delegates the choice to the hub's own IAM policies)."
  type        = list(string)

  validation {
    condition     = length(var.hub_principal_arns) > 0
    error_message = "hub_principal_arns needs at least one principal."
  }

  validation {
    condition     = alltrue([for arn in var.hub_principal_arns : can(regex("^arn:aws[a-zA-Z-]*:iam::[0-9]{12}:(root|role/.+)$", arn))])
    error_message = "Each hub_principal_arns entry must be arn:aws:iam::ACCOUNT:root or arn:aws:iam::ACCOUNT:role/NAME."
  }
}

variable "external_id" {
  description = "The external ID the hub must present when it assumes the role (the topology's sources[].external_id). Agree on it with the hub's operators; treat it as a secret."
  type        = string
  sensitive   = true

  validation {
    condition     = length(var.external_id) >= 2 && length(var.external_id) <= 1224 && can(regex("^[A-Za-z0-9+=,.@:/_-]+$", var.external_id))
    error_message = "external_id must be 2 to 1224 characters of A-Z a-z 0-9 + = , . @ : / _ - (the STS ExternalId alphabet)."
  }
}

variable "role_name" {
  description = "Name of the IAM role the hub assumes."
  type        = string
  default     = "streamhub-stream-reader"

  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@_-]{1,64}$", var.role_name))
    error_message = "role_name must be 1 to 64 characters of A-Z a-z 0-9 + = , . @ _ -."
  }
}

variable "max_session_duration" {
  description = "Longest session, in seconds, that the hub may request when it assumes the role (3600 to 43200). The bridge's SDK refreshes its credentials before they expire, so the default is enough."
  type        = number
  default     = 3600

  validation {
    condition     = var.max_session_duration >= 3600 && var.max_session_duration <= 43200
    error_message = "max_session_duration must be between 3600 and 43200 seconds."
  }
}

variable "tags" {
  description = "Tags for the IAM role."
  type        = map(string)
  default     = {}
}
