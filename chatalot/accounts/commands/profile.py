"""The member's own profile and preferences, blocks, and reports (filing and review)."""

from __future__ import annotations

import uuid

from psycopg.types.json import Jsonb

from chatalot.accounts import contracts as c
from chatalot.accounts.runtime import AccountsRuntime
from chatalot.accounts.state import load_account, lock_account
from chatalot.command_tx import CommandTx as Tx
from chatalot.command_tx import run_command
from chatalot.domain.accounts import events as ev
from chatalot.domain.accounts import rules, validation
from chatalot.domain.accounts.rules import Account
from chatalot.domain.errors import bad_request, conflict, not_found
from chatalot.domain.streams import report_stream, user_stream
from chatalot.ids import uuid7
from chatalot.request_info import RequestInfo
from event_store import NO_STREAM, ConcurrencyError

# -- profile, preferences ----------------------------------------------------------------


async def update_profile(rt: AccountsRuntime, user_id: uuid.UUID,
                         req: c.UpdateProfileRequest, info: RequestInfo) -> c.ProfileReply:
    changes: dict[str, str] = {}
    if req.display_name is not None:
        changes["display_name"] = validation.validate_display_name(req.display_name)
    for name in ("avatar_url", "banner_url"):
        value = getattr(req, name)
        if value is not None:
            changes[name] = validation.validate_url(value, name)
    limits = {"bio": (validation.BIO_MAX, True), "pronouns": (validation.PRONOUNS_MAX, False),
              "custom_status": (validation.CUSTOM_STATUS_MAX, False)}
    for name, (limit, multiline) in limits.items():
        value = getattr(req, name)
        if value is not None:
            changes[name] = validation.validate_text(value, name, limit, multiline=multiline)
    if not changes:
        raise bad_request("nothing to update")

    async def work(tx: Tx) -> None:
        await lock_account(tx, user_id)
        tx.append(user_stream(user_id), ev.ProfileUpdated(user_id=user_id, **changes))

    _, position = await run_command(
        rt.store, info.metadata("update_profile", user_id), rt.now, work)
    return c.ProfileReply(position=position, **changes)


async def update_preferences(rt: AccountsRuntime, user_id: uuid.UUID,
                             patch: dict[str, object], info: RequestInfo
                             ) -> tuple[dict[str, object], str]:
    async def work(tx: Tx) -> dict[str, object]:
        row = await tx.fetchone("SELECT preferences FROM account_users WHERE user_id = %s"
                                " FOR UPDATE", (user_id,))
        if row is None:
            raise not_found("no such user")
        merged = validation.merge_preferences(row["preferences"], patch)
        await tx.execute("UPDATE account_users SET preferences = %s WHERE user_id = %s",
                         (Jsonb(merged), user_id))
        tx.append(user_stream(user_id), ev.PreferencesUpdated(
            user_id=user_id, preferences=merged))
        return merged

    return await run_command(
        rt.store, info.metadata("update_preferences", user_id), rt.now, work)


# -- blocks, reports ---------------------------------------------------------------------


async def block(rt: AccountsRuntime, user_id: uuid.UUID, target_id: uuid.UUID,
                info: RequestInfo) -> str:
    async def work(tx: Tx) -> None:
        target = await tx.fetchone("SELECT status FROM account_users WHERE user_id = %s",
                                   (target_id,))
        if target is None or target["status"] == "deleted":
            raise not_found("no such user")
        inserted = await tx.execute(
            "INSERT INTO account_blocks (user_id, blocked_user_id) VALUES (%s, %s)"
            " ON CONFLICT DO NOTHING", (user_id, target_id)) if user_id != target_id else 0
        rules.decide_block(user_id, target_id, already=not inserted)
        tx.append(user_stream(user_id), ev.UserBlocked(
            user_id=user_id, blocked_user_id=target_id))

    _, position = await run_command(
        rt.store, info.metadata("block_user", user_id), rt.now, work)
    return position


async def unblock(rt: AccountsRuntime, user_id: uuid.UUID, target_id: uuid.UUID,
                  info: RequestInfo) -> str:
    async def work(tx: Tx) -> None:
        deleted = await tx.execute(
            "DELETE FROM account_blocks WHERE user_id = %s AND blocked_user_id = %s",
            (user_id, target_id))
        rules.decide_unblock(was_blocked=bool(deleted))
        tx.append(user_stream(user_id), ev.UserUnblocked(
            user_id=user_id, blocked_user_id=target_id))

    _, position = await run_command(
        rt.store, info.metadata("unblock_user", user_id), rt.now, work)
    return position


async def file_report(rt: AccountsRuntime, user_id: uuid.UUID, req: c.ReportRequest,
                      info: RequestInfo) -> tuple[uuid.UUID, str]:
    reason = validation.validate_text(req.reason, "reason", validation.REPORT_REASON_MAX,
                                      multiline=True)
    if not reason:
        raise bad_request("reason must not be empty")
    exists = False  # messages and files do not exist yet (later issues): none can be found
    if req.report_type == "user":
        target = await load_account(rt, req.target_id)
        exists = target is not None and target.status != "deleted"
    rules.check_report_target(req.report_type, reporter_id=user_id, target_id=req.target_id,
                              target_exists=exists)
    report_id = uuid7()

    async def work(tx: Tx) -> None:
        tx.append(report_stream(report_id), ev.ReportFiled(
            report_id=report_id, reporter_id=user_id, report_type=req.report_type,
            target_id=req.target_id, reason=reason), expected=NO_STREAM)

    _, position = await run_command(
        rt.store, info.metadata("file_report", user_id), rt.now, work)
    return report_id, position


async def review_report(rt: AccountsRuntime, actor: Account, report_id: uuid.UUID,
                        req: c.ReviewReportRequest, info: RequestInfo) -> str:
    """Decision state from the report's own (small) stream, with optimistic concurrency."""
    stream = report_stream(report_id)
    history = await rt.store.read_stream(stream)
    status: str | None = None
    for recorded in history:
        if isinstance(recorded.data, ev.ReportFiled):
            status = "pending"
        elif isinstance(recorded.data, ev.ReportReviewed):
            status = recorded.data.status
    rules.decide_review(status, req.status)
    notes = validation.validate_text(req.admin_notes, "admin_notes", validation.ADMIN_NOTES_MAX,
                                multiline=True) if req.admin_notes else None

    async def work(tx: Tx) -> None:
        tx.append(stream, ev.ReportReviewed(
            report_id=report_id, reviewer_id=actor.user_id, status=req.status,
            admin_notes=notes), expected=history[-1].version)

    try:
        # one attempt: the decision was taken on the history read above, so a lost race
        # is the reviewer's to settle (409), not a retry's
        _, position = await run_command(
            rt.store, info.metadata("review_report", actor.user_id), rt.now, work, attempts=1)
    except ConcurrencyError:
        raise conflict("the report changed meanwhile; reload it") from None
    return position
