"""The one door to AWS data: every DynamoDB and SQS call the logic makes goes through here."""
