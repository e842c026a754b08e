"""Who a task is assigned to: the tracked mention the comment is addressed to, mapped to a
Notion user by the team's explicit pairs, else matched against Notion's users by email, then by
name, with the match's confidence. No I/O here."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from rapidfuzz import fuzz, utils

from figsync_contracts import Assignment
from figsync_notion.mapping import Person
from figsync_runtime.teams import AssigneePair, handle_key

ASSIGNEE_PROPERTY = "Assignee"


def people_property(
    properties: Mapping[str, Mapping[str, Any]],
    setting: str | None,
    taken: Collection[str] = (),
) -> tuple[str | None, Assignment | None]:
    """The people property to assign in, or why there is none (None, None: assigning is off).

    `setting` None: a people property named "Assignee" (any case), else the only one the
    team's field mapping does not fill (`taken`); a database without such a property simply
    gets no assignee."""
    if setting == "":
        return None, None
    if setting is not None:
        kind = (properties.get(setting) or {}).get("type")
        if kind is None:
            return None, Assignment(reason="property_missing", property=setting,
                                    note=f'no assignee: the database has no property "{setting}" '
                                    "(the team's notion_assignee_property)")  # fmt: skip
        if kind != "people":
            return None, Assignment(reason="property_wrong_type", property=setting,
                                    note=f'no assignee: "{setting}" is a {kind} property, not a '
                                    "Person property")  # fmt: skip
        return setting, None
    people = [
        name for name, p in properties.items() if p.get("type") == "people" and name not in taken
    ]
    named = [name for name in people if name.casefold() == ASSIGNEE_PROPERTY.casefold()]
    if named or len(people) == 1:
        return (named or people)[0], None
    if not people:
        return None, None
    return None, Assignment(
        reason="no_people_property",
        note=f"no assignee: the database has {len(people)} Person properties "
        f'({", ".join(sorted(people))}); name one "Assignee" or set the team\'s '
        "notion_assignee_property",
    )


def addressee(mentions: Sequence[str], author: str) -> str | None:
    """The tracked mention the comment is addressed to: the first that is not its author."""
    return next((m for m in mentions if handle_key(m) != handle_key(author)), None)


def decide(
    mentions: Sequence[str],
    author: str,
    pairs: Sequence[AssigneePair],
    users: Sequence[Person] | None,
    threshold: float,
    prop: str | None = None,
    users_problem: str = "",
) -> Assignment:
    """The assignee of a task, or why there is none. `users` None: Notion's users list could
    not be read (`users_problem` says why); explicit pairs naming a user id still apply."""
    mention = addressee(mentions, author)
    if mention is None:
        if mentions:
            return _none("self_mention", f"no assignee: {author} mentioned only themselves",
                         prop, mentions[0])  # fmt: skip
        return _none("no_mention", "no assignee: the comment has no tracked mention", prop)
    pair = next((p for p in pairs if handle_key(p.figma) == handle_key(mention)), None)
    if pair is not None:
        return _explicit(mention, pair, users, prop, users_problem)
    if users is None:
        return _none("users_unavailable",
                     f"no assignee for {mention}: Notion's users could not be read "
                     f"({users_problem})", prop, mention)  # fmt: skip
    if not users:
        return _none("no_match", f"no assignee for {mention}: Notion lists no users", prop, mention)
    by_email = email_match(mention, users)
    if by_email is not None:
        user, confidence = by_email
        return _judged(mention, user, "email", confidence, threshold, prop)
    best = name_matches(mention, users)
    if len(best) > 1 and best[0][1] == best[1][1] and best[0][1] >= threshold:
        names = " and ".join(f"'{u.name}'" for u, _ in best[:2])
        return _none("ambiguous", f"no assignee for {mention}: {names} match equally "
                     f"({best[0][1]:.0f}); add an explicit pair", prop, mention)  # fmt: skip
    user, confidence = best[0]
    return _judged(mention, user, "name", confidence, threshold, prop)


def email_match(mention: str, users: Sequence[Person]) -> tuple[Person, float] | None:
    """A user whose email is the handle (100), or whose email's local part is (95, if only
    one user's is)."""
    key = handle_key(mention)
    exact = [u for u in users if u.email and u.email.casefold() == key]
    if exact:
        return exact[0], 100.0
    local = [u for u in users if u.email and u.email.split("@")[0].casefold() == key]
    return (local[0], 95.0) if len(local) == 1 else None


def name_matches(mention: str, users: Sequence[Person]) -> list[tuple[Person, float]]:
    """Users by how close their name is to the handle (word order and case aside), best first."""
    wanted = handle_key(mention)
    scored = [
        (u, fuzz.token_sort_ratio(wanted, u.name, processor=utils.default_process))
        for u in users
        if u.name
    ]
    return sorted(scored, key=lambda s: -s[1]) or [(Person(""), 0.0)]


def _explicit(
    mention: str,
    pair: AssigneePair,
    users: Sequence[Person] | None,
    prop: str | None,
    users_problem: str,
) -> Assignment:
    if pair.is_email:
        if users is None:
            return _none("users_unavailable",
                         f"no assignee for {mention}: the mapping names {pair.notion}, but "
                         f"Notion's users could not be read ({users_problem})",
                         prop, mention)  # fmt: skip
        user = next((u for u in users if u.email.casefold() == pair.notion), None)
    else:
        known = {u.id.replace("-", ""): u for u in users or ()}
        user = known.get(pair.notion.replace("-", ""))
        if user is None and users is None:
            user = Person(pair.notion)  # an id needs no look-up; Notion checks it
    if user is None:
        return _none("not_in_workspace",
                     f"no assignee for {mention}: the mapping names {pair.notion}, who is not "
                     "among the workspace's Notion users", prop, mention)  # fmt: skip
    return _assigned(mention, user, "explicit", 100.0, prop)


def _judged(
    mention: str, user: Person, method: str, confidence: float, threshold: float, prop: str | None
) -> Assignment:
    if confidence >= threshold:
        return _assigned(mention, user, method, confidence, prop)
    shown = user.email if method == "email" else user.name
    note = (
        f"no assignee for {mention}: best {method} match '{shown}' scored {confidence:.0f} "
        f"< {threshold:.0f}"
        if user.id
        else f"no assignee for {mention}: no Notion user has a name"
    )
    return Assignment(reason="below_threshold" if user.id else "no_match", note=note,
                      mention=mention, property=prop, user_name=user.name,
                      method=method if user.id else None,  # type: ignore[arg-type]
                      confidence=round(confidence, 1) if user.id else None)  # fmt: skip


def _assigned(
    mention: str, user: Person, method: str, confidence: float, prop: str | None
) -> Assignment:
    who = user.name or user.email or user.id
    return Assignment(
        reason="assigned",
        note=f"assigned to {who} ({method} match, {confidence:.0f})",
        mention=mention,
        property=prop,
        user_id=user.id,
        user_name=user.name,
        method=method,  # type: ignore[arg-type]
        confidence=round(confidence, 1),
    )


def _none(reason: str, note: str, prop: str | None, mention: str | None = None) -> Assignment:
    return Assignment(reason=reason, note=note, property=prop, mention=mention)  # type: ignore[arg-type]


def property_value(decision: Assignment) -> dict[str, Any] | None:
    """The people property's request value, or None when no one is assigned."""
    if decision.reason != "assigned" or not decision.user_id:
        return None
    return {"people": [{"object": "user", "id": decision.user_id}]}
