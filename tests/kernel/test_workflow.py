"""The one check of a declared transition: permission, then source state, then each guard (SH-7.1.2, SH-7.1.4)."""

from __future__ import annotations

import pytest

from pharmatrace.kernel import workflow
from pharmatrace.kernel.errors import N_, Conflict, NotPermitted
from pharmatrace.kernel.identity.service import Principal


def _principal(*permissions: str, login: str = "chenjing") -> Principal:
    return Principal(user_id=1, login=login, full_name="陈静", permissions=frozenset(permissions),
                     role_kinds=frozenset({"business"}), role_codes=frozenset({"qa_reviewer"}),
                     must_change_password=False)  # fmt: skip


def _not_the_author(record: dict[str, str]) -> None:
    if record["by"] == record["who"]:
        raise NotPermitted(N_("Who wrote a CAPA plan may not approve it"))


CLOSE = workflow.Transition[dict[str, str]](
    "close", ("responded",), "closed", ("qms.deviation.approve", "qms.release.decide"), (_not_the_author,)
)


def _refused() -> Exception:
    return Conflict(N_("This record is already void"))


@pytest.mark.clause("SH-7.1.2", "SH-7.1.4")
def test_the_permission_comes_first_then_the_state_then_the_guards() -> None:
    record = {"by": "chenjing", "who": "chenjing"}
    with pytest.raises(NotPermitted, match=r"qms\.deviation\.approve"):  # any one of them; the first is named
        workflow.check(CLOSE, "draft", _principal("qms.view"), record, _refused)
    with pytest.raises(Conflict, match="already void"):  # permitted, in the wrong state: the state's refusal
        workflow.check(CLOSE, "draft", _principal("qms.release.decide"), record, _refused)
    with pytest.raises(NotPermitted, match="may not approve"):  # the right state: the guard speaks
        workflow.check(CLOSE, "responded", _principal("qms.deviation.approve"), record, _refused)
    workflow.check(CLOSE, "responded", _principal("qms.deviation.approve"), {"by": "lina", "who": "chenjing"},
                   _refused)  # fmt: skip
    workflow.require_any(_principal(), ())  # no permission of its own: nothing to refuse
