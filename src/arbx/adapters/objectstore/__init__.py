"""Bars in an S3-compatible bucket (obstore)."""
