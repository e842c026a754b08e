"""What a model call cost, from its token counts and the configured price table."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

import structlog

from figsync_summarizer.settings import ModelPrice

log = structlog.get_logger("figsync.summarizer.pricing")

MILLION = Decimal(1_000_000)


def price_for(prices: Mapping[str, ModelPrice], model: str) -> ModelPrice:
    """The model's price: its own entry, else the longest entry its id starts with (a dated id),
    else the dearest entry — an unknown model must not make the budget look unspent."""
    if model in prices:
        return prices[model]
    prefixes = [name for name in prices if model.startswith(name)]
    if prefixes:
        return prices[max(prefixes, key=len)]
    dearest = max(prices.values(), key=lambda p: (p.output, p.input))
    log.warning("no price for model; charging the dearest listed price", model=model)
    return dearest


def cost_usd(price: ModelPrice, input_tokens: int, output_tokens: int) -> Decimal:
    """USD for one call (prompts past the long-context threshold pay that tier for the call)."""
    input_rate, output_rate = price.input, price.output
    if price.long_context_tokens is not None and input_tokens > price.long_context_tokens:
        input_rate = price.long_input if price.long_input is not None else input_rate
        output_rate = price.long_output if price.long_output is not None else output_rate
    return (Decimal(input_tokens) * input_rate + Decimal(output_tokens) * output_rate) / MILLION
