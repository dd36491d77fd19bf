"""Reading price books: the only I/O of the pricing package, kept out of rating.

YAML floats are read as exact Decimals (their text), never as binary floats.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from pricing.pricebook import Allowance, PriceBook, Product
from pricing.pricebook_charges import PerBlockSpec

PRICEBOOK_DIR = Path(__file__).with_name("pricebooks")


class PriceBookError(ValueError):
    """A price book that does not validate; `problems` holds (dotted path, message)."""

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.source = source
        self.problems = problems
        listing = "; ".join(f"{path}: {message}" for path, message in problems)
        super().__init__(f"invalid price book {source}: {listing}")


class _DecimalLoader(yaml.SafeLoader):
    pass


def _decimal(loader: yaml.SafeLoader, node: yaml.Node) -> Decimal:
    text = str(loader.construct_scalar(node))  # type: ignore[arg-type]
    return Decimal(text.replace("_", ""))


_DecimalLoader.add_constructor("tag:yaml.org,2002:float", _decimal)


def dotted(loc: tuple[int | str, ...]) -> str:
    """A pydantic error location as a dotted path, e.g. products.0.plans.2.fee."""
    return ".".join(str(part) for part in loc) or "<root>"


def available_pricebooks() -> list[str]:
    return sorted(p.stem for p in PRICEBOOK_DIR.glob("*.yaml"))


def reference_books(default: PriceBook) -> dict[str, PriceBook]:
    """Every reference price book by name, with `default` (maybe from a path) among them."""
    books = {name: load_pricebook(name) for name in available_pricebooks()}
    books[default.name] = default
    return books


def load_pricebook(name_or_path: str | Path) -> PriceBook:
    """Load a reference price book by name (e.g. "marketing_tiers") or a YAML file path."""
    path = Path(name_or_path)
    if not path.suffix and not path.exists():
        path = PRICEBOOK_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        names = ", ".join(available_pricebooks())
        raise FileNotFoundError(f"no price book {name_or_path!r} (reference books: {names})")
    return parse_pricebook_text(path.read_text(encoding="utf-8"), source=str(path))


def parse_pricebook_text(text: str, source: str = "<text>") -> PriceBook:
    """A price book from its YAML (or JSON) text; bad YAML is a `PriceBookError` too."""
    try:
        data = yaml.load(text, Loader=_DecimalLoader)
    except yaml.YAMLError as exc:
        raise PriceBookError(source, [("<yaml>", str(exc).replace("\n", " "))]) from None
    return parse_pricebook(data, source=source)


def parse_pricebook(data: Any, source: str = "<data>") -> PriceBook:
    """Validate a price book given as plain data (as read from YAML or JSON)."""
    try:
        book = PriceBook.model_validate(data)
    except ValidationError as exc:
        problems = [(dotted(err["loc"]), err["msg"]) for err in exc.errors()]
        raise PriceBookError(source, problems) from None
    problems = list(check_references(book))
    if problems:
        raise PriceBookError(source, problems)
    return book


def check_references(book: PriceBook) -> Iterator[tuple[str, str]]:
    """Every cross-reference problem of a structurally valid price book, with its path."""
    seen_products: set[str] = set()
    for p_index, product in enumerate(book.products):
        where = f"products.{p_index}"
        if product.id in seen_products:
            yield f"{where}.id", f"duplicate product {product.id!r}"
        seen_products.add(product.id)
        yield from _check_product(book.meters, product, where)
    for meter in book.alerts:
        if meter not in book.meters:
            yield f"alerts.{meter}", f"unknown meter {meter!r}"


def _check_product(
    meters: Mapping[str, object], product: Product, where: str
) -> Iterator[tuple[str, str]]:
    for field in (
        "send_limit_meter",
        "auto_downgrade_meter",
        "upgrade_next_cycle_meter",
        "follow_meter",
        "downgrade_guard_meter",
        "seats_meter",
    ):
        meter = getattr(product, field)
        if meter is not None and meter not in meters:
            yield f"{where}.{field}", f"unknown meter {meter!r}"
    if "flex" not in product.policies and product.auto_downgrade_meter is not None:
        yield f"{where}.auto_downgrade_meter", "auto_downgrade needs the flex policy"
    if set(product.policies) - {"none"} and product.send_limit_meter is None:
        yield f"{where}.policies", "limit policies need a send_limit_meter"
    seen: set[str] = set()
    for index, plan in enumerate(product.plans):
        at = f"{where}.plans.{index}"
        if plan.id in seen:
            yield f"{at}.id", f"duplicate plan {plan.id!r}"
        seen.add(plan.id)
        for group in ("limits", "overage", "usage"):
            for meter in getattr(plan, group):
                if meter not in meters:
                    yield f"{at}.{group}.{meter}", f"unknown meter {meter!r}"
        for meter, spec in plan.overage.items():
            if meter not in plan.limits:
                yield f"{at}.overage.{meter}", "an overage needs a limit on the same meter"
            elif (
                isinstance(spec, PerBlockSpec)
                and spec.block_price is None
                and isinstance(plan.limits[meter], Allowance)
            ):
                yield f"{at}.overage.{meter}.block_price", "cannot be derived from an allowance"
    yield from _check_ladder(product, where)


def _check_ladder(product: Product, where: str) -> Iterator[tuple[str, str]]:
    """Ladder order: fees and the governed limits never fall as the ladder rises."""
    governed = {
        m
        for m in (product.send_limit_meter, product.follow_meter, product.upgrade_next_cycle_meter)
        if m is not None
    }
    for index in range(1, len(product.plans)):
        lower, upper = product.plans[index - 1], product.plans[index]
        at = f"{where}.plans.{index}"
        if upper.fee < lower.fee:
            yield f"{at}.fee", "fees must not fall as the ladder rises"
        for meter in sorted(governed):
            a, b = lower.limits.get(meter), upper.limits.get(meter)
            if a is None or b is None:
                yield f"{at}.limits.{meter}", "every plan of the ladder needs this limit"
            elif isinstance(a, Decimal) and isinstance(b, Decimal) and b < a:
                yield f"{at}.limits.{meter}", "limits must not fall as the ladder rises"
