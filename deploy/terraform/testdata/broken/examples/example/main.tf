variable "region" {
  description = "Region ${var.region_default}."
  type        = string
}

variable "region_default" {
  description = "Interpolated into another variable's description, which Terraform refuses."
  type        = string
  default     = "eu-west-1"
}

module "reader" {
  source = "../../modules/dynamodb-stream-reader"

  table_arns    = ["arn:aws:dynamodb:${var.region}:111111111111:table/users"]
  table_name    = "users"
  role_name     = "reader"
  tags          = {}
  unused        = "x"
  extra_actions = []
}
