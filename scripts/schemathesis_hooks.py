"""Rules between fields that a JSON schema does not state, for scripts/schemathesis.

Each filter drops generated requests that break one of them, so that a request
the run calls valid is one the server must accept. The server enforces every
rule and docs/API.md lists them; these filters apply to valid data only (the
negative phase is not filtered).
"""

import base64

import schemathesis
from hypothesis import strategies as st

DATE_RANGE_ROUTES = ("usage", "consumption", "events.csv", "timeseries")
FORMULA_EXAMPLE = "greatest(sum(totalMinutes) - 50000, 0)"
NEEDS_PROPERTY = {"sum", "min", "max", "avg", "unique_count", "latest"}


# Webhook endpoint URLs and secrets are custom formats: whether a URL may be
# an endpoint's depends on where its host is (docs/webhooks.md), which no
# schema says. Valid data gets public address literals (no lookup, and the
# server never reaches them during the run) and well-formed secrets.
schemathesis.openapi.format(
    "webhook-url",
    st.builds(
        "https://93.184.{}.{}/{}".format,
        st.integers(0, 255),
        st.integers(1, 254),
        st.from_regex(r"\A[a-z0-9/_-]{0,40}\Z"),
    ),
)
schemathesis.openapi.format(
    "webhook-secret",
    st.binary(min_size=16, max_size=64).map(
        lambda key: "whsec_" + base64.b64encode(key).decode()
    ),
)


@schemathesis.hook
def filter_query(ctx, query):
    """`start_date` before `end_date`. One given alone meets the other's default
    (the current period), which may fall on either side of it: both or none."""
    if not query or not any(part in ctx.operation.path for part in DATE_RANGE_ROUTES):
        return True
    start, end = query.get("start_date"), query.get("end_date")
    if start is None and end is None:
        return True
    if start is None or end is None:
        return False
    start, end = _instant(start), _instant(end)
    if start is None or end is None:
        return True  # not a valid instant: a negative case, left as generated
    bucket_ms = {"hour": 3_600_000, "day": 86_400_000, "month": 28 * 86_400_000}
    group_by = query.get("group_by")
    group_by = group_by if isinstance(group_by, str) else "day"
    buckets = (end - start) / bucket_ms.get(group_by, 86_400_000)
    # A time series has at most 1000 buckets.
    return start < end and ("timeseries" not in ctx.operation.path or buckets <= 1000)


@schemathesis.hook
def filter_body(ctx, body):
    """Every number has an exact decimal form (at most 28 decimal places, below
    7.9e28); an aggregator's operation names what it needs; a filter's
    operator its value."""
    if not _exact_numbers(body):
        return False
    if not isinstance(body, dict):
        return True
    if ctx.operation.path == "/v1/features" and ctx.operation.method.upper() == "POST":
        return _feature_ok(body)
    if ctx.operation.path.startswith("/v1/products"):
        # A new product's prices are in effect since always.
        if ctx.operation.method.upper() == "POST" and body.get("effective_from") is not None:
            return False
        return _product_ok(body)
    if not ctx.operation.path.startswith("/v1/aggregators"):
        return True
    operation = body.get("operation")
    if (operation in NEEDS_PROPERTY) != bool(body.get("property")):
        return False
    if (operation == "formula") != (body.get("formula") is not None):
        return False
    # A formula has a grammar of its own (docs/aggregation.md): the run sends
    # the documented example rather than random text.
    if operation == "formula" and body.get("formula") != FORMULA_EXAMPLE:
        return False
    filters = body.get("filters")
    filters = filters if isinstance(filters, list) else []
    # An id sent back names one of the aggregator's own filters, which a
    # generated request cannot know: new filters only.
    if ctx.operation.method.upper() == "PUT" and any(
        isinstance(f, dict) and f.get("id") is not None for f in filters
    ):
        return False
    trees = [body.get("where")] + [f.get("where") for f in filters if isinstance(f, dict)]
    return all(_tree_ok(tree) for tree in trees) and _thresholds_ok(body.get("thresholds"))


def _thresholds_ok(thresholds):
    """No two thresholds with the same comparison and value (they would
    share one state, docs/entitlements.md)."""
    if not isinstance(thresholds, list):
        return True
    keys = []
    for threshold in thresholds:
        if not isinstance(threshold, dict):
            continue
        key = (threshold.get("comparison_operator", "gte"), _number(threshold.get("threshold_value")))
        if key in keys:
            return False
        keys.append(key)
    return True


def _feature_ok(body):
    """A boolean feature has a boolean default and no aggregator, strategy or
    thresholds; a number feature's default is no boolean, and its filter and
    thresholds need its aggregator; percents are distinct."""
    default = body.get("default_value")
    percents = body.get("threshold_percents")
    percents = percents if isinstance(percents, list) else []
    if body.get("value_type") == "boolean":
        if "default_value" in body and not isinstance(default, bool):
            return False
        return all(
            body.get(key) in (None, [])
            for key in ("aggregator_id", "aggregator_filter_id", "resolution_strategy", "threshold_percents")
        )
    if isinstance(default, bool):
        return False
    if body.get("aggregator_id") is None and (body.get("aggregator_filter_id") is not None or percents):
        return False
    numbers = [_number(p) for p in percents]
    return len(set(numbers)) == len(numbers)


def _product_ok(body):
    """A fee names no aggregator or filter; bounds in order; tiers rising, the
    last one alone open; a package holds something; a floor under its cap."""
    if body.get("type") == "usage" and body.get("aggregator_id") is None:
        return False
    groups = body.get("price_groups")
    groups = groups if isinstance(groups, list) else []
    if body.get("type") == "fee" and (
        body.get("aggregator_id") is not None
        or any(isinstance(g, dict) and g.get("aggregator_filter_id") is not None for g in groups)
    ):
        return False
    if not _ordered(body.get("min_amount"), body.get("max_amount")):
        return False
    for group in groups:
        price = group.get("price") if isinstance(group, dict) else None
        if not isinstance(price, dict):
            continue
        if price.get("type") == "percentage" and body.get("type") == "fee":
            return False
        if price.get("type") == "package" and _number(price.get("package_size")) == 0:
            return False
        if not _ordered(price.get("per_event_floor"), price.get("per_event_cap")):
            return False
        tiers = price.get("tiers")
        if isinstance(tiers, list):
            bounds = [tier.get("up_to") if isinstance(tier, dict) else None for tier in tiers]
            if not tiers or any(bound is None for bound in bounds[:-1]):
                return False
            closed = [n for n in (_number(bound) for bound in bounds) if n is not None]
            if any(b <= a for a, b in zip(closed, closed[1:])) or (closed and closed[0] <= 0):
                return False
    return True


def _number(value):
    """The decimal a value stands for; None for none or for a value that is
    no number (a negative case, left as generated)."""
    from decimal import Decimal, InvalidOperation

    if value is None or isinstance(value, (bool, list, dict)):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _ordered(low, high):
    low, high = _number(low), _number(high)
    return low is None or high is None or low <= high


def _tree_ok(tree):
    if not isinstance(tree, dict):
        return True
    fields = tree.get("fields")
    for field in fields if isinstance(fields, list) else []:
        if not isinstance(field, dict):
            continue
        if "conditional" in field:
            if not _tree_ok(field):
                return False
            continue
        operator, value = field.get("operator"), field.get("value")
        # `is_null` and `is_not_null` (either spelling) take no value; every
        # other operator compares with one.
        takes_none = isinstance(operator, str) and "null" in operator.lower()
        if takes_none == ("value" in field and value is not None):
            return False
        if operator in ("in", "not_in") and not isinstance(value, list):
            return False
        if operator not in ("in", "not_in") and isinstance(value, list):
            return False
    return True


def _exact_numbers(value):
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return True
    if isinstance(value, (int, float)):
        return value == 0 or (abs(value) < 7.9e28 and _decimal_places(value) <= 28)
    if isinstance(value, list):
        return all(_exact_numbers(item) for item in value)
    if isinstance(value, dict):
        return all(_exact_numbers(item) for item in value.values())
    return True


def _decimal_places(number):
    from decimal import Decimal

    exponent = Decimal(repr(number)).as_tuple().exponent
    return max(0, -exponent)


def _instant(text):
    """Comparable form of a date, a date-time or epoch milliseconds."""
    from datetime import datetime, timezone

    if not isinstance(text, str):
        return None
    if text.isdigit():
        return int(text)
    if len(text) == 10:
        text += "T00:00:00Z"
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=timezone.utc)
    return int(at.astimezone(timezone.utc).timestamp() * 1000)
