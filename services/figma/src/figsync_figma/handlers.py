"""The figma step: from an email or a webhook comment to the comment's whole thread."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from figsync_clients.figma import FigmaComment, FigmaUser, comment_url, team_per_minute
from figsync_contracts import (
    CommentClaimed,
    CommentReceived,
    EmailReceived,
    JobIgnored,
    ManualSyncCompleted,
    ManualSyncRequested,
    ThreadComment,
    ThreadResolved,
    ThreadUpdated,
    comment_claim_stream_id,
    comment_job_id,
    new_envelope,
)
from figsync_eventstore import Appended, Conflict, EventStore, RecordedEvent
from figsync_figma.links import LinkRefused, file_key_from_url
from figsync_figma.match import Candidate, best_match
from figsync_figma.parse import EmailParseError, ParsedEmail, parse_email
from figsync_runtime import PermanentError, StepContext
from figsync_runtime.steps import append_after
from figsync_runtime.teams import TeamSettings
from figsync_runtime.threads import ThreadRegistry
from figsync_runtime.tracing import current_traceparent

_SPACES = re.compile(r"\s+")


class FigmaApi(Protocol):
    async def comments(
        self, token: str, file_key: str, *, per_minute: float | None = None, max_age: float = 0.0
    ) -> list[FigmaComment]: ...

    async def me(self, token: str, *, per_minute: float | None = None) -> FigmaUser: ...


class Teams(Protocol):
    async def get(self, team: str) -> TeamSettings | None: ...

    async def get_secret(self, team: str, name: str) -> str | None: ...


@dataclass
class Deps:
    figma: FigmaApi
    teams: Teams
    resolve_link: Callable[[str], Awaitable[str]]
    match_threshold: float = 0.6
    # Jobs on the same file within this many seconds share one comments read (all replicas).
    comments_max_age: float = 30.0
    # Tracked threads (one thread, one task); None: every comment is a job of its own.
    threads: ThreadRegistry | None = None
    _selves: dict[str, FigmaUser] = field(default_factory=dict)

    async def self_user(self, token: str, team: TeamSettings) -> FigmaUser:
        """The Figma user figsync posts as (its confirmations must never become jobs). Paced at
        the team's rate like every call on the token's shared budget."""
        if token not in self._selves:
            self._selves[token] = await self.figma.me(token, per_minute=team_per_minute(team))
        return self._selves[token]

    async def comments(
        self, token: str, file_key: str, team: TeamSettings, *, fresh: bool = False
    ) -> list[FigmaComment]:
        """The file's comments, from a read shared with other jobs unless `fresh`."""
        return await self.figma.comments(
            token, file_key, per_minute=team_per_minute(team),
            max_age=0.0 if fresh else self.comments_max_age,
        )  # fmt: skip


async def _is_own(
    deps: Deps, token: str, team: TeamSettings, author_id: str | None, author: str | None
) -> bool:
    me = await deps.self_user(token, team)
    if author_id and me.id:
        return author_id == me.id
    return bool(author) and handle_key(author or "") == handle_key(me.handle)


async def _ignore_own(ctx: StepContext, comment_id: str) -> None:
    await ctx.emit(
        JobIgnored(
            reason="own_comment",
            detail=f"comment {comment_id} was posted by figsync itself (a confirmation)",
        )
    )


def handle_key(handle: str) -> str:
    return _SPACES.sub(" ", handle.strip().lstrip("@")).casefold()


def tracked_mentions(mentions: Sequence[str], tracked: Sequence[str]) -> list[str]:
    """The mentions that are tracked. With no tracked handles configured, every mention is."""
    if not tracked:
        return list(mentions)
    wanted = {handle_key(t) for t in tracked}
    return [m for m in mentions if handle_key(m) in wanted]


# "@" not inside a word or an e-mail address, then the handle's first word.
_ANY_MENTION = re.compile(r"(?<![\w.@])@([^\W_][\w.\-]*)")


def mentions_in_text(text: str, tracked: Sequence[str]) -> list[str]:
    """Tracked handles written in a comment's text (handles may have spaces, dots, dashes).
    With no tracked handles every mention counts: then each `@` word is one (the REST API's
    text does not say where a name with spaces ends, so only its first word is kept)."""
    if not tracked:
        return list(dict.fromkeys("@" + m.rstrip(".-") for m in _ANY_MENTION.findall(text)))
    lowered = _SPACES.sub(" ", text).casefold()
    found = []
    for handle in tracked:
        needle = "@" + handle_key(handle)
        at = lowered.find(needle)
        while at != -1:
            after = lowered[at + len(needle) : at + len(needle) + 1]
            if not after or not (after.isalnum() or after in "_-"):
                found.append("@" + handle.strip().lstrip("@"))
                break
            at = lowered.find(needle, at + 1)
    return found


async def _team(ctx: StepContext, deps: Deps) -> TeamSettings:
    return await deps.teams.get(ctx.team) or TeamSettings(team=ctx.team)


async def _token(ctx: StepContext, deps: Deps) -> str:
    token = await deps.teams.get_secret(ctx.team, "figma_token")
    if not token:
        raise PermanentError(
            "figma.unauthorized",
            f"team {ctx.team!r} has no Figma token; set FIGMA_API_TOKEN or the team's figma_token",
        )
    return token


async def _file_key(parsed: ParsedEmail, deps: Deps) -> str:
    if parsed.file_key:
        return parsed.file_key
    refusals = []
    links = [parsed.view_link] if parsed.view_link else []
    links += [link for link in parsed.tracking_links if link != parsed.view_link]
    for link in links[:3]:
        try:
            target = await deps.resolve_link(link)
        except LinkRefused as refused:
            refusals.append(str(refused))
            continue
        if key := file_key_from_url(target):
            return key
    raise PermanentError(
        "figma.file_key_not_found",
        "the email names no file: no comments-<FILEKEY>@email.figma.com sender and no "
        "tracking link led to a Figma file",
        context={"refused_links": refusals},
    )


async def on_email(ctx: StepContext, deps: Deps) -> None:
    """EmailReceived: parse, check the mention, find the comment, rebuild its thread."""
    email = ctx.event()
    assert isinstance(email, EmailReceived)
    try:
        parsed = parse_email(email.html, email.sender)
    except EmailParseError as error:
        raise PermanentError("figma.unparseable_email", str(error)) from error
    if parsed.kind == "other":
        await ctx.emit(
            JobIgnored(reason="not_comment_email", detail=parsed.headline or email.subject[:200])
        )
        return
    team = await _team(ctx, deps)
    matched = tracked_mentions(parsed.mentions, team.tracked_mentions)
    # A comment without a tracked mention may still belong to a tracked thread (a reply):
    # worth a look only when the email names a file that has open tracked threads.
    only_updates = not matched
    if only_updates and not await _may_update(deps, ctx.team, team, parsed.file_key):
        await ctx.emit(
            JobIgnored(
                reason="mention_not_tracked",
                detail=f"mentions {parsed.mentions or 'nobody'}; tracked: {team.tracked_mentions}",
            )
        )
        return
    file_key = await _file_key(parsed, deps)
    token = await _token(ctx, deps)
    comments = await deps.comments(token, file_key, team)
    match, top = best_match(
        comments, parsed.comment_text, parsed.author, email.sent_at, deps.match_threshold
    )
    if deps.comments_max_age > 0 and not await _surely_its_own(ctx, file_key, match):
        # The shared read may predate this comment: read once more, afresh.
        comments = await deps.comments(token, file_key, team, fresh=True)
        match, top = best_match(
            comments, parsed.comment_text, parsed.author, email.sent_at, deps.match_threshold
        )
    if match is None:
        raise PermanentError(
            "figma.comment_not_found",
            f"no comment in file {file_key} matches the email's text closely enough",
            context={"candidates": [c.describe() for c in top], "text": parsed.comment_text[:200]},
        )
    if await _is_own(deps, token, team, match.comment.user.id, match.comment.user.handle):
        await _ignore_own(ctx, match.comment.id)
        return
    await _resolve(ctx, deps, team, file_key, parsed.file_name or "", comments, match.comment,
                   matched, round(match.score, 3), origin="email",
                   only_updates=only_updates)  # fmt: skip


async def on_comment(ctx: StepContext, deps: Deps) -> None:
    """CommentReceived (webhook or manual sync): check the mention, rebuild the thread."""
    received = ctx.event()
    assert isinstance(received, CommentReceived)
    team = await _team(ctx, deps)
    token = await _token(ctx, deps)
    if await _is_own(deps, token, team, received.author_id, received.author_handle):
        await _ignore_own(ctx, received.comment_id)
        return
    mentions = received.mentions or mentions_in_text(received.text, team.tracked_mentions)
    matched = tracked_mentions(mentions, team.tracked_mentions)
    # A reply in a tracked thread updates its task, tracked mention or not.
    updating = bool(
        received.parent_id
        and deps.threads
        and team.thread_updates_enabled
        and await deps.threads.owner(ctx.team, received.file_key, received.parent_id)
    )
    if not matched and not updating:
        await ctx.emit(
            JobIgnored(
                reason="mention_not_tracked",
                detail=f"mentions {mentions or 'nobody'}; tracked: {team.tracked_mentions}",
            )
        )
        return
    if received.origin == "webhook" and not received.parent_id and received.created_at:
        # A new top-level comment is its whole thread: the webhook carried all of it.
        await _resolve(ctx, deps, team, received.file_key, received.file_name, [],
                       _as_comment(received), matched, None, origin=received.origin)  # fmt: skip
        return
    comments = await deps.comments(token, received.file_key, team)
    target = next((c for c in comments if c.id == received.comment_id), None)
    if target is None and deps.comments_max_age > 0:
        comments = await deps.comments(token, received.file_key, team, fresh=True)
        target = next((c for c in comments if c.id == received.comment_id), None)
    if target is None:
        raise PermanentError(
            "figma.comment_not_found",
            f"comment {received.comment_id} is not in file {received.file_key} (deleted?)",
        )
    if await _is_own(deps, token, team, target.user.id, target.user.handle):
        await _ignore_own(ctx, target.id)
        return
    await _resolve(ctx, deps, team, received.file_key, received.file_name, comments, target,
                   matched, None, origin=received.origin, only_updates=not matched)  # fmt: skip


async def _may_update(deps: Deps, team_id: str, team: TeamSettings, file_key: str | None) -> bool:
    return bool(
        file_key
        and deps.threads
        and team.thread_updates_enabled
        and await deps.threads.has_open(team_id, file_key)
    )


async def _surely_its_own(ctx: StepContext, file_key: str, match: Candidate | None) -> bool:
    """Whether a match found in a shared read can be trusted: its text is the email's exactly
    and no other job has the comment. Otherwise the comment may be newer than the read (a
    near-twin matched instead) and only a fresh read tells."""
    if match is None or match.text_score < 0.999:
        return False
    claim = await ctx.store.read_stream(
        comment_claim_stream_id(ctx.team, file_key, match.comment.id)
    )
    return not claim or claim[0].data.get("job_id") == ctx.job_id


def _as_comment(received: CommentReceived) -> FigmaComment:
    return FigmaComment(
        id=received.comment_id, file_key=received.file_key, parent_id=received.parent_id,
        user=FigmaUser(id=received.author_id or "", handle=received.author_handle),
        created_at=received.created_at or datetime.now(UTC), message=received.text,
    )  # fmt: skip


async def on_event(ctx: StepContext, deps: Deps) -> None:
    if ctx.input.type == EmailReceived.type:
        await on_email(ctx, deps)
    else:
        await on_comment(ctx, deps)


async def _resolve(
    ctx: StepContext,
    deps: Deps,
    team: TeamSettings,
    file_key: str,
    file_name: str,
    comments: list[FigmaComment],
    target: FigmaComment,
    mentions: list[str],
    score: float | None,
    *,
    origin: str,
    only_updates: bool = False,
) -> None:
    root_id = target.parent_id or target.id
    root = next((c for c in comments if c.id == root_id), target)
    replies = sorted((c for c in comments if c.parent_id == root_id), key=lambda c: c.created_at)
    tracking = deps.threads is not None and team.thread_updates_enabled
    if only_updates:
        known = await deps.threads.owner(ctx.team, file_key, root_id) if tracking else None
        if known is None or known == ctx.job_id:
            await ctx.emit(
                JobIgnored(
                    reason="mention_not_tracked",
                    detail=f"comment {target.id} mentions no tracked handle and its thread has "
                    "no task",
                )
            )
            return
    owner = await _claim(ctx, file_key, target.id)
    if owner != ctx.job_id:
        await ctx.emit(
            JobIgnored(
                reason="duplicate_comment",
                detail=f"comment {target.id} already has job {owner}",
                duplicate_of=owner,
            )
        )
        return
    if tracking:
        assert deps.threads is not None
        thread_owner = await deps.threads.claim(ctx.team, file_key, root_id, ctx.job_id)
        if thread_owner != ctx.job_id:
            token = await _token(ctx, deps)
            thread = await _thread_of(deps, token, team, [root, *replies])
            await forward_update(
                ctx.store, ctx.team, thread_owner, file_key, root_id, thread,
                origin=origin, from_job=ctx.job_id, source=ctx.source,
            )  # fmt: skip
            await ctx.emit(
                JobIgnored(
                    reason="thread_update",
                    detail=f"comment {target.id} is in the thread of job {thread_owner}; its task "
                    "was updated instead of making another",
                    duplicate_of=thread_owner,
                )
            )
            return
    await ctx.emit(
        ThreadResolved(
            file_key=file_key,
            file_name=file_name,
            file_url=comment_url(file_key, root_id),
            comment_id=target.id,
            root_comment_id=root_id,
            author=target.user.handle,
            text=target.message,
            mentions=mentions,
            thread=[thread_comment(c) for c in [root, *replies]],
            match_score=score,
        )
    )


async def _thread_of(
    deps: Deps, token: str, team: TeamSettings, comments: list[FigmaComment]
) -> list[ThreadComment]:
    """The thread as figsync shows it in a task: without figsync's own replies."""
    me = await deps.self_user(token, team)
    return [thread_comment(c) for c in comments if not (me.id and c.user.id == me.id)]


def thread_comment(c: FigmaComment) -> ThreadComment:
    return ThreadComment(
        comment_id=c.id, author=c.user.handle, text=c.message, created_at=c.created_at,
        resolved_at=c.resolved_at, reactions=[r.emoji for r in c.reactions],
    )  # fmt: skip


def known_comment_ids(history: Sequence[RecordedEvent]) -> set[str]:
    """Comments of the thread a job's task already knows of."""
    known: set[str] = set()
    for recorded in history:
        if recorded.type in (ThreadResolved.type, ThreadUpdated.type):
            known.update(c["comment_id"] for c in recorded.data.get("thread", []))
            if recorded.type == ThreadResolved.type:
                known.add(recorded.data["comment_id"])
    return known


async def forward_update(
    store: EventStore,
    team: str,
    owner: str,
    file_key: str,
    root_id: str,
    thread: list[ThreadComment],
    *,
    origin: str,
    from_job: str | None,
    source: str,
) -> bool:
    """Append ThreadUpdated to the owner job when the thread has comments its task does not
    know yet; a concurrent append is retried (the next attempt sees it). Returns whether it
    appended."""
    history = await store.read_stream(owner)
    new = [c.comment_id for c in thread if c.comment_id not in known_comment_ids(history)]
    if not new:
        return False
    event = ThreadUpdated(
        file_key=file_key, root_comment_id=root_id, new_comment_ids=new, thread=thread,
        origin=origin, from_job=from_job,  # type: ignore[arg-type]
    )  # fmt: skip
    await append_after(store, owner, history, event, team=team, source=source)
    return True


async def _claim(ctx: StepContext, file_key: str, comment_id: str) -> str:
    """Take the comment for this job unless another job already has it; return the owner."""
    stream = comment_claim_stream_id(ctx.team, file_key, comment_id)
    claim = new_envelope(
        CommentClaimed(job_id=ctx.job_id, file_key=file_key, comment_id=comment_id),
        stream_id=stream, team=ctx.team, source=ctx.source, causation=ctx.trigger,
        traceparent=current_traceparent(),
    )  # fmt: skip
    outcome = await ctx.store.append(stream, [claim], expected_version=0)
    if isinstance(outcome, Appended):
        return ctx.job_id
    assert isinstance(outcome, Conflict)
    first = (await ctx.store.read_stream(stream))[0]
    return str(first.data["job_id"])


async def on_manual_sync(ctx: StepContext, deps: Deps) -> None:
    """ManualSyncRequested: start a job for each comment mentioning a tracked handle that has
    no job yet (the job id derives from the comment, so a repeat starts nothing new)."""
    request = ctx.event()
    assert isinstance(request, ManualSyncRequested)
    team = await _team(ctx, deps)
    token = await _token(ctx, deps)
    comments = await deps.comments(token, request.file_key, team, fresh=True)
    started = []
    for comment in comments:
        mentions = mentions_in_text(comment.message, team.tracked_mentions)
        if not mentions or await _is_own(deps, token, team, comment.user.id, comment.user.handle):
            continue
        job = await start_comment_job(
            ctx.store, ctx.team, request.file_key, comment, mentions,
            origin="manual_sync", source=ctx.source,
        )  # fmt: skip
        if job:
            started.append(job)
    await ctx.emit(
        ManualSyncCompleted(
            file_key=request.file_key, comments_seen=len(comments), jobs_started=started
        )
    )


async def start_comment_job(
    store: EventStore,
    team: str,
    file_key: str,
    comment: FigmaComment,
    mentions: list[str],
    *,
    origin: str,
    source: str,
) -> str | None:
    """Start a job for a comment no job has taken yet (the job id derives from the comment,
    so a repeat starts nothing); returns the job id when it started one."""
    if await store.read_stream(comment_claim_stream_id(team, file_key, comment.id)):
        return None
    job = comment_job_id(team, file_key, comment.id)
    event = CommentReceived(
        origin=origin, file_key=file_key, comment_id=comment.id,  # type: ignore[arg-type]
        parent_id=comment.parent_id, author_handle=comment.user.handle,
        author_id=comment.user.id or None, text=comment.message, mentions=mentions,
        created_at=comment.created_at,
    )  # fmt: skip
    envelope = new_envelope(event, stream_id=job, team=team, source=source,
                            correlation_id=job, traceparent=current_traceparent())  # fmt: skip
    if isinstance(await store.append(job, [envelope], expected_version=0), Appended):
        return job
    return None
