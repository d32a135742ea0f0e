"""The electronic signatures given on a quality record's decision row, as the pages and the API show them."""

from __future__ import annotations

from sqlalchemy.orm import Session

from pharmatrace.kernel.esign import service as esign
from pharmatrace.qms.capa_schemas import SignaturePublic


def signatures_of(session: Session, object_type: str, object_id: str) -> list[SignaturePublic]:
    """Each signature on ``object_type:object_id`` with its meaning and whether it still holds (``status``)."""
    return [
        SignaturePublic(action=s.action, meaning=s.meaning, signer_login=s.signer_login, signer_name=s.signer_name,
                        signed_at=s.signed_at, status=s.status)
        for s in esign.manifestations(session, object_type, object_id)
    ]  # fmt: skip
