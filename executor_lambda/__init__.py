"""The executor Lambda: runs one user's code against that user's S3 workspace."""
