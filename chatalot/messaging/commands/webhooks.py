"""Incoming webhooks: created, changed and deleted by the channel's admins
(permissions.require_manage); executed with the token alone, rate limited per webhook.
docs/messaging.md."""

from __future__ import annotations

import uuid

from chatalot.command_tx import CommandTx as Tx
from chatalot.contracts import iso
from chatalot.domain.errors import DomainError, not_found
from chatalot.domain.messaging import events as ev
from chatalot.domain.messaging import rules
from chatalot.domain.messaging import webhooks as wh
from chatalot.domain.spaces import permissions
from chatalot.domain.streams import webhook_stream
from chatalot.ids import uuid7
from chatalot.messaging import contracts as c
from chatalot.messaging.commands.messages import record_message
from chatalot.messaging.commands.state import run
from chatalot.messaging.runtime import MessagingRuntime
from chatalot.request_info import RequestInfo
from chatalot.spaces.access import load_channel_access
from event_store import NO_STREAM

NOBODY = uuid.UUID(int=0)


async def create_webhook(rt: MessagingRuntime, actor: uuid.UUID, channel_id: uuid.UUID,
                         req: c.CreateWebhook, info: RequestInfo) -> tuple[c.Webhook, str]:
    """The reply carries the token, this once."""
    meta = info.metadata("create_webhook", actor)
    webhook_id, token = uuid7(), wh.new_token()

    async def work(tx: Tx) -> c.Webhook:
        access = await load_channel_access(tx.conn, channel_id, actor, lock=True)
        permissions.require_manage(access)
        await tx.execute(
            "INSERT INTO messaging_webhooks (webhook_id, channel_id, token_hash, name,"
            " avatar_url) VALUES (%s, %s, %s, %s, %s)",
            (webhook_id, channel_id, wh.token_hash(token), req.name, req.avatar_url))
        tx.append(webhook_stream(webhook_id), ev.WebhookCreated(
            webhook_id=webhook_id, channel_id=channel_id, name=req.name,
            avatar_url=req.avatar_url, created_by=actor), expected=NO_STREAM)
        return c.Webhook(id=webhook_id, channel_id=channel_id, name=req.name,
                         avatar_url=req.avatar_url, active=True, created_by=actor,
                         created_at=iso(tx.now), token=token)

    hook, position = await run(rt, meta, work)
    hook.position = position
    return hook, position


async def _managed(tx: Tx, webhook_id: uuid.UUID, actor: uuid.UUID) -> dict[str, object]:
    row = await tx.fetchone(
        "SELECT channel_id, name, avatar_url, active FROM messaging_webhooks"
        " WHERE webhook_id = %s FOR UPDATE", (webhook_id,))
    if row is None:
        raise not_found("no such webhook")
    permissions.require_manage(await load_channel_access(tx.conn, row["channel_id"], actor))
    return row


async def update_webhook(rt: MessagingRuntime, actor: uuid.UUID, webhook_id: uuid.UUID,
                         req: c.UpdateWebhook, info: RequestInfo) -> tuple[c.Position, str]:
    meta = info.metadata("update_webhook", actor)

    async def work(tx: Tx) -> None:
        row = await _managed(tx, webhook_id, actor)
        name = req.name if req.name is not None else str(row["name"])
        avatar = req.avatar_url if req.avatar_url is not None else row["avatar_url"]
        active = req.active if req.active is not None else bool(row["active"])
        await tx.execute("UPDATE messaging_webhooks SET name = %s, avatar_url = %s,"
                         " active = %s WHERE webhook_id = %s", (name, avatar, active, webhook_id))
        tx.append(webhook_stream(webhook_id), ev.WebhookUpdated(
            webhook_id=webhook_id, channel_id=row["channel_id"],  # type: ignore[arg-type]
            name=name, avatar_url=avatar, active=active))  # type: ignore[arg-type]

    _, position = await run(rt, meta, work)
    return c.Position(position=position), position


async def delete_webhook(rt: MessagingRuntime, actor: uuid.UUID, webhook_id: uuid.UUID,
                         info: RequestInfo) -> tuple[c.Position, str]:
    meta = info.metadata("delete_webhook", actor)

    async def work(tx: Tx) -> None:
        row = await _managed(tx, webhook_id, actor)
        await tx.execute("DELETE FROM messaging_webhooks WHERE webhook_id = %s", (webhook_id,))
        tx.append(webhook_stream(webhook_id), ev.WebhookDeleted(
            webhook_id=webhook_id, channel_id=row["channel_id"]))  # type: ignore[arg-type]

    _, position = await run(rt, meta, work)
    return c.Position(position=position), position


async def execute_webhook(rt: MessagingRuntime, token: str, req: c.ExecuteWebhook,
                          info: RequestInfo) -> tuple[c.MessageSentReply, str]:
    """Post as the webhook: 404 for an unknown or inactive token (nothing tells a guess
    apart), 429 over its rate, 403 read_only in an archived channel, 422 e2e_required
    in an E2E channel (a webhook's message is plain text)."""
    if len(token) > 128:
        raise not_found("no such webhook")
    body = wh.body_of(req.content)
    rules.check_body(body, "", "none", rt.max_message_bytes)
    async with rt.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT webhook_id FROM messaging_webhooks WHERE token_hash = %s AND active",
            (wh.token_hash(token),))
        found = await cur.fetchone()
    if found is None:
        raise not_found("no such webhook")
    decision = await rt.limiter.hit(*wh.execute_bucket(found[0]))
    if not decision.allowed:
        raise DomainError("rate_limited", "this webhook posts too often",
                          retry_after_secs=decision.retry_after_secs)
    meta = info.metadata("execute_webhook", None)
    message_id = uuid7()

    async def work(tx: Tx) -> c.MessageSentReply:
        hook = await tx.fetchone(
            "SELECT webhook_id, channel_id, name, avatar_url FROM messaging_webhooks"
            " WHERE token_hash = %s AND active FOR SHARE", (wh.token_hash(token),))
        if hook is None:
            raise not_found("no such webhook")
        # the channel's own state (the webhook is no member: nobody's access is asked)
        access = await load_channel_access(tx.conn, hook["channel_id"], NOBODY)
        if access.archived:
            raise DomainError("read_only", "this channel is archived")
        rules.check_encryption("none", access.e2e_required)
        req_ = c.SendMessage(ciphertext=body, encryption="none", message_type="webhook")
        await record_message(
            tx, hook["channel_id"], None, message_id, req_, [],
            webhook_id=hook["webhook_id"], webhook_name=req.username or hook["name"],
            webhook_avatar=req.avatar_url or hook["avatar_url"])
        return c.MessageSentReply(id=message_id, channel_id=hook["channel_id"],
                                  client_id=None, created_at=iso(tx.now), position="")

    reply, position = await run(rt, meta, work)
    reply.position = position
    return reply, position
