"""Destructive actions ask first: a dialog with JavaScript, a confirm page without it.

Each destructive form carries the question twice from one source: as `hx-confirm`
(htmx asks with a dialog before its request goes out) and, when the plain form is
posted without JavaScript, the handler answers with a confirm page that says the
same and re-posts the form with `confirmed=yes`. A request that htmx sent has been
through the dialog already, so it needs no field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from web.templating import environment, is_htmx, render

CONFIRM_FIELD = "confirmed"
CONFIRM_VALUE = "yes"


@dataclass(frozen=True)
class Confirmation:
    """What a destructive action asks: the question, what is lost, the button that does it."""

    question: str
    loses: str
    button: str

    @property
    def text(self) -> str:
        return f"{self.question} {self.loses}"


def stop_session(session_id: int) -> Confirmation:
    return Confirmation(
        f"Stop session #{session_id}?",
        "It stops catching events: anything its accounts send afterwards is not checked.",
        "Stop the session",
    )


def clear_logs(session_id: int) -> Confirmation:
    return Confirmation(
        f"Clear the caught events of session #{session_id}?",
        "They leave this page and the API's log; verdicts, counts and coverage stay.",
        "Clear the caught events",
    )


def reset_event(event_name: str) -> Confirmation:
    return Confirmation(
        f"Reset every verdict of {event_name} to UNTESTED?",
        "Every platform's verdicts of its fields, overrides by hand included, start again.",
        "Reset the verdicts",
    )


def delete_account(user_id: str) -> Confirmation:
    return Confirmation(
        f"Delete test account {user_id}?",
        "Sessions stop catching its events; the verdicts it earned stay.",
        "Delete the account",
    )


def rotate_write_key(project_name: str) -> Confirmation:
    return Confirmation(
        f"Rotate the write key of {project_name}?",
        "Apps and SDKs sending with the current key are refused within seconds until updated.",
        "Rotate the key",
    )


def revoke_token(token_name: str, username: str) -> Confirmation:
    return Confirmation(
        f"Revoke API token {token_name} of {username}?",
        "Every program using it is refused at once; it cannot be restored.",
        "Revoke the token",
    )


def revoke_share_link(session_id: int, link_id: int, note: str) -> Confirmation:
    named = f" ({note})" if note else ""
    return Confirmation(
        f"Revoke share link #{link_id}{named} of session #{session_id}?",
        "Anyone holding it gets a 404 from now on; it cannot be restored.",
        "Revoke the link",
    )


def confirmed(request: Request, form: FormData | Mapping[str, object]) -> bool:
    """True when the person said yes: htmx asked in a dialog, or the confirm page was posted."""
    return is_htmx(request) or form.get(CONFIRM_FIELD) == CONFIRM_VALUE


def confirm_page(
    request: Request, form: FormData, confirmation: Confirmation, cancel_url: str
) -> Response:
    """The question as a page whose form posts the same fields again, confirmed."""
    kept = [
        (name, str(value))
        for name, value in form.multi_items()
        if name not in ("csrf_token", CONFIRM_FIELD) and isinstance(value, str)
    ]
    return render(
        request,
        "confirm.html",
        {
            "confirmation": confirmation,
            "action": request.url.path,
            "kept": kept,
            "cancel_url": cancel_url,
            "confirm_field": CONFIRM_FIELD,
            "confirm_value": CONFIRM_VALUE,
        },
    )


# Templates build the same questions for hx-confirm: `confirmations.stop_session(id).text`.
environment.globals["confirmations"] = {
    "stop_session": stop_session,
    "clear_logs": clear_logs,
    "reset_event": reset_event,
    "delete_account": delete_account,
    "rotate_write_key": rotate_write_key,
    "revoke_token": revoke_token,
    "revoke_share_link": revoke_share_link,
}
