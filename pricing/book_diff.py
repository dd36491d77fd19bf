"""What a candidate price book changes against the book it would replace (pure).

Both books are flattened to dotted paths: lists of objects that carry an `id` (products,
plans) are keyed by that id, so a plan moved in its ladder is a change of nothing but a
plan added or removed is one line, and every other list is one value. Each difference is
a `BookChange`: `added`, `removed` or `changed`, with the value before and after
(JSON-ready: money and quantities as strings, as the book's own YAML writes them).
Order: the products' and plans' order in the books, then the path.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from pricing.pricebook import PriceBook

ChangeKind = Literal["added", "removed", "changed"]
Flat = dict[str, Any]


class BookChange(BaseModel):
    model_config = ConfigDict(frozen=True)

    path: str
    """e.g. `products.email.plans.email-7k.fee`, `meters.email.sent.unit`."""
    kind: ChangeKind
    before: Any = None
    after: Any = None

    def describe(self) -> str:
        if self.kind == "added":
            return f"+ {self.path}: {_show(self.after)}"
        if self.kind == "removed":
            return f"- {self.path}: {_show(self.before)}"
        return f"~ {self.path}: {_show(self.before)} -> {_show(self.after)}"


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_show(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return "none" if value is None else str(value)


def _keyed(items: list[Any]) -> dict[str, Any] | None:
    """A list of objects with unique ids, as a dict by id (None if it is not one)."""
    if not items or not all(isinstance(i, dict) and isinstance(i.get("id"), str)
                            for i in items):
        return None
    ids = [i["id"] for i in items]
    return {i["id"]: {k: v for k, v in i.items() if k != "id"} for i in items} \
        if len(set(ids)) == len(ids) else None


def _flatten(value: Any, path: str, out: Flat) -> None:
    if isinstance(value, list) and (keyed := _keyed(value)) is not None:
        value = keyed
    if isinstance(value, dict):  # an empty mapping is the same as none at all
        for key, inner in value.items():
            _flatten(inner, f"{path}.{key}" if path else str(key), out)
    else:
        out[path] = value


def flatten(book: PriceBook) -> Flat:
    """The book as dotted path -> JSON value (`name` and `version` excluded: a candidate
    is another version of the same book)."""
    doc = book.model_dump(mode="json", exclude={"name", "version"})
    out: Flat = {}
    _flatten(doc, "", out)
    return out


def _inside(path: str, prefixes: set[str]) -> bool:
    return any(path.startswith(p + ".") for p in prefixes)


def book_changes(current: PriceBook, candidate: PriceBook) -> list[BookChange]:
    """Every difference of `candidate` from `current`; a product or plan added or removed
    is one line (its fields are not repeated)."""
    before, after = flatten(current), flatten(candidate)
    whole: list[BookChange] = []
    gone, new = set[str](), set[str]()
    for side, other, kind, into in ((current, candidate, "removed", gone),
                                    (candidate, current, "added", new)):
        theirs = {p.id: {q.id for q in p.plans} for p in other.products}
        for product in side.products:
            if product.id not in theirs:
                path = f"products.{product.id}"
                into.add(path)
                whole.append(_whole(kind, path, product.model_dump(mode="json")))
                continue
            for plan in product.plans:
                if plan.id not in theirs[product.id]:
                    path = f"products.{product.id}.plans.{plan.id}"
                    into.add(path)
                    whole.append(_whole(kind, path, plan.model_dump(mode="json")))
    fields: list[BookChange] = []
    for path in sorted(before.keys() | after.keys()):
        if _inside(path, gone | new):
            continue
        if path not in after:
            fields.append(BookChange(path=path, kind="removed", before=before[path]))
        elif path not in before:
            fields.append(BookChange(path=path, kind="added", after=after[path]))
        elif before[path] != after[path]:
            fields.append(BookChange(path=path, kind="changed", before=before[path],
                                     after=after[path]))
    return whole + fields


def _whole(kind: str, path: str, value: dict[str, Any]) -> BookChange:
    body = {k: v for k, v in value.items() if k != "id"}
    if kind == "removed":
        return BookChange(path=path, kind="removed", before=body)
    return BookChange(path=path, kind="added", after=body)
