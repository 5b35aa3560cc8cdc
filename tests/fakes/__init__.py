"""Local fakes of the platforms' HTTP APIs, reached through the real client libraries."""
