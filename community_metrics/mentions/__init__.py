"""Mentions stage: community mentions from Hacker News and GitHub into the `mentions` table."""
