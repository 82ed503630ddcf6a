#!/bin/bash
# The compose seed job (amazon/aws-cli): the users table with a NEW_AND_OLD_IMAGES stream,
# and a few items. Safe to run again: an existing table is kept, the items are rewritten
# (each rewrite is a MODIFY in the stream).
# Endpoint and credentials come from AWS_ENDPOINT_URL_DYNAMODB and friends (docker-compose.yml).
set -euo pipefail

if ! aws dynamodb describe-table --table-name users >/dev/null 2>&1; then
  aws dynamodb create-table \
    --table-name users \
    --attribute-definitions AttributeName=pk,AttributeType=S AttributeName=sk,AttributeType=S \
    --key-schema AttributeName=pk,KeyType=HASH AttributeName=sk,KeyType=RANGE \
    --billing-mode PAY_PER_REQUEST \
    --stream-specification StreamEnabled=true,StreamViewType=NEW_AND_OLD_IMAGES >/dev/null
  aws dynamodb wait table-exists --table-name users
fi

# updatedAt is the topology's version_attribute, and strings order byte by byte: every
# timestamp has the same width (milliseconds), or "…:24.5Z" would sort before "…:24Z".
stamp() { date -u +%Y-%m-%dT%H:%M:%S.%3NZ; }
now=$(stamp)
for i in 1 2 3; do
  aws dynamodb put-item --table-name users --item "{
    \"pk\": {\"S\": \"user#$i\"}, \"sk\": {\"S\": \"profile\"},
    \"email\": {\"S\": \"user$i@example.com\"}, \"plan\": {\"S\": \"free\"},
    \"updatedAt\": {\"S\": \"$now\"}, \"logins\": {\"N\": \"$i\"},
    \"tags\": {\"SS\": [\"seed\", \"compose\"]}}"
done
aws dynamodb update-item --table-name users \
  --key '{"pk": {"S": "user#1"}, "sk": {"S": "profile"}}' \
  --update-expression 'SET #p = :p, updatedAt = :u ADD logins :one' \
  --expression-attribute-names '{"#p": "plan"}' \
  --expression-attribute-values "{\":p\": {\"S\": \"pro\"}, \":u\": {\"S\": \"$(stamp)\"}, \":one\": {\"N\": \"1\"}}"
aws dynamodb delete-item --table-name users --key '{"pk": {"S": "user#3"}, "sk": {"S": "profile"}}'

echo "seeded: $(aws dynamodb describe-table --table-name users --query Table.LatestStreamArn --output text)"
