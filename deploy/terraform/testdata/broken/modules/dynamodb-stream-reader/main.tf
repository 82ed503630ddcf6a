variable "table_arns" {
  description = "Tables."
  type        = list(string)
}

variable "external_id" {
  description = "External ID."
  type        = string
}

variable "role_name" {
  type = string
}

variable "tags" {
  description = "Tags."
}

variable "unused" {
  description = "Never referenced."
  type        = string
}

variable "extra_actions" {
  description = "Actions that make the policy non-literal."
  type        = list(string)
}

data "aws_iam_policy_document" "trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "AWS"
      identifiers = ["arn:aws:iam::222222222222:root"]
    }
  }
}

data "aws_iam_policy_document" "read" {
  statement {
    actions   = ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams", "dynamodb:GetItem"]
    resources = ["*"]
  }

  statement {
    actions   = var.extra_actions
    resources = [for a in var.table_arns : "${a}/stream/*"]
  }
}

resource "aws_iam_role" "reader" {
  name               = var.role_name
  assume_role_policy = data.aws_iam_policy_document.trust.json
  tags               = var.tags
  description        = "reads ${var.table_nmae} for ${var.external_id}"
}

output "role_arn" {
  description = "Role."
  value       = aws_iam_role.reader.arn
}

output "role_name" {
  value = aws_iam_role.reader.name
}
