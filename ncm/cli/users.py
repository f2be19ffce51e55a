"""``ncm users``: create accounts, change roles, end sessions."""

from __future__ import annotations

import typer

from ncm.accounts import service as accounts
from ncm.accounts.models import Role, User
from ncm.cli.comments import operator
from ncm.cli.common import JsonOption, emit, emit_one, run, user_ref

app = typer.Typer(help="Users and roles.", no_args_is_help=True)


def user_record(user: User) -> dict[str, object]:
    return {
        "id": user.id,
        "email": user.email,
        "handle": user.handle,
        "display_name": user.display_name,
        "role": user.role,
        "partner_id": user.partner_id,
        "region": user.region,
        "region_changed_at": user.region_changed_at,
        "followers": user.follower_count,
        "following": user.following_count,
        "created_at": user.created_at,
    }


def _partner_only(role: Role, partner_id: int | None) -> None:
    if partner_id is not None and role != Role.PARTNER:
        raise typer.BadParameter(
            f"applies only to the partner role, not {role.value}", param_hint="--partner-id"
        )


@app.command()
def create(
    email: str = typer.Option(..., help="Login email."),
    handle: str = typer.Option(..., help="Public handle (3-32 of a-z, 0-9, _ and .)."),
    password: str = typer.Option(
        ...,
        prompt=True,
        hide_input=True,
        confirmation_prompt=True,
        envvar="NCM_NEW_USER_PASSWORD",
        help="Prompted when not given.",
    ),
    role: Role = typer.Option(
        Role.LISTENER,
        case_sensitive=False,
        help="listener, moderator, finance, partner, admin (any case).",
    ),
    partner_id: int = typer.Option(None, help="Required with --role partner (only then)."),
    display_name: str = typer.Option(None),
    as_json: bool = JsonOption,
) -> None:
    """Create a user with a role."""
    _partner_only(role, partner_id)
    user = run(
        lambda: accounts.create_user(
            email, handle, password, display_name=display_name, role=role, partner_id=partner_id
        )
    )
    emit_one(user_record(user), as_json, title="created")


@app.command("set-role")
def set_role(
    user: str = typer.Argument(..., help="Id, email or handle."),
    role: Role = typer.Argument(..., case_sensitive=False, help="The new role (any case)."),
    partner_id: int = typer.Option(None, help="Required for the partner role (only then)."),
    as_json: bool = JsonOption,
) -> None:
    """Change a user's role."""
    _partner_only(role, partner_id)

    async def work() -> User:
        found = await accounts.find_user(user_ref(user))
        return await accounts.set_role(None, found.id, role, partner_id=partner_id, system=True)

    emit_one(user_record(run(work)), as_json, title="updated")


@app.command()
def logout(
    user: str = typer.Argument(..., help="Id, email or handle."), as_json: bool = JsonOption
) -> None:
    """End every session of a user (a lost device, a leaked password): their refresh and
    access tokens stop working on every server within seconds."""

    async def work() -> dict[str, object]:
        found = await accounts.find_user(user_ref(user))
        return {
            "user_id": found.id,
            "handle": found.handle,
            "sessions_ended": await accounts.end_sessions(found.id),
        }

    emit_one(run(work), as_json, title="logged out")


@app.command()
def show(
    user: str = typer.Argument(..., help="Id, email or handle."), as_json: bool = JsonOption
) -> None:
    """Show one user."""
    emit_one(user_record(run(lambda: accounts.find_user(user_ref(user)))), as_json)


@app.command("list")
def list_users(
    role: Role = typer.Option(None, case_sensitive=False, help="Only this role (any case)."),
    limit: int = typer.Option(50, min=1, max=1000),
    as_json: bool = JsonOption,
) -> None:
    """The newest users (optionally of one role)."""

    async def work() -> list[User]:
        qs = User.all() if role is None else User.filter(role=role)
        return await qs.order_by("-id").limit(limit)

    emit([user_record(u) for u in run(work)], as_json)


@app.command("set-region")
def set_region(
    user: str = typer.Argument(..., help="Id, email or handle."),
    region: str = typer.Argument(..., help="ISO 3166-1 code (CN, US...), or '-' to clear."),
    as_json: bool = JsonOption,
) -> None:
    """Set a user's account region (it decides licensing unless the edge's country header
    does): no 30-day wait, recorded in the region audit log with your login."""

    async def work() -> User:
        found = await accounts.find_user(user_ref(user))
        code = None if region == "-" else region
        return await accounts.set_region(found.id, code, operator=operator())

    emit_one(user_record(run(work)), as_json, title="updated")
