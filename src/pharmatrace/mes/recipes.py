"""Master recipes: validation, versions, review and approval, scaling, comparison (TJ-6.4.3.1, TJ-6.1).

* A body is checked whole before it is stored (:func:`check_body`): unique codes, predecessors that exist
  and form no cycle, ordered limits, what each step type needs, BOM lines that point at a weighing or
  charging step and at materials that exist and are not void, rooms and equipment classes that exist, CPP
  tags bound to equipment in service of one of the operation's classes (:mod:`pharmatrace.mes.historian_seam`).
  A refusal names the step (or operation, or BOM line) and the field, and changes nothing.
* Only a draft is edited (the body replaced as a whole, with a reason). Submitted, it is reviewed and then
  approved, each with an electronic signature on a decision row that names the body's SM3 hash, by two
  different people who are neither the author nor the last editor (segregation of duties, SH-7.1.4).
* Approval makes the version the usable one and supersedes the approved one before it. A batch keeps the
  frozen copy it took (:func:`frozen_body`): superseding never touches a body.
* :func:`scaled_bom` gives the quantities for another batch size in Decimal arithmetic, rounded per
  GB/T 8170 (round half to even: 四舍六入五成双).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pharmatrace.equipment.models import EQUIPMENT_CLASSES, Equipment, Room
from pharmatrace.kernel import clock, crypto, ledger
from pharmatrace.kernel.errors import N_, Conflict, Msgid, NotFound, NotPermitted, ValidationFailed
from pharmatrace.kernel.esign import service as esign
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.numbers import round_gbt8170
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.mes import historian_seam
from pharmatrace.mes.recipe_models import (
    OPEN_STATUSES,
    MasterRecipe,
    MasterRecipeVersion,
    RecipeDecision,
)
from pharmatrace.mes.recipe_schemas import (
    BomItem,
    Change,
    DecisionPublic,
    Operation,
    Parameter,
    RecipeBody,
    RecipePublic,
    ScaledBom,
    ScaledItem,
    Step,
    UnitProcedure,
    VersionDetail,
    VersionDiff,
    VersionPublic,
)
from pharmatrace.wms.models import Material

REVIEW_ACTION = "recipe.review"
APPROVE_ACTION = "recipe.approve"
DECISION_TYPE = "recipe_decision"
# TJ-6.4.3.1: who may review is a QA batch-record reviewer; who approves holds mes.recipe.approve.
REVIEW_PERMISSION = "mes.batch.review"
APPROVE_PERMISSION = "mes.recipe.approve"
AUTHOR_PERMISSION = "mes.recipe.author"

STATUS_LABELS = {
    "draft": N_("Draft"),
    "in_review": N_("In review"),
    "approved": N_("Approved"),
    "superseded": N_("Superseded"),
    "withdrawn": N_("Withdrawn"),
}
MATERIAL_STEPS = ("weighing", "charging")


class RecipeInvalid(ValidationFailed):
    """A recipe body that breaks a rule; ``params`` name where (a step, operation or BOM line) and the field."""

    code = "recipe_invalid"


class DutiesNotSegregated(NotPermitted):
    """The author, the reviewer and the approver of a version must be three different people."""

    code = "recipe_duties"


# --- the body ------------------------------------------------------------------------------------------


# Fields added to the body after versions were approved (ADR 0014: optional fields only). At their default
# they are left out of the canonical text, so a body written before them keeps its text and its SM3.
LATER_HEADER_FIELDS = ("late_entry_minutes", "late_signature_minutes")
LATER_UNIT_FIELDS = ("stage",)
LATER_STEP_FIELDS = ("phase",)
LATER_PARAMETER_FIELDS = ("tag",)
LATER_BOM_FIELDS = ("min_lots",)


def canonical_body(body: RecipeBody) -> str:
    """The body as canonical JSON text (sorted keys, no spaces, Decimals as strings): what is stored, hashed,
    signed through the decisions, and copied into a control recipe. Later optional fields at their default
    are left out (:data:`LATER_HEADER_FIELDS`, :data:`LATER_UNIT_FIELDS`, :data:`LATER_STEP_FIELDS`,
    :data:`LATER_PARAMETER_FIELDS`, :data:`LATER_BOM_FIELDS`)."""
    data = body.model_dump(mode="json")
    for name in LATER_HEADER_FIELDS:
        if getattr(body, name) == RecipeBody.model_fields[name].default:
            del data[name]
    for unit, dumped in zip(body.unit_procedures, data["unit_procedures"], strict=True):
        for name in LATER_UNIT_FIELDS:
            if getattr(unit, name) == UnitProcedure.model_fields[name].default:
                del dumped[name]
        for operation, dumped_operation in zip(unit.operations, dumped["operations"], strict=True):
            for step, dumped_step in zip(operation.steps, dumped_operation["steps"], strict=True):
                for name in LATER_STEP_FIELDS:
                    if getattr(step, name) == Step.model_fields[name].default:
                        del dumped_step[name]
                for parameter, dumped_parameter in zip(
                    step.parameters, dumped_step["parameters"], strict=True
                ):
                    for name in LATER_PARAMETER_FIELDS:
                        if getattr(parameter, name) == Parameter.model_fields[name].default:
                            del dumped_parameter[name]
    for item, dumped_item in zip(body.bom, data["bom"], strict=True):
        for name in LATER_BOM_FIELDS:
            if getattr(item, name) == BomItem.model_fields[name].default:
                del dumped_item[name]
    return ledger.canonical_text(data)


def body_hash(text: str) -> str:
    return crypto.sm3(text.encode()).hex()


def body_of(version: MasterRecipeVersion) -> RecipeBody:
    return RecipeBody.model_validate(json.loads(version.body))


def steps_of(body: RecipeBody) -> Iterator[tuple[Operation, Step]]:
    for unit in body.unit_procedures:
        for operation in unit.operations:
            for step in operation.steps:
                yield operation, step


def operation_predecessors(body: RecipeBody) -> dict[str, list[str]]:
    """Each operation's predecessors as the recipe means them (omitted: the previous operation)."""
    found: dict[str, list[str]] = {}
    previous: str | None = None
    for unit in body.unit_procedures:
        for operation in unit.operations:
            if operation.predecessors is None:
                found[operation.code] = [previous] if previous else []
            else:
                found[operation.code] = list(operation.predecessors)
            previous = operation.code
    return found


def step_predecessors(body: RecipeBody) -> dict[str, list[str]]:
    """Each step's predecessors as the recipe means them (omitted: the previous step of its operation)."""
    found: dict[str, list[str]] = {}
    for unit in body.unit_procedures:
        for operation in unit.operations:
            previous: str | None = None
            for step in operation.steps:
                if step.predecessors is None:
                    found[step.code] = [previous] if previous else []
                else:
                    found[step.code] = list(step.predecessors)
                previous = step.code
    return found


def _invalid(message: str, where: str, field: str, **params: Any) -> RecipeInvalid:
    return RecipeInvalid(message, where=where, field=field, **params)


def _cycle(graph: dict[str, list[str]]) -> str | None:
    """A node on a cycle of ``graph`` (node → predecessors), or None: iterative depth-first search."""
    state: dict[str, int] = {}  # 1: on the path, 2: done
    for start in graph:
        if state.get(start):
            continue
        stack: list[tuple[str, Iterator[str]]] = [(start, iter(graph[start]))]
        state[start] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
            elif state.get(child) == 1:
                return child
            elif not state.get(child):
                state[child] = 1
                stack.append((child, iter(graph.get(child, []))))
    return None


def _check_limits(where: str, parameter: Parameter) -> None:
    order = ("action_low", "alert_low", "target", "alert_high", "action_high")
    given = [(name, getattr(parameter, name)) for name in order if getattr(parameter, name) is not None]
    for (low_name, low), (high_name, high) in itertools.pairwise(given):
        if low > high:
            raise _invalid(
                N_("{where}, {field}: the limits are not in order ({low_name} {low} > {high_name} {high})"),
                where, f"parameters.{parameter.code}", low_name=low_name, low=low, high_name=high_name, high=high,
            )  # fmt: skip


def _check_step(step: Step, operation: Operation, bom_materials: set[str], predecessors: list[str]) -> None:
    where = step.code
    for parameter in step.parameters:
        _check_limits(where, parameter)
    for control in step.controls:
        if control.low is not None and control.high is not None and control.low > control.high:
            raise _invalid(N_("{where}, {field}: the low limit is above the high limit"), where,
                           f"controls.{control.code}")  # fmt: skip
    codes = [p.code for p in step.parameters] + [c.code for c in step.controls]
    if len(set(codes)) != len(codes):
        raise _invalid(N_("{where}, {field}: a parameter or control code is used twice"), where, "parameters")
    if step.min_minutes is not None and step.max_minutes is not None and step.min_minutes > step.max_minutes:
        raise _invalid(N_("{where}, {field}: the minimum duration is longer than the maximum"), where,
                       "max_minutes")  # fmt: skip
    if step.max_hold_minutes is not None and not predecessors:
        raise _invalid(N_("{where}, {field}: a hold time needs a predecessor to count from"), where,
                       "max_hold_minutes")  # fmt: skip
    if step.yield_limits is not None and step.yield_limits.low_pct > step.yield_limits.high_pct:
        raise _invalid(N_("{where}, {field}: the low limit is above the high limit"), where, "yield_limits")
    kind = step.type
    if kind in MATERIAL_STEPS:
        if step.material_code is None:
            raise _invalid(N_("{where}, {field}: a {kind} step names the BOM item it weighs or charges"),
                           where, "material_code", kind=kind)  # fmt: skip
        if step.material_code not in bom_materials:
            raise _invalid(N_("{where}, {field}: {code} is not in the bill of materials"), where,
                           "material_code", code=step.material_code)  # fmt: skip
    elif step.material_code is not None:
        raise _invalid(N_("{where}, {field}: only a weighing or charging step names a BOM item"), where,
                       "material_code")  # fmt: skip
    if kind == "material_identification":
        if not step.materials:
            raise _invalid(N_("{where}, {field}: a material identification step lists the materials"),
                           where, "materials")  # fmt: skip
        for code in step.materials:
            if code not in bom_materials:
                raise _invalid(N_("{where}, {field}: {code} is not in the bill of materials"), where,
                               "materials", code=code)  # fmt: skip
    if kind in ("data_entry", "calculation") and not step.parameters:
        raise _invalid(N_("{where}, {field}: a {kind} step names the values it records"), where,
                       "parameters", kind=kind)  # fmt: skip
    if kind == "calculation" and not step.formula:
        raise _invalid(N_("{where}, {field}: a calculation step needs its formula"), where, "formula")
    if kind == "cpp":
        if not step.parameters:
            raise _invalid(N_("{where}, {field}: a CPP step needs its parameters with limits"), where,
                           "parameters")  # fmt: skip
        for parameter in step.parameters:
            if parameter.target is None or (parameter.action_low is None and parameter.action_high is None):
                raise _invalid(N_("{where}, {field}: a critical parameter needs a target and action limits"),
                               where, f"parameters.{parameter.code}")  # fmt: skip
    tagged = [p for p in step.parameters if p.tag is not None]
    if tagged and kind != "cpp":
        raise _invalid(N_("{where}, {field}: only a critical process parameter is bound to a historian tag"),
                       where, f"parameters.{tagged[0].code}.tag")  # fmt: skip
    for parameter in tagged:
        if not operation.equipment_classes:
            raise _invalid(N_("{where}, {field}: the tag {tag} needs equipment in the step's operation"),
                           where, f"parameters.{parameter.code}.tag", tag=parameter.tag)  # fmt: skip
    if kind == "ipc" and not step.controls:
        raise _invalid(N_("{where}, {field}: an IPC step needs its in-process controls"), where, "controls")
    if kind == "yield" and step.yield_limits is None:
        raise _invalid(N_("{where}, {field}: a yield step needs its yield limits"), where, "yield_limits")
    if kind in ("pre_use_check", "line_clearance") and not step.checks:
        raise _invalid(
            N_("{where}, {field}: a {kind} step lists what is checked"), where, "checks", kind=kind
        )
    if kind == "pre_use_check" and not operation.equipment_classes and operation.room is None:
        raise _invalid(N_("{where}, {field}: a pre-use check needs equipment or a room in its operation"),
                       where, "type")  # fmt: skip
    if kind == "line_clearance" and step.signoff in ("none", "operator"):
        raise _invalid(N_("{where}, {field}: a line clearance is verified by a second person"), where,
                       "signoff")  # fmt: skip
    if step.phase != "before" and kind != "line_clearance":
        raise _invalid(N_("{where}, {field}: only a line clearance has a phase (before or after production)"),
                       where, "phase")  # fmt: skip
    if step.phase == "after" and operation.room is None:
        raise _invalid(N_("{where}, {field}: a line clearance after production needs the room of its operation"),
                       where, "phase")  # fmt: skip


def _check_stages(body: RecipeBody) -> None:
    """TJ-6.4.6: the packaging record is complete before the packaging stage's yield step completes, and a
    visual inspection is counted before the inspection stage's data entry step does (see
    :func:`pharmatrace.mes.packaging.missing_evidence`): a stage declared without that step would never be
    held to its record."""
    needs = {"inspection": "data_entry", "packaging": "yield"}
    for stage, kind in needs.items():
        units = [u for u in body.unit_procedures if u.stage == stage]
        if units and not any(s.type == kind for u in units for o in u.operations for s in o.steps):
            raise _invalid(N_("{where}, {field}: a {stage} stage needs a {kind} step, which completes only with "
                              "the packaging record"), units[0].code, "stage", stage=stage, kind=kind)  # fmt: skip


def check_structure(body: RecipeBody) -> None:
    """The rules across fields that need no database (raises :class:`RecipeInvalid`)."""
    seen: set[str] = set()
    codes = [u.code for u in body.unit_procedures]
    codes += [o.code for u in body.unit_procedures for o in u.operations]
    codes += [s.code for _o, s in steps_of(body)]
    for code in codes:
        if code in seen:
            raise _invalid(N_("{where}, {field}: the code is used twice in the recipe"), code, "code")
        seen.add(code)
    operations = operation_predecessors(body)
    for code, before in operations.items():
        for other in before:
            if other not in operations:
                raise _invalid(N_("{where}, {field}: the predecessor {code} does not exist"), code,
                               "predecessors", code=other)  # fmt: skip
    steps = step_predecessors(body)
    for code, before in steps.items():
        for other in before:
            if other not in steps:
                raise _invalid(N_("{where}, {field}: the predecessor {code} does not exist"), code,
                               "predecessors", code=other)  # fmt: skip
    for graph in (operations, steps):
        on_cycle = _cycle(graph)
        if on_cycle is not None:
            raise _invalid(N_("{where}, {field}: the predecessors form a cycle"), on_cycle, "predecessors")
    step_types = {s.code: s.type for _o, s in steps_of(body)}
    pairs: set[tuple[str, str]] = set()
    for n, item in enumerate(body.bom, start=1):
        where = f"BOM {n} ({item.material_code})"
        if item.step not in step_types:
            raise _invalid(
                N_("{where}, {field}: the step {code} does not exist"), where, "step", code=item.step
            )
        if step_types[item.step] not in MATERIAL_STEPS:
            raise _invalid(N_("{where}, {field}: the step {code} neither weighs nor charges"), where, "step",
                           code=item.step)  # fmt: skip
        if (item.material_code, item.step) in pairs:
            raise _invalid(N_("{where}, {field}: the material is listed twice for this step"), where,
                           "material_code")  # fmt: skip
        pairs.add((item.material_code, item.step))
    bom_materials = {item.material_code for item in body.bom}
    for operation, step in steps_of(body):
        _check_step(step, operation, bom_materials, steps[step.code])
    _check_stages(body)
    for _unit in body.unit_procedures:
        for operation in _unit.operations:
            for klass in operation.equipment_classes:
                if klass not in EQUIPMENT_CLASSES:
                    raise _invalid(N_("{where}, {field}: there is no equipment class {code}"), operation.code,
                                   "equipment_classes", code=klass)  # fmt: skip


def check_body(session: Session, body: RecipeBody) -> None:
    """Every rule, those that read the plant included: BOM materials exist and are not void (master data in
    use), rooms exist and are not void. Raises :class:`RecipeInvalid`; nothing is written."""
    check_structure(body)
    codes = {item.material_code for item in body.bom}
    active = set(
        session.scalars(select(Material.code).where(Material.code.in_(codes), Material.voided_at.is_(None)))
    )
    for n, item in enumerate(body.bom, start=1):
        if item.material_code not in active:
            raise _invalid(N_("{where}, {field}: there is no usable material {code}"),
                           f"BOM {n} ({item.material_code})", "material_code", code=item.material_code)  # fmt: skip
    rooms = {o.room for u in body.unit_procedures for o in u.operations if o.room}
    known = set(session.scalars(select(Room.code).where(Room.code.in_(rooms), Room.voided_at.is_(None))))
    for unit in body.unit_procedures:
        for operation in unit.operations:
            if operation.room and operation.room not in known:
                raise _invalid(N_("{where}, {field}: there is no room {code}"), operation.code, "room",
                               code=operation.room)  # fmt: skip
    _check_tags(session, body)


def _check_tags(session: Session, body: RecipeBody) -> None:
    """TJ-6.4.3.3.f: a CPP's tag names equipment that exists, is not retired or scrapped, and is of one of its
    operation's equipment classes, so its values are captured from the equipment the step runs on."""
    tagged = [
        (operation, step, parameter)
        for operation, step in steps_of(body)
        for parameter in step.parameters
        if parameter.tag is not None
    ]
    codes = {historian_seam.equipment_of(p.tag) for _o, _s, p in tagged if p.tag}
    found = session.execute(
        select(Equipment.code, Equipment.equipment_class).where(
            Equipment.code.in_(codes), Equipment.lifecycle.not_in(("retired", "scrapped"))
        )
    )
    classes = {row.code: row.equipment_class for row in found}
    for operation, step, parameter in tagged:
        assert parameter.tag is not None
        where, field = step.code, f"parameters.{parameter.code}.tag"
        code = historian_seam.equipment_of(parameter.tag)
        if code not in classes:
            raise _invalid(N_("{where}, {field}: there is no usable equipment {code} for the tag {tag}"), where,
                           field, code=code, tag=parameter.tag)  # fmt: skip
        if classes[code] not in operation.equipment_classes:
            raise _invalid(
                N_("{where}, {field}: the tag {tag} is on {code} ({klass}), not on the equipment of operation "
                   "{operation} ({classes})"), where, field, tag=parameter.tag, code=code, klass=classes[code],
                operation=operation.code, classes=", ".join(operation.equipment_classes),
            )  # fmt: skip


# --- finding -------------------------------------------------------------------------------------------


def recipe_by_code(session: Session, code: str) -> MasterRecipe:
    recipe = session.scalar(select(MasterRecipe).where(MasterRecipe.code == code.strip().upper()))
    if recipe is None or recipe.voided_at is not None:
        raise NotFound(N_("No master recipe {code}"), code=code)
    return recipe


def get_version(session: Session, version_id: int) -> MasterRecipeVersion:
    version = session.get(MasterRecipeVersion, version_id)
    if version is None:
        raise NotFound(N_("No master recipe version {id}"), id=version_id)
    return version


def version_of(session: Session, recipe_code: str, number: int) -> MasterRecipeVersion:
    recipe = recipe_by_code(session, recipe_code)
    version = session.scalar(
        select(MasterRecipeVersion).where(
            MasterRecipeVersion.recipe_id == recipe.id, MasterRecipeVersion.version == number
        )
    )
    if version is None:
        raise NotFound(N_("No version {version} of master recipe {code}"), version=number, code=recipe.code)
    return version


def usable_version(session: Session, recipe_code: str) -> MasterRecipeVersion | None:
    """The approved version a new batch order uses (TJ-6.4.3.1), or None."""
    recipe = session.scalar(select(MasterRecipe).where(MasterRecipe.code == recipe_code.strip().upper()))
    if recipe is None or recipe.voided_at is not None:
        return None
    return session.scalar(
        select(MasterRecipeVersion).where(
            MasterRecipeVersion.recipe_id == recipe.id, MasterRecipeVersion.status == "approved"
        )
    )


@dataclass(frozen=True, slots=True)
class FrozenBody:
    """What a control recipe copies: the exact body text and its SM3 hash (verified when taken)."""

    recipe_code: str
    version: int
    version_id: int
    text: str
    sm3: str

    def body(self) -> RecipeBody:
        return RecipeBody.model_validate(json.loads(self.text))


def frozen_body(version: MasterRecipeVersion) -> FrozenBody:
    """A byte-exact copy of an approved version's body for a control recipe; refused for any other status, or
    if the stored body no longer matches its hash."""
    if version.status != "approved":
        raise Conflict(
            N_("Only an approved master recipe version can be used; version {version} is “{status}”"),
            version=version.version, status=Msgid(STATUS_LABELS[version.status]),
        )  # fmt: skip
    if body_hash(version.body) != version.body_sm3:
        raise Conflict(N_("The body of master recipe version {version} does not match its hash"),
                       version=version.version)  # fmt: skip
    return FrozenBody(version.recipe.code, version.version, version.id, version.body, version.body_sm3)


# --- writing -------------------------------------------------------------------------------------------


def _set_body(version: MasterRecipeVersion, body: RecipeBody) -> None:
    text = canonical_body(body)
    version.body = text
    version.body_sm3 = body_hash(text)
    version.batch_size = body.batch_size
    version.batch_unit = body.batch_unit
    version.mpr_number = body.mpr_number


def _open_version(session: Session, recipe: MasterRecipe) -> MasterRecipeVersion | None:
    return session.scalar(
        select(MasterRecipeVersion).where(
            MasterRecipeVersion.recipe_id == recipe.id, MasterRecipeVersion.status.in_(OPEN_STATUSES)
        )
    )


def _new_version(
    uow: UnitOfWork, recipe: MasterRecipe, body: RecipeBody, summary: str
) -> MasterRecipeVersion:
    session = uow.session
    if _open_version(session, recipe) is not None:
        raise Conflict(
            N_("Master recipe {code} already has a version in draft or in review"), code=recipe.code
        )
    latest = session.scalar(
        select(func.max(MasterRecipeVersion.version)).where(MasterRecipeVersion.recipe_id == recipe.id)
    )
    version = MasterRecipeVersion(
        recipe=recipe, version=(latest or 0) + 1, status="draft", change_summary=summary,
        created_at=clock.now(), created_by=uow.actor.login,
    )  # fmt: skip
    _set_body(version, body)
    session.add(version)
    session.flush()
    return version


def import_draft(uow: UnitOfWork, body: RecipeBody, change_summary: str = "") -> MasterRecipeVersion:
    """A draft from a file: a new master recipe (version 1), or the next version of an existing one that has
    no open version. The product of an existing recipe cannot change through an import."""
    session = uow.session
    check_body(session, body)
    recipe = session.scalar(select(MasterRecipe).where(MasterRecipe.code == body.recipe_code))
    if recipe is None:
        recipe = MasterRecipe(
            code=body.recipe_code, product_code=body.product_code, product_name=body.product_name,
            created_at=clock.now(), created_by=uow.actor.login,
        )  # fmt: skip
        session.add(recipe)
        session.flush()
    elif recipe.voided_at is not None:
        raise Conflict(N_("Master recipe {code} is void"), code=recipe.code)
    elif recipe.product_code != body.product_code:
        raise _invalid(N_("{where}, {field}: master recipe {code} makes another product"), "header",
                       "product_code", code=recipe.code)  # fmt: skip
    return _new_version(uow, recipe, body, change_summary)


def replace_body(uow: UnitOfWork, version_id: int, body: RecipeBody) -> MasterRecipeVersion:
    """A draft's body replaced as a whole (the unit of work carries the reason)."""
    session = uow.session
    version = get_version(session, version_id)
    if version.status != "draft":
        raise Conflict(N_("Only a draft version of a master recipe can be changed"))
    if body.recipe_code != version.recipe.code or body.product_code != version.recipe.product_code:
        raise _invalid(N_("{where}, {field}: the body belongs to another recipe or product"), "header",
                       "recipe_code")  # fmt: skip
    check_body(session, body)
    if canonical_body(body) == version.body:
        raise Conflict(N_("The body is unchanged"))
    _set_body(version, body)
    version.edited_at = clock.now()
    version.edited_by = uow.actor.login
    session.flush()
    return version


def new_version(uow: UnitOfWork, recipe_code: str, change_summary: str) -> MasterRecipeVersion:
    """The next version, a draft copy of the latest one (whatever its status)."""
    session = uow.session
    recipe = recipe_by_code(session, recipe_code)
    latest = session.scalar(
        select(MasterRecipeVersion)
        .where(MasterRecipeVersion.recipe_id == recipe.id)
        .order_by(MasterRecipeVersion.version.desc())
    )
    assert latest is not None
    return _new_version(uow, recipe, body_of(latest), change_summary)


def submit(uow: UnitOfWork, version_id: int) -> MasterRecipeVersion:
    """A draft goes to review; its body is checked again (the plant may have changed since)."""
    version = get_version(uow.session, version_id)
    if version.status != "draft":
        raise Conflict(N_("Only a draft can be submitted for review"))
    check_body(uow.session, body_of(version))
    uow.reason = uow.reason or "master recipe version submitted for review"
    version.status = "in_review"
    version.submitted_at = clock.now()
    version.submitted_by = uow.actor.login
    uow.session.flush()
    return version


def valid_decision(session: Session, version: MasterRecipeVersion, kind: str) -> RecipeDecision | None:
    """The decision of ``kind`` on the version's body since its latest submission, with a valid signature."""
    action = {"reviewed": REVIEW_ACTION, "approved": APPROVE_ACTION}[kind]
    for decision in reversed(version.decisions):
        if decision.kind != kind or decision.body_sm3 != version.body_sm3:
            continue
        if version.submitted_at is not None and decision.decided_at < version.submitted_at:
            continue
        signed = [
            s for s in esign.manifestations(session, DECISION_TYPE, str(decision.id))
            if s.action == action and s.status == "valid"
        ]  # fmt: skip
        if signed:
            return decision
    return None


def authors(version: MasterRecipeVersion) -> set[str]:
    return {version.created_by, *([version.edited_by] if version.edited_by else [])}


def _decide(
    uow: UnitOfWork, principal: Principal, version: MasterRecipeVersion, kind: str, action: str,
    password: str, login: str | None, comment: str,
) -> RecipeDecision:  # fmt: skip
    decision = RecipeDecision(
        version_id=version.id, kind=kind, body_sm3=version.body_sm3, decided_at=clock.now(),
        decided_by=principal.login, decided_by_name=principal.full_name, comment=comment,
    )  # fmt: skip
    esign.add_signed_decision(uow, principal, decision, action_code=action, password=password, login=login)
    uow.session.refresh(version, ["decisions"])
    return decision


def review(
    uow: UnitOfWork, principal: Principal, version_id: int, *, password: str, login: str | None = None,
    comment: str = "",
) -> RecipeDecision:  # fmt: skip
    """The review signature (meaning "reviewed") of a version in review, by someone other than its authors."""
    principal.require(REVIEW_PERMISSION)
    version = get_version(uow.session, version_id)
    if version.status != "in_review":
        raise Conflict(N_("Only a version in review can be reviewed or approved"))
    if principal.login in authors(version):
        raise DutiesNotSegregated(N_("The author of a master recipe version cannot review or approve it"))
    if valid_decision(uow.session, version, "reviewed") is not None:
        raise Conflict(N_("This version is already reviewed"))
    esign.authenticate_signer(uow.db, principal, password, login)
    return _decide(uow, principal, version, "reviewed", REVIEW_ACTION, password, login, comment)


def approve(
    uow: UnitOfWork, principal: Principal, version_id: int, *, password: str, login: str | None = None,
    comment: str = "",
) -> RecipeDecision:  # fmt: skip
    """The approval signature: the version becomes the usable one, the approved one before it is superseded."""
    principal.require(APPROVE_PERMISSION)
    session = uow.session
    version = get_version(session, version_id)
    if version.status != "in_review":
        raise Conflict(N_("Only a version in review can be reviewed or approved"))
    if principal.login in authors(version):
        raise DutiesNotSegregated(N_("The author of a master recipe version cannot review or approve it"))
    reviewed = valid_decision(session, version, "reviewed")
    if reviewed is None:
        raise Conflict(N_("A version is reviewed before it is approved"))
    if reviewed.decided_by == principal.login:
        raise DutiesNotSegregated(N_("The reviewer of a master recipe version cannot also approve it"))
    esign.authenticate_signer(uow.db, principal, password, login)
    uow.reason = uow.reason or "master recipe version approved"
    moment = clock.now()
    previous = usable_version(session, version.recipe.code)
    if previous is not None:
        previous.status = "superseded"
        previous.superseded_at = moment
        session.flush()  # the one-approved-per-recipe index sees the old one go first
    version.status = "approved"
    version.approved_at = moment
    session.flush()
    return _decide(uow, principal, version, "approved", APPROVE_ACTION, password, login, comment)


def return_to_draft(uow: UnitOfWork, principal: Principal, version_id: int) -> RecipeDecision:
    """A reviewer or approver sends a version in review back to its author (the unit of work's reason)."""
    if not (principal.can(REVIEW_PERMISSION) or principal.can(APPROVE_PERMISSION)):
        principal.require(REVIEW_PERMISSION)
    version = get_version(uow.session, version_id)
    if version.status != "in_review":
        raise Conflict(N_("Only a version in review can be returned to draft"))
    decision = RecipeDecision(
        version_id=version.id, kind="returned", body_sm3=version.body_sm3, decided_at=clock.now(),
        decided_by=principal.login, decided_by_name=principal.full_name, comment=uow.reason or "",
    )  # fmt: skip
    uow.session.add(decision)
    version.status = "draft"
    uow.session.flush()
    return decision


def withdraw(uow: UnitOfWork, principal: Principal, version_id: int) -> MasterRecipeVersion:
    """QA withdraws a draft, a version in review or the approved one (the unit of work's reason): it can no
    longer be used. Batches that froze it keep their copy."""
    principal.require(APPROVE_PERMISSION)
    version = get_version(uow.session, version_id)
    if version.status not in ("draft", "in_review", "approved"):
        raise Conflict(N_("A superseded or withdrawn version cannot be withdrawn"))
    version.status = "withdrawn"
    version.withdrawn_at = clock.now()
    uow.session.flush()
    return version


# --- scaling and comparing -----------------------------------------------------------------------------


def scaled_bom(version: MasterRecipeVersion, batch_size: Decimal) -> ScaledBom:
    """The bill of materials for ``batch_size`` (in the recipe's batch unit): each theoretical quantity ×
    batch_size / recipe batch size, and its tolerance band, rounded per GB/T 8170 at the line's places."""
    return scale_body(body_of(version), batch_size, recipe_code=version.recipe.code, version=version.version)


def scale_body(body: RecipeBody, batch_size: Decimal, *, recipe_code: str, version: int) -> ScaledBom:
    """:func:`scaled_bom` over a body (a control recipe's frozen copy, TJ-6.4.3.1)."""
    if batch_size <= 0:
        raise ValidationFailed(N_("The batch size must be greater than zero"))
    factor = Decimal(batch_size) / body.batch_size
    items = []
    for item in body.bom:
        exact = item.quantity * factor
        band = exact * item.tolerance_pct / Decimal(100)
        items.append(
            ScaledItem(
                material_code=item.material_code, unit=item.unit, step=item.step,
                quantity=round_gbt8170(exact, item.decimals), low=round_gbt8170(exact - band, item.decimals),
                high=round_gbt8170(exact + band, item.decimals), tolerance_pct=item.tolerance_pct,
            )
        )  # fmt: skip
    return ScaledBom(recipe_code=recipe_code, version=version, batch_size=batch_size,
                     batch_unit=body.batch_unit, items=items)  # fmt: skip


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, inner in value.items():
            out.update(_flat(inner, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def _keyed(items: Iterable[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    return {str(item[key]): item for item in items}


def diff(old: MasterRecipeVersion, new: MasterRecipeVersion) -> VersionDiff:
    """What changed from ``old`` to ``new``: header fields, steps added, removed or changed (field by field),
    operations' equipment, room and predecessors, BOM lines."""
    a, b = json.loads(old.body), json.loads(new.body)
    changes: list[Change] = []
    for field in ("product_name", "batch_size", "batch_unit", "mpr_number"):
        if a.get(field) != b.get(field):
            changes.append(Change(where="header", field=field, old=a.get(field), new=b.get(field)))
    for field in LATER_HEADER_FIELDS:  # a body without them has their defaults
        default = RecipeBody.model_fields[field].default
        if a.get(field, default) != b.get(field, default):
            changes.append(
                Change(where="header", field=field, old=a.get(field, default), new=b.get(field, default))
            )
    old_units = {u["code"]: u for u in a["unit_procedures"]}
    for unit in b["unit_procedures"]:
        before = old_units.get(unit["code"])
        for field in LATER_UNIT_FIELDS:
            default = UnitProcedure.model_fields[field].default
            if before is not None and before.get(field, default) != unit.get(field, default):
                changes.append(Change(where=unit["code"], field=field, old=before.get(field, default),
                                      new=unit.get(field, default)))  # fmt: skip

    def operations(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
        return {o["code"]: o for u in body["unit_procedures"] for o in u["operations"]}

    def steps(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
        return {s["code"]: s for o in operations(body).values() for s in o["steps"]}

    for kind, old_items, new_items, skip in (
        ("operation", operations(a), operations(b), {"steps"}),
        ("step", steps(a), steps(b), set()),
    ):
        for code in [*old_items, *[c for c in new_items if c not in old_items]]:
            if code not in new_items:
                changes.append(Change(where=code, field=f"({kind} removed)", old=old_items[code].get("name")))
                continue
            if code not in old_items:
                changes.append(Change(where=code, field=f"({kind} added)", new=new_items[code].get("name")))
                continue
            before = _flat({k: v for k, v in old_items[code].items() if k not in skip})
            after = _flat({k: v for k, v in new_items[code].items() if k not in skip})
            for field in [*before, *[f for f in after if f not in before]]:
                if before.get(field) != after.get(field):
                    changes.append(
                        Change(where=code, field=field, old=before.get(field), new=after.get(field))
                    )
    old_bom = {f"{i['material_code']}@{i['step']}": i for i in a.get("bom", [])}
    new_bom = {f"{i['material_code']}@{i['step']}": i for i in b.get("bom", [])}
    for key in [*old_bom, *[k for k in new_bom if k not in old_bom]]:
        before, after = old_bom.get(key, {}), new_bom.get(key, {})
        for field in ("quantity", "unit", "tolerance_pct", "decimals"):
            if before.get(field) != after.get(field):
                changes.append(
                    Change(where=f"BOM {key}", field=field, old=before.get(field), new=after.get(field))
                )
    return VersionDiff(recipe_code=new.recipe.code, old_version=old.version, new_version=new.version,
                       changes=changes)  # fmt: skip


# --- reading -------------------------------------------------------------------------------------------


def decision_public(decision: RecipeDecision) -> DecisionPublic:
    return DecisionPublic.model_validate(decision, from_attributes=True)


def version_public(version: MasterRecipeVersion) -> VersionPublic:
    recipe = version.recipe
    return VersionPublic(
        id=version.id, recipe_code=recipe.code, product_code=recipe.product_code,
        product_name=recipe.product_name, version=version.version, status=version.status,
        batch_size=version.batch_size, batch_unit=version.batch_unit, mpr_number=version.mpr_number,
        change_summary=version.change_summary, body_sm3=version.body_sm3, created_at=version.created_at,
        created_by=version.created_by, edited_at=version.edited_at, edited_by=version.edited_by,
        submitted_at=version.submitted_at, submitted_by=version.submitted_by, approved_at=version.approved_at,
        superseded_at=version.superseded_at, withdrawn_at=version.withdrawn_at,
        decisions=[decision_public(d) for d in version.decisions],
    )  # fmt: skip


def version_detail(version: MasterRecipeVersion) -> VersionDetail:
    return VersionDetail(**version_public(version).model_dump(), body=json.loads(version.body))


def recipe_public(recipe: MasterRecipe) -> RecipePublic:
    versions = recipe.versions
    latest = versions[-1]
    usable = next((v.version for v in versions if v.status == "approved"), None)
    return RecipePublic(
        id=recipe.id, code=recipe.code, product_code=recipe.product_code, product_name=recipe.product_name,
        versions=len(versions), usable_version=usable, latest_version=latest.version,
        latest_status=latest.status, created_at=recipe.created_at, created_by=recipe.created_by,
    )  # fmt: skip


def list_recipes(
    session: Session, *, text: str = "", status: str = "", product: str = ""
) -> list[MasterRecipe]:
    """Master recipes (not void) whose code or product matches ``text``, with a version in ``status``."""
    query = select(MasterRecipe).where(MasterRecipe.voided_at.is_(None)).order_by(MasterRecipe.code)
    if text.strip():
        like = f"%{text.strip()}%"
        query = query.where(
            MasterRecipe.code.ilike(like)
            | MasterRecipe.product_name.ilike(like)
            | MasterRecipe.product_code.ilike(like)
        )
    if product.strip():
        query = query.where(MasterRecipe.product_code == product.strip().upper())
    if status:
        query = query.where(
            MasterRecipe.id.in_(
                select(MasterRecipeVersion.recipe_id).where(MasterRecipeVersion.status == status)
            )
        )
    return [r for r in session.scalars(query).unique() if r.versions]


def sop_versions(session: Session, numbers: Iterable[str]) -> dict[str, str | None]:
    """Each SOP number's current effective version, as text ("v2"), or None (TJ-6.1). Read through the
    documents area's service; while it is not there yet, every SOP shows as unknown."""
    wanted = sorted(set(numbers))
    try:
        from pharmatrace.documents import service as documents  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        return dict.fromkeys(wanted)
    current = getattr(documents, "current_effective", None)
    if current is None:
        return dict.fromkeys(wanted)
    found: dict[str, str | None] = {}
    for number in wanted:
        try:
            version = current(session, number)
        except Exception:  # an unknown number shows as "—", never breaks the recipe page
            version = None
        found[number] = f"v{version.version}" if version is not None else None
    return found


def sop_numbers(body: RecipeBody) -> set[str]:
    numbers = {s.sop for _o, s in steps_of(body) if s.sop}
    numbers |= {c.sop for _o, s in steps_of(body) for c in s.controls if c.sop}
    return numbers
