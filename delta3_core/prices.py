"""Gemini prices per million tokens, to estimate what a user's usage costs on their own key.

Source: Google's pricing page (https://ai.google.dev/gemini-api/docs/pricing), standard paid tier,
prompts up to 200k tokens, as listed on 2026-11-30. Thinking tokens are billed as output.
The operator replaces this table with DELTA3_PRICES: JSON of this shape, or the path of a file holding it:
    {"source_date": "2026-11-30", "models": {"gemini-2.5-flash": {"input": 0.30, "output": 2.50}}}
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigError

SOURCE_DATE = "2026-11-30"
SOURCE_URL = "https://ai.google.dev/gemini-api/docs/pricing"
# model name (or prefix of its versioned names) -> US dollars per million (input, output) tokens
BUILT_IN: dict[str, tuple[float, float]] = {
    "gemini-3.5-flash": (1.50, 9.00),
    "gemini-3.1-pro": (2.00, 12.00),
    "gemini-3.1-flash-lite": (0.25, 1.50),
    "gemini-3-flash": (0.50, 3.00),
    "gemini-2.5-pro": (1.25, 10.00),
    "gemini-2.5-flash": (0.30, 2.50),
    "gemini-2.5-flash-lite": (0.10, 0.40),
    "gemini-2.0-flash": (0.10, 0.40),
}


@dataclass(frozen=True)
class PriceTable:
    """Prices by model, and the date they were read from their source."""

    source_date: str
    models: dict[str, tuple[float, float]] = field(default_factory=dict)

    def price_of(self, model: str) -> tuple[float, float] | None:
        """(input, output) dollars per million tokens: the exact name, else the longest matching prefix."""
        name = model.removeprefix("models/")
        if name in self.models:
            return self.models[name]
        matches = [known for known in self.models if name.startswith(known + "-")]
        return self.models[max(matches, key=len)] if matches else None

    def cost(self, model: str, tokens_in: int, tokens_out: int, tokens_thinking: int = 0) -> float | None:
        """Estimated US dollars, or None for a model the table does not know."""
        price = self.price_of(model)
        if price is None:
            return None
        return (tokens_in * price[0] + (tokens_out + tokens_thinking) * price[1]) / 1_000_000


def load_prices(prices: str | None = None) -> PriceTable:
    """The operator's table (JSON text or a file path) if given, else the built-in one; ConfigError if malformed."""
    if not prices:
        return PriceTable(SOURCE_DATE, dict(BUILT_IN))
    try:
        data = json.loads(prices if prices.lstrip().startswith("{") else Path(prices).expanduser().read_text())
        models = {str(name): (float(p["input"]), float(p["output"])) for name, p in data["models"].items()}
        if any(value < 0 for pair in models.values() for value in pair):
            raise ValueError("negative price")
        return PriceTable(str(data.get("source_date", "unknown")), models)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"DELTA3_PRICES is not a valid price table ({type(exc).__name__}: {exc}).") from None
