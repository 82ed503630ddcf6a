terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
  }
}

# The account that owns the DynamoDB tables: the data team applies with its credentials.
provider "aws" {
  alias   = "table_owner"
  region  = var.region
  profile = var.table_owner_profile
}

# The streamhub hub account (MSK, the polling bridge).
provider "aws" {
  alias   = "hub"
  region  = var.region
  profile = var.hub_profile
}
