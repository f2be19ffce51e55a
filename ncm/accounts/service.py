"""Accounts: registration, login sessions, profiles, roles and follows."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from ncm.accounts import revocation, validation
from ncm.accounts.errors import TOKEN_MESSAGES, AccountsErrorCode
from ncm.accounts.models import Follow, RefreshToken, RegionChange, Role, User
from ncm.accounts.passwords import hash_password, needs_rehash, verify_password
from ncm.accounts.permissions import require_role, require_viewer
from ncm.accounts.tokens import hash_refresh_token, issue_access_token, new_refresh_token
from ncm.config import get_settings
from ncm.errors import BadCredentials, Conflict, Forbidden, InvalidInput, NotFound, RateLimited
from ncm.kit import ratelimit
from ncm.kit.db import column, placeholder
from ncm.kit.locks import lock_for_transaction
from ncm.kit.pagination import Page, page_by_id_desc
from ncm.kit.sql import any_of, as_datetime, by_id, fetch
from ncm.kit.text import BIGINT_MAX, max_length, storable_text
from ncm.kit.unset import UNSET
from ncm.search.text import document_tokens


@dataclass(frozen=True)
class Session:
    user: User
    access_token: str
    access_expires_at: datetime
    refresh_token: str
    refresh_expires_at: datetime


SESSIONS_LOCK = "ncm.accounts.sessions"
# The account region decides which tracks are licensed to the listener (unless the edge's
# country header does, NCM_GEO_HEADER): a user may change it once in this many days.
REGION_CHANGE_DAYS = 30
REGION_LOCK = "ncm.accounts.region"
EMAIL_MAX = max_length(User, "email")
HANDLE_MAX = max_length(User, "handle")


def _check_partner(role: Role, partner_id: int | None) -> None:
    if role == Role.PARTNER and (partner_id is None or not 1 <= partner_id <= BIGINT_MAX):
        raise InvalidInput(
            "A partner user needs a partner organisation (its id).", field="partnerId"
        )


def _plausible_identifier(ident: str) -> bool:
    """Text that could be an email or a handle: longer than either can be, or text no
    column holds, is no account to look up (or to count login failures against)."""
    return storable_text(ident) and len(ident) <= (EMAIL_MAX if "@" in ident else HANDLE_MAX)


async def _by_email_or_handle(ident: str) -> User | None:
    if not _plausible_identifier(ident):
        return None
    return await (User.filter(email=ident) if "@" in ident else User.filter(handle=ident)).first()


def _now() -> datetime:
    return datetime.now(UTC)


def _search_text(user: User) -> str:
    return document_tokens(user.handle, user.display_name)


async def _ensure_free(email: str, handle: str) -> None:
    if await User.filter(email=email).exists():
        raise Conflict(
            "An account with this email exists.", field="email", code=AccountsErrorCode.EMAIL_TAKEN
        )
    if await User.filter(handle=handle).exists():
        raise Conflict("This handle is taken.", field="handle", code=AccountsErrorCode.HANDLE_TAKEN)


async def create_user(
    email: str,
    handle: str,
    password: str,
    *,
    display_name: str | None = None,
    role: Role = Role.LISTENER,
    partner_id: int | None = None,
    region: str | None = None,
) -> User:
    email = validation.email(email)
    handle = validation.handle(handle)
    region = validation.region(region)
    validation.password(password, handle=handle, email=email)
    name = validation.display_name(display_name if display_name is not None else handle)
    _check_partner(role, partner_id)
    await _ensure_free(email, handle)
    user = User(
        email=email,
        handle=handle,
        display_name=name,
        password_hash=await hash_password(password),
        role=role,
        partner_id=partner_id if role == Role.PARTNER else None,
    )
    user.region = region
    if region is not None:
        user.region_changed_at = _now()
    user.search_text = _search_text(user)
    try:
        async with in_transaction() as conn:
            await user.save(using_db=conn)
            if user.region is not None:
                await RegionChange.create(
                    user=user,
                    old_region=None,
                    new_region=user.region,
                    source="registration",
                    using_db=conn,
                )
    except IntegrityError:
        # Lost a race with an identical registration: report it as the check would have.
        await _ensure_free(email, handle)
        raise
    return user


async def _open_session(user: User, user_agent: str = "") -> Session:
    settings = get_settings()
    token, token_hash = new_refresh_token()
    expires = _now() + timedelta(seconds=settings.refresh_token_ttl)
    row = await RefreshToken.create(
        user=user, token_hash=token_hash, expires_at=expires, user_agent=user_agent[:255]
    )
    access, access_exp = issue_access_token(user.id, row.id)
    return Session(user, access, datetime.fromtimestamp(access_exp, UTC), token, expires)


async def register(
    email: str,
    handle: str,
    password: str,
    *,
    display_name: str | None = None,
    region: str | None = None,
    user_agent: str = "",
) -> Session:
    """Create an account and log in. ``region`` (ISO 3166-1) is the account region, which
    decides licensing unless the edge's country header does; it can change once per
    ``REGION_CHANGE_DAYS`` afterwards."""
    user = await create_user(email, handle, password, display_name=display_name, region=region)
    return await _open_session(user, user_agent)


async def login(identifier: str, password: str, *, client_ip: str, user_agent: str = "") -> Session:
    """Log in by email or handle. Failures are counted per account (the handle and the email
    of one account share one count, so five wrong passwords lock both, and the right password
    through either is refused until the window ends) and per client address.

    The account's count is taken before the password is checked (an atomic increment, reset
    by a success): parallel guesses each take a number, so no burst gets past the limit."""
    settings = get_settings()
    ident = identifier.strip().lower()
    user = await _by_email_or_handle(ident)
    if user is not None:
        account_key: str | None = f"login:user:{user.id}"
    else:  # no such account: still counted, by what was typed, so misses look the same
        account_key = f"login:acct:{ident}" if _plausible_identifier(ident) else None
    ip_key = f"login:ip:{client_ip}"
    ip_window = await ratelimit.peek(ip_key)
    if ip_window.count >= settings.login_ip_max_failures:
        raise _too_many(ip_window.retry_after)
    if account_key is not None:
        window = await ratelimit.hit(account_key, settings.login_window_seconds)
        if window.exceeded(settings.login_max_failures):
            raise _too_many(window.retry_after)
    if not await verify_password(user.password_hash if user else None, password) or user is None:
        await ratelimit.hit(ip_key, settings.login_window_seconds)
        raise BadCredentials()
    if account_key is not None:
        await ratelimit.reset(account_key)
    if needs_rehash(user.password_hash):
        user.password_hash = await hash_password(password)
        await user.save(update_fields=["password_hash"])
    return await _open_session(user, user_agent)


def _too_many(retry_after: int) -> RateLimited:
    return RateLimited("Too many failed login attempts. Try again later.", retry_after=retry_after)


async def refresh(refresh_token: str) -> Session:
    """Trade a refresh token for a new pair; the old one is revoked (rotation)."""
    now = _now()
    async with in_transaction() as conn:
        row = (
            await RefreshToken.filter(token_hash=hash_refresh_token(refresh_token))
            .select_related("user")
            .using_db(conn)
            .first()
        )
        if row is None:
            raise _refused(AccountsErrorCode.INVALID_TOKEN)
        if row.revoked_at is not None:
            raise _refused(AccountsErrorCode.SESSION_ENDED)
        if row.expires_at <= now:
            raise BadCredentials(
                "This session has expired; log in again.", code=AccountsErrorCode.SESSION_ENDED
            )
        # A logout of this user waits for this rotation, or this waits and finds it revoked.
        await lock_for_transaction(conn, SESSIONS_LOCK, row.user_id)
        # The conditional update settles two concurrent refreshes: one wins.
        updated = (
            await RefreshToken.filter(id=row.id, revoked_at__isnull=True)
            .using_db(conn)
            .update(revoked_at=now)
        )
        if updated != 1:  # a concurrent refresh with the same token won
            raise _refused(AccountsErrorCode.SESSION_ENDED)
        return await _open_session(row.user, row.user_agent)


def _refused(reason: AccountsErrorCode) -> BadCredentials:
    """A refresh token that opens no session: why, and what to do (log in again)."""
    return BadCredentials(TOKEN_MESSAGES[reason], code=reason)


async def logout(actor: User | None, session_id: int | None) -> bool:
    """Revoke the session the access token belongs to."""
    user = require_viewer(actor)
    if session_id is None:
        return False
    async with in_transaction() as conn:
        await lock_for_transaction(conn, SESSIONS_LOCK, user.id)
        updated = (
            await RefreshToken.filter(id=session_id, user_id=user.id, revoked_at__isnull=True)
            .using_db(conn)
            .update(revoked_at=_now())
        )
    await revocation.revoke([session_id])  # its access token stops working too
    return updated == 1


async def logout_everywhere(actor: User | None) -> int:
    """End every session of the viewer (``end_sessions``)."""
    return await end_sessions(require_viewer(actor).id)


async def end_sessions(user_id: int) -> int:
    """End every session of a user, refresh and access tokens alike (a lost phone, a leaked
    password; operators: ``ncm users logout``). Sessions rotated away recently are included:
    an access token they issued may still be unexpired. Returns how many were still open."""
    now = _now()
    recent = now - timedelta(seconds=get_settings().access_token_ttl)
    async with in_transaction() as conn:
        # A refresh of this user in flight finishes first (its new session is then ended
        # here), or starts after and finds its token revoked.
        await lock_for_transaction(conn, SESSIONS_LOCK, user_id)
        live = RefreshToken.filter(user_id=user_id, revoked_at__isnull=True).using_db(conn)
        open_ids = await column(live, "id")
        await RefreshToken.filter(id__in=open_ids).using_db(conn).update(revoked_at=now)
    rotated = await column(
        RefreshToken.filter(user_id=user_id, revoked_at__gte=recent, id__not_in=open_ids), "id"
    )
    await revocation.revoke([*open_ids, *rotated])
    return len(open_ids)


async def update_profile(
    actor: User | None,
    *,
    display_name: str | None = None,
    avatar_url: str | None = UNSET,
    region: str | None = UNSET,
    language: str | None = UNSET,
) -> User:
    """Change only the fields given; ``None`` clears an optional field. The region may
    change once per ``REGION_CHANGE_DAYS`` (it unlocks regional licenses): each change is
    recorded in ``RegionChange``."""
    user = require_viewer(actor)
    changes: dict[str, object] = {}
    if display_name is not None:
        changes["display_name"] = validation.display_name(display_name)
    if avatar_url is not UNSET:
        changes["avatar_url"] = validation.avatar_url(avatar_url)
    if language is not UNSET:
        changes["language"] = validation.language(language)
    new_region = validation.region(region) if region is not UNSET else user.region
    region_changes = new_region != user.region
    if region_changes:
        _check_region_change(user.region_changed_at)
    if not changes and not region_changes:
        return user
    async with in_transaction() as conn:
        if region_changes:
            await _change_region(conn, user, new_region, source="user", limited=True)
            changes.update(region=new_region, region_changed_at=user.region_changed_at)
        for name, value in changes.items():
            setattr(user, name, value)
        user.search_text = _search_text(user)
        await user.save(update_fields=[*changes, "search_text", "updated_at"], using_db=conn)
    return user


async def set_region(user_id: int, region: str | None, *, operator: str) -> User:
    """An operator sets a user's region (``ncm users set-region``): no 30-day wait, audited
    with the operator's name; the user's own next change waits 30 days from now."""
    new_region = validation.region(region)
    user = await get_user(user_id)
    async with in_transaction() as conn:
        await _change_region(conn, user, new_region, source=f"operator:{operator}"[:64])
        await user.save(update_fields=["region", "region_changed_at", "updated_at"], using_db=conn)
    return user


def _check_region_change(changed_at: datetime | None) -> None:
    if changed_at is None:
        return
    allowed_at = changed_at + timedelta(days=REGION_CHANGE_DAYS)
    if _now() < allowed_at:
        raise InvalidInput(
            f"Your region changed less than {REGION_CHANGE_DAYS} days ago; you can change it"
            f" again from {allowed_at:%Y-%m-%d %H:%M} UTC.",
            field="region",
            code=AccountsErrorCode.REGION_CHANGE_TOO_SOON,
        )


async def _change_region(
    conn: BaseDBAsyncClient, user: User, region: str | None, *, source: str, limited: bool = False
) -> None:
    """Under a per-user lock, from the stored row: of two concurrent changes the second
    finds the first (and, for a user's own change, is refused)."""
    await lock_for_transaction(conn, REGION_LOCK, user.id)
    stored = await User.filter(id=user.id).using_db(conn).first()
    old_region = stored.region if stored is not None else user.region
    if limited and stored is not None:
        _check_region_change(stored.region_changed_at)
    user.region = region
    user.region_changed_at = _now()
    await RegionChange.create(
        user_id=user.id, old_region=old_region, new_region=region, source=source, using_db=conn
    )


async def get_user(user_id: int) -> User:
    user = await User.get_or_none(id=user_id)
    if user is None:
        raise NotFound("No such user.", field="id")
    return user


async def find_user(ref: str) -> User:
    """A user by id, email or handle (operators type any of them)."""
    ref = ref.strip()
    if ref.isascii() and ref.isdigit():
        user = await User.get_or_none(id=int(ref)) if int(ref) <= BIGINT_MAX else None
    else:
        user = await _by_email_or_handle(ref.lower())
    if user is None:
        raise NotFound(f"No user {ref!r}.", field="user")
    return user


async def users_by_ids(ids: Sequence[int]) -> dict[int, User]:
    """Users by id, whole rows (the viewer's own row; ``profiles_by_ids`` for display)."""
    return await by_id(User, ids)


@dataclass(frozen=True, slots=True)
class Profile:
    """What anyone may see of a user: no email, role, region or password hash."""

    id: int
    handle: str
    display_name: str
    avatar_url: str | None
    follower_count: int
    following_count: int
    created_at: datetime


_PROFILE_COLUMNS = ", ".join(Profile.__dataclass_fields__)


async def profiles_by_ids(ids: Sequence[int]) -> dict[int, Profile]:
    """Public profiles by id, for every list that shows users (comment authors, owners,
    followers): only the shown columns, as plain values without model hydration."""
    if not ids:
        return {}
    where, params = any_of("id", ids, 1)
    rows = await fetch(f"SELECT {_PROFILE_COLUMNS} FROM users WHERE {where}", params)
    return {r["id"]: _READ_PROFILE(r) for r in rows}


def profile_columns(alias: str, prefix: str) -> str:
    """The select list of a public profile from the users table aliased ``alias``, each
    column named ``<prefix><column>``: a list reads its users' profiles in its own statement
    (with :func:`profile_reader` of the same prefix)."""
    return ", ".join(f"{alias}.{c} AS {prefix}{c}" for c in Profile.__dataclass_fields__)


def profile_reader(prefix: str = "") -> Callable[[Mapping[str, Any]], Profile]:
    """Reads a profile from a row (a dict or a record) whose columns are ``<prefix><column>``."""
    get = itemgetter(*(f"{prefix}{c}" for c in Profile.__dataclass_fields__))

    def read(row: Mapping[str, Any]) -> Profile:
        pk, handle, name, avatar, followers, following, created = get(row)
        return Profile(pk, handle, name, avatar, followers, following, as_datetime(created))

    return read


_READ_PROFILE = profile_reader()


async def set_role(
    actor: User | None,
    user_id: int,
    role: Role,
    *,
    partner_id: int | None = None,
    system: bool = False,
) -> User:
    """Change a user's role. Admins only, and not their own (so the last admin cannot lock
    everyone out by mistake), unless called by an operator (``system``)."""
    if not system:
        admin = require_role(actor, Role.ADMIN)
        if admin.id == user_id:
            raise Forbidden("Another admin (or an operator, `ncm users set-role`) changes yours.")
    user = await get_user(user_id)
    _check_partner(role, partner_id)
    user.role = role
    user.partner_id = partner_id if role == Role.PARTNER else None
    await user.save(update_fields=["role", "partner_id", "updated_at"])
    return user


async def follow(actor: User | None, target_id: int) -> User:
    """Follow a user; following twice changes nothing. Returns the followed user."""
    user = require_viewer(actor)
    if target_id == user.id:
        raise InvalidInput(
            "You cannot follow yourself.", field="userId", code=AccountsErrorCode.SELF_FOLLOW
        )
    target = await get_user(target_id)
    p1, p2, p3 = placeholder(1), placeholder(2), placeholder(3)
    async with in_transaction() as conn:
        rows = await conn.execute_query_dict(
            f"INSERT INTO follows (follower_id, followee_id, created_at) VALUES ({p1}, {p2}, {p3})"
            " ON CONFLICT (follower_id, followee_id) DO NOTHING RETURNING id",
            [user.id, target.id, _now()],
        )
        if rows:
            await _bump_follow_counts(conn, user.id, target.id, +1)
    await target.refresh_from_db(fields=["follower_count", "following_count"])
    return target


async def unfollow(actor: User | None, target_id: int) -> User:
    user = require_viewer(actor)
    target = await get_user(target_id)
    async with in_transaction() as conn:
        deleted = (
            await Follow.filter(follower_id=user.id, followee_id=target.id).using_db(conn).delete()
        )
        if deleted:
            await _bump_follow_counts(conn, user.id, target.id, -1)
    await target.refresh_from_db(fields=["follower_count", "following_count"])
    return target


async def _bump_follow_counts(
    conn: BaseDBAsyncClient, follower_id: int, followee_id: int, d: int
) -> None:
    """Both users' counters, in ascending id order: two users following each other at the
    same moment would otherwise lock the two rows in opposite orders and deadlock."""
    for user_id in sorted((follower_id, followee_id)):
        rows = User.filter(id=user_id).using_db(conn)
        if user_id == follower_id:
            await rows.update(following_count=F("following_count") + d)
        else:
            await rows.update(follower_count=F("follower_count") + d)


async def followers(user_id: int, first: int | None, after: str | None) -> Page[Follow]:
    """Who follows this user, newest first (``follower_id`` on each row)."""
    return await page_by_id_desc(Follow.filter(followee_id=user_id), first, after)


async def following(user_id: int, first: int | None, after: str | None) -> Page[Follow]:
    return await page_by_id_desc(Follow.filter(follower_id=user_id), first, after)


async def follow_states(follower_id: int, target_ids: Sequence[int]) -> dict[int, bool]:
    """Whether the follower follows each of these users (one query for a whole page)."""
    rows = await Follow.filter(
        follower_id=follower_id, followee_id__in=list(target_ids)
    ).values_list("followee_id", flat=True)
    followed = set(rows)
    return {i: i in followed for i in target_ids}


async def purge_expired_sessions(now: datetime | None = None) -> int:
    cutoff = (now or _now()) - timedelta(days=7)
    return await RefreshToken.filter(expires_at__lt=cutoff).delete()
