"""The announcement rules as plain functions (hypothesis over mostly valid inputs)."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chatalot.domain.announcements import rules
from chatalot.domain.errors import DomainError
from tests.hypothesis_budget import pure

A, U = uuid.uuid4(), uuid.uuid4()
texts = st.text(min_size=1, max_size=rules.TITLE_MAX).filter(lambda t: t.strip())


@pure
@given(title=texts, body=st.text(min_size=1, max_size=rules.BODY_MAX))
def test_staff_publish_any_fitting_text_as_written(title: str, body: str) -> None:
    if not body.strip() or "\x00" in title + body:
        with pytest.raises(DomainError) as refused:
            rules.publish(A, title, body, author=U, author_is_staff=True)
        assert refused.value.code == "bad_request"
        return
    event = rules.publish(A, title, body, author=U, author_is_staff=True)
    assert (event.announcement_id, event.title, event.body, event.created_by) == (
        A, title, body, U)


@pure
@given(title=st.text(max_size=300), body=st.text(max_size=10))
def test_members_never_publish(title: str, body: str) -> None:
    with pytest.raises(DomainError) as refused:
        rules.publish(A, title, body, author=U, author_is_staff=False)
    assert refused.value.code == "forbidden"


@pure
@given(extra=st.integers(1, 50))
def test_over_the_limits_is_bad_request(extra: int) -> None:
    for title, body in (("t" * (rules.TITLE_MAX + extra), "b"),
                        ("t", "b" * (rules.BODY_MAX + extra))):
        with pytest.raises(DomainError) as refused:
            rules.publish(A, title, body, author=U, author_is_staff=True)
        assert refused.value.code == "bad_request"


def test_dismiss() -> None:
    with pytest.raises(DomainError) as refused:
        rules.dismiss(A, U, exists=False, already_dismissed=False)
    assert refused.value.code == "not_found"
    assert rules.dismiss(A, U, exists=True, already_dismissed=True) is None
    event = rules.dismiss(A, U, exists=True, already_dismissed=False)
    assert event is not None and (event.announcement_id, event.user_id) == (A, U)
