"""Refusals name states as the pages do (SH-6.3.2.1.b): a Chinese message carries the Chinese state name,
never the stored code such as ``in_service``."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from helpers import actor, token
from pharmatrace.equipment import service
from pharmatrace.equipment.models import Equipment
from pharmatrace.equipment.service import LIFECYCLE_LABELS
from pharmatrace.kernel import context
from pharmatrace.kernel.errors import Conflict
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.storage.engine import Database
from pharmatrace.web import i18n
from pharmatrace.web.app import create_app

API = "/api/v1"
ENGINEER = "wuhao"  # 设备工程师


def in_chinese(msgid: str) -> str:
    token_ = context.locale.set("zh_CN")
    try:
        return i18n.gettext(msgid)
    finally:
        context.locale.reset(token_)


@pytest.mark.clause("SH-6.3.2.1.b")
def test_a_refused_lifecycle_step_names_both_states_in_the_readers_language(db: Database) -> None:
    with TestClient(create_app(db)) as client:
        engineer = token(client, ENGINEER)
        created = client.post(f"{API}/equipment", headers=engineer,
                              json={"code": "TK-MSG-01", "name": "配液罐", "equipment_class": "tank"})  # fmt: skip
        assert created.status_code == 201, created.text
        assert created.json()["lifecycle"] == "installation"
        url = f"{API}/equipment/{created.json()['id']}/lifecycle"
        body = {"state": "scrapped", "reason": "误操作"}
        chinese = client.post(url, headers={**engineer, "accept-language": "zh-CN"}, json=body)
        english = client.post(url, headers={**engineer, "accept-language": "en"}, json=body)
        assert client.get(f"{API}/equipment/{created.json()['id']}", headers=engineer).json()[
            "lifecycle"
        ] == ("installation")
    assert chinese.status_code == 409 and english.status_code == 409
    message = chinese.json()["error"]["message"]
    installation, scrapped = (
        in_chinese(LIFECYCLE_LABELS["installation"]),
        in_chinese(LIFECYCLE_LABELS["scrapped"]),
    )
    assert installation != "Installation" and scrapped != "Scrapped"  # the catalogue has both words
    assert f"“{installation}”" in message and f"“{scrapped}”" in message
    assert "installation" not in message and "scrapped" not in message
    assert english.json()["error"]["message"] == "The equipment cannot go from “Installation” to “Scrapped”"


@pytest.mark.clause("SH-6.3.2.1.b")
def test_the_service_error_keeps_the_english_labels_for_logs(db: Database) -> None:
    with UnitOfWork(db, actor(db, ENGINEER), reason="登记") as uow:
        current = uow.session.scalars(select(Equipment).order_by(Equipment.id)).first()
        assert current is not None
        equipment_id, state = current.id, current.lifecycle
        wrong = next(s for s in LIFECYCLE_LABELS if s != state and s not in service.TRANSITIONS[state])
        with pytest.raises(Conflict) as refused:
            service.change_lifecycle(uow, equipment_id, wrong)
    assert str(refused.value) == (
        f"The equipment cannot go from “{LIFECYCLE_LABELS[state]}” to “{LIFECYCLE_LABELS[wrong]}”"
    )
