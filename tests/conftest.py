"""Fixture plugins shared by the test files; each area keeps its fixtures in tests/fixtures/."""

pytest_plugins = [
    "tests.fixtures.storage",
    "tests.fixtures.executor",
    "tests.fixtures.gemini",
    "tests.fixtures.twilio",
    "tests.fixtures.web",
    "tests.fixtures.aws",
    "tests.fixtures.api",
]
