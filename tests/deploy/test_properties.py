"""Properties of the deployment's plain functions: the backup's table order, the log
scrubber, the correlation ids a client may choose."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from chatalot.api.correlation import MAX_LENGTH, accepted
from chatalot.backup import dependency_order
from chatalot.logs import scrub
from tests.hypothesis_budget import pure

names = st.lists(st.text("abcdefgh_", min_size=1, max_size=6), min_size=1, max_size=12,
                 unique=True)


@st.composite
def schemas(draw: st.DrawFn) -> tuple[list[str], list[tuple[str, str]]]:
    """Tables and foreign keys without cycles (each references only earlier ones in a
    hidden order), listed in any order."""
    tables = draw(names)
    edges = [(tables[i], tables[j]) for i in range(len(tables)) for j in range(i)
             if draw(st.booleans())]
    return draw(st.permutations(tables)), edges


@pure
@given(schemas())
def test_every_table_comes_after_those_it_references(
        schema: tuple[list[str], list[tuple[str, str]]]) -> None:
    tables, references = schema
    order = dependency_order(tables, references)
    assert sorted(order) == sorted(tables)
    for table, referenced in references:
        assert order.index(referenced) < order.index(table)


secret_text = st.text(st.characters(min_codepoint=33, max_codepoint=126,
                                    exclude_characters="\"'\\"), min_size=8, max_size=40)


@pure
@given(secret_text, st.sampled_from(["password", "new_password", "token", "refresh_token",
                                     "access_token", "secret", "recovery_code"]),
       st.booleans())
def test_a_secret_named_by_its_key_never_survives(secret: str, key: str, as_json: bool) -> None:
    line = (f"body {json.dumps({key: secret, 'user': 'bob'})}" if as_json
            else f"query {key}={secret}")
    cleaned = scrub(line)
    assert secret not in cleaned
    assert scrub(cleaned) == cleaned  # scrubbing twice changes nothing more


@pure
@given(st.text(max_size=150))
def test_an_accepted_correlation_id_is_safe_in_a_log_line(given_id: str) -> None:
    chosen = accepted(given_id)
    if chosen is None:
        return
    assert chosen == given_id and 0 < len(chosen) <= MAX_LENGTH
    assert chosen.isascii() and chosen.isprintable()
    assert not any(c.isspace() or c in "\"\\" for c in chosen)
