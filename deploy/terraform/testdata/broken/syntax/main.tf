resource "aws_iam_role" "unclosed" {
  name = "streamhub"
