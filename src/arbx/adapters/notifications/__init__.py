"""Alert channels: webhooks (JSON or Slack-compatible, HMAC-signed) and SMTP e-mail."""
