"""Demo controlled documents (SH-6.3.3, TJ-9.2): the SOPs, the master production record and the
specification of 注射用丹红冻干粉, the cleaning and equipment SOPs the equipment demo refers to, and the artwork
(印刷图稿, drawings) of its printed packaging materials, against which packaging verifies what it prints on
(TJ-6.4.6).

Each is authored, submitted, reviewed by QA (陈静, signed "reviewed") and approved by the qualified person
(赵敏, signed "approved") through the service, so the demo obeys the same rules as real work. Two documents
show the life after that: SOP-PR-006 灌装 has version 2 in review, and SOP-PR-007 冻干 has version 2 approved
and effective at once with no training grace (an urgent change of the primary-drying segment), which the
training demo uses. Idempotent: a document that exists is left as it is.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from pharmatrace.documents import service
from pharmatrace.documents.models import Document
from pharmatrace.documents.schemas import (
    ApproveDecision,
    DocumentCreate,
    DraftUpdate,
    ReviewDecision,
    VersionCreate,
)
from pharmatrace.kernel.identity import service as identity
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.storage.engine import Database

PRODUCT = "注射用丹红冻干粉"


@dataclass(frozen=True, slots=True)
class DemoDocument:
    number: str
    title: str
    doc_type: str
    department: str
    purpose: str
    steps: tuple[str, ...]
    keywords: str = ""
    author: str = "lina"  # 生产主管 李娜; the document controller writes the cleaning and equipment SOPs


def _sop(number: str, title: str, purpose: str, steps: tuple[str, ...], keywords: str = "",
         author: str = "lina") -> DemoDocument:  # fmt: skip
    department = number.split("-")[1]
    return DemoDocument(number, title, "sop", department, purpose, steps, keywords, author)


DOCUMENTS: tuple[DemoDocument, ...] = (
    _sop(
        "SOP-PR-001",
        "中药材提取标准操作规程",
        f"规范{PRODUCT}所用丹参、三七等中药材的提取操作，保证提取液质量稳定。",
        (
            "核对批生产指令、药材批号、放行状态与称量记录",
            "按工艺规程投料，加水量为药材量的 8 倍",
            "加热至微沸后保持回流提取 2 小时，记录温度与时间",
            "趁热过滤，滤液转入贮罐并贴状态标识",
            "清点物料，计算收率，填写批生产记录",
        ),
        "提取 回流 丹参 三七",
    ),
    _sop(
        "SOP-PR-002",
        "浓缩标准操作规程",
        "规范提取液的减压浓缩操作，控制浓缩液相对密度。",
        (
            "确认浓缩器已清洁并在有效期内",
            "真空度 -0.08 MPa 以下，温度不超过 65 ℃",
            "定时取样测定相对密度至 1.10～1.15（60 ℃）",
            "浓缩液放料、称重并记录",
            "按 SOP-QA-001 清场",
        ),
        "浓缩 减压 相对密度",
    ),
    _sop(
        "SOP-PR-003",
        "配液标准操作规程",
        "规范浓缩液与辅料的配制，保证药液含量与 pH 符合要求。",
        (
            "核对物料名称、批号、数量与称量配料记录",
            "注射用水降温至 40 ℃ 以下后加入浓缩液与辅料",
            "搅拌 30 分钟，调节 pH 至 5.5～6.5",
            "定容后取样送中间体检验",
            "检验合格后转入超滤工序",
        ),
        "配液 pH 定容",
    ),
    _sop(
        "SOP-PR-004",
        "超滤标准操作规程",
        "规范药液超滤操作，去除热原和大分子杂质。",
        (
            "确认超滤膜完整性测试合格",
            "进口压力不超过 0.3 MPa，记录跨膜压差",
            "收集滤过液，取样检测细菌内毒素",
            "超滤结束后按 SOP-EQ-201 清洗超滤系统",
        ),
        "超滤 内毒素 膜完整性",
    ),
    _sop(
        "SOP-PR-005",
        "除菌过滤标准操作规程",
        "规范药液的除菌过滤，保证无菌保证水平。",
        (
            "使用前对 0.22 μm 滤芯进行起泡点试验",
            "过滤压力不超过 0.2 MPa",
            "使用后再次进行完整性测试并记录结果",
            "完整性测试不合格时立即停止灌装并报告 QA",
        ),
        "除菌过滤 起泡点 完整性测试",
    ),
    _sop(
        "SOP-PR-006",
        "灌装标准操作规程",
        "规范西林瓶药液灌装与半加塞操作，控制装量差异。",
        (
            "确认灌装间 A 级区环境监测合格、设备已灭菌",
            "首件装量检查，每 30 分钟抽查装量",
            "半加塞后立即转入冻干机",
            "记录灌装数量、废品数量与偏差",
        ),
        "灌装 装量 半加塞 A级",
    ),
    _sop(
        "SOP-PR-007",
        "冻干标准操作规程",
        "规范冻干机的进箱、预冻、一次干燥、二次干燥与出箱操作。",
        (
            "进箱后板层温度降至 -45 ℃，保持 3 小时预冻",
            "一次干燥：板层温度 -10 ℃，真空 10～20 Pa，保持 20 小时",
            "二次干燥：板层温度 30 ℃，保持 6 小时",
            "压塞后出箱，核对数量并记录冻干曲线",
        ),
        "冻干 冻干曲线 一次干燥",
    ),
    _sop(
        "SOP-PR-008",
        "轧盖标准操作规程",
        "规范西林瓶轧盖操作，保证密封完好。",
        ("确认铝盖批号与放行状态", "首件检查轧盖质量，每小时抽查", "剔除轧盖不良品并计数", "记录轧盖数量"),
        "轧盖 铝盖 密封",
    ),
    _sop(
        "SOP-PR-009",
        "灯检标准操作规程",
        "规范可见异物检查，剔除不合格品。",
        (
            "灯检人员视力检查合格并在有效期内",
            "照度 2000～3000 lx，每瓶检查时间不少于 10 秒",
            "不合格品分类计数并隔离",
            "记录灯检结果并由复核人复核",
        ),
        "灯检 可见异物 照度",
    ),
    _sop(
        "SOP-PR-010",
        "包装标准操作规程",
        "规范贴签、装盒、装箱与追溯码赋码操作。",
        (
            "核对包装指令、包装材料与批号",
            "打印并核对追溯码，首件由 QA 确认",
            "装盒、装箱并关联追溯码",
            "物料平衡计算并填写批包装记录",
        ),
        "包装 追溯码 物料平衡",
    ),
    _sop(
        "SOP-WH-001",
        "称量配料标准操作规程",
        "规范原辅料在称量间的称量与配料，防止差错和混淆。",
        (
            "确认电子天平已校准且在有效期内",
            "核对物料名称、批号与放行状态，一次只称量一种物料",
            "称量后贴配料标签，双人复核",
            "剩余物料密封退回并记录",
        ),
        "称量 配料 复核 天平",
    ),
    _sop(
        "SOP-QA-001",
        "清场标准操作规程",
        "规范每批生产结束后的清场，防止混淆和交叉污染。",
        (
            "清除上批物料、标签、记录与废弃物",
            "按房间清洁规程清洁设备与地面",
            "QA 检查合格后发放清场合格证",
            "清场记录归入批记录",
        ),
        "清场 清场合格证",
    ),
    _sop(
        "SOP-CL-101",
        "称量间清洁消毒规程",
        "规定称量间的清洁、消毒方法与频次。",
        (
            "每班结束后用纯化水擦拭台面与天平外壳",
            "75% 乙醇与新洁尔灭每月轮换使用",
            "地面用消毒剂拖洗",
            "填写房间清洁记录",
        ),
        "清洁 消毒 称量间",
        "zhengxue",
    ),
    _sop(
        "SOP-CL-102",
        "配液间清洁消毒规程",
        "规定配液间的清洁、消毒方法与频次。",
        ("清除残留物料", "设备外表面与墙面擦拭清洁", "消毒剂消毒，作用 30 分钟", "填写清洁记录"),
        "清洁 消毒 配液间",
        "zhengxue",
    ),
    _sop(
        "SOP-CL-103",
        "灌装间清洁消毒规程",
        "规定灌装间（B级背景）的清洁、消毒与过氧化氢熏蒸。",
        (
            "从洁净度高的区域向低的区域清洁",
            "表面用无菌消毒剂擦拭",
            "按计划进行过氧化氢熏蒸并记录浓度与时间",
            "环境监测合格后方可使用",
        ),
        "清洁 消毒 灌装间 熏蒸",
        "zhengxue",
    ),
    _sop(
        "SOP-CL-104",
        "A级区清洁消毒规程",
        "规定灌装线 A 级区的清洁消毒与沉降菌取样。",
        ("使用无菌抹布与无菌消毒剂", "单向擦拭，不得往返", "清洁后进行沉降菌取样", "填写 A 级区清洁记录"),
        "A级 沉降菌 清洁",
        "zhengxue",
    ),
    _sop(
        "SOP-CL-105",
        "冻干间清洁消毒规程",
        "规定冻干间的清洁消毒。",
        ("清洁冻干机外表面与进出料区域", "地面与墙面消毒", "填写清洁记录"),
        "清洁 冻干间",
        "zhengxue",
    ),
    _sop(
        "SOP-CL-106",
        "轧盖间清洁规程",
        "规定轧盖间的清洁。",
        ("清除铝屑与碎玻璃", "设备外表面擦拭", "地面清洁", "填写清洁记录"),
        "清洁 轧盖间",
        "zhengxue",
    ),
    _sop(
        "SOP-CL-107",
        "包装间清洁规程",
        "规定外包装间的清洁。",
        ("清除上批包装材料与标签", "台面与设备擦拭", "地面清洁", "填写清洁记录"),
        "清洁 包装间",
        "zhengxue",
    ),
    _sop(
        "SOP-EQ-201",
        "在线清洗（CIP）标准操作规程",
        "规范配液及超滤系统的在线清洗。",
        (
            "纯化水预冲洗 10 分钟",
            "1% 氢氧化钠溶液 70 ℃ 循环 30 分钟",
            "纯化水冲洗至电导率合格",
            "注射用水终淋并取样检测",
        ),
        "CIP 在线清洗 电导率",
        "zhengxue",
    ),
    _sop(
        "SOP-EQ-202",
        "在线灭菌（SIP）标准操作规程",
        "规范配液及过滤系统的在线蒸汽灭菌。",
        (
            "排尽冷凝水，确认各低点温度探头",
            "121 ℃ 保持 30 分钟",
            "记录灭菌曲线",
            "灭菌后保持正压并标识有效期",
        ),
        "SIP 在线灭菌 121",
        "zhengxue",
    ),
    _sop(
        "SOP-EQ-211",
        "灌装泵与针头清洗灭菌规程",
        "规范灌装机灌装泵、针头的拆卸清洗与灭菌。",
        (
            "按顺序拆卸灌装泵与针头",
            "注射用水超声清洗 15 分钟",
            "装袋后湿热灭菌 121 ℃ 30 分钟",
            "灭菌后 72 小时内使用",
        ),
        "灌装泵 针头 灭菌",
        "zhengxue",
    ),
    DemoDocument(
        "MPR-DH-001",
        f"{PRODUCT}工艺规程",
        "master_production_record",
        "PR",
        f"规定{PRODUCT}的处方、工艺流程、工艺参数和质量控制要点。",
        (
            "处方：丹参、红花提取物，甘露醇为赋形剂",
            "工艺流程：提取 → 浓缩 → 配液 → 超滤 → 除菌过滤 → 灌装 → 冻干 → 轧盖 → 灯检 → 包装",
            "关键工艺参数见各工序 SOP（SOP-PR-001～SOP-PR-010）",
            "中间体与成品按 SPEC-DH-001 检验",
        ),
        "工艺规程 丹红 处方",
    ),
    DemoDocument(
        "SPEC-DH-001",
        f"{PRODUCT}成品质量标准",
        "specification",
        "QC",
        f"规定{PRODUCT}成品的检验项目、方法与限度。",
        (
            "性状：红棕色疏松块状物",
            "鉴别：薄层色谱应与对照药材一致",
            "水分：不得过 3.0%",
            "可见异物、不溶性微粒、无菌、细菌内毒素：符合《中国药典》规定",
            "含量：丹参素不少于标示量的 90.0%",
        ),
        "质量标准 成品 含量 无菌",
        "zhengxue",
    ),
    # The artwork of the printed packaging materials (TJ-6.4.6): packaging checks the version printed on.
    DemoDocument(
        "DWG-PK-001",
        f"{PRODUCT} 小盒（10支装）印刷图稿",
        "drawing",
        "PK",
        f"规定{PRODUCT}小盒（SP-BOX-10）的版面、文字、颜色与可变数据打印区，供印刷与包装核对。",
        (
            "正面：品名“注射用丹红冻干粉”、规格 200 mg/支、10 支/盒、批准文号、企业名称与标识",
            "侧面：【贮藏】遮光，密闭，不超过 20 °C；【有效期】24 个月",
            "底面可变数据打印区：产品批号、生产日期、有效期至（YYYY-MM-DD），喷码位置 40 × 15 mm",
            "药品追溯码打印区：右侧面，Data Matrix，18 × 18 mm",
            "印刷色：PANTONE 1807 C（红）、PANTONE 7545 C（灰）；白卡纸 350 g/m²",
        ),
        "小盒 印刷图稿 包装 批号 有效期",
        "zhengxue",
    ),
    DemoDocument(
        "DWG-PK-002",
        "20 mm 铝塑组合盖 盖面印字图稿",
        "drawing",
        "PK",
        "规定 20 mm 铝塑组合盖（SP-CAP-20）塑料盖面的颜色与印字，供来料验收与轧盖岗位核对。",
        (
            "塑料盖面颜色：红色（PANTONE 1807 C）",
            "盖面印字：白色“丹红”及企业标识，字高 4 mm，居中",
            "铝盖：本色，无印字",
        ),
        "铝塑组合盖 印字 图稿",
        "zhengxue",
    ),
)


def body(demo: DemoDocument) -> str:
    """A short but real SOP body: purpose, scope, responsibilities, procedure (an artwork: what is printed)."""
    steps = "\n".join(f"{n}. {step}" for n, step in enumerate(demo.steps, start=1))
    if demo.doc_type == "drawing":
        return (
            f"# {demo.title}\n\n## 1 用途\n\n{demo.purpose}\n\n## 2 版面与印刷内容\n\n{steps}\n\n"
            "## 3 核对\n\n印刷厂按本图稿的现行版本印刷；来料验收与包装岗位核对所用包装材料的图稿版本号。\n"
        )
    return (
        f"# {demo.title}\n\n## 1 目的\n\n{demo.purpose}\n\n## 2 范围\n\n适用于{PRODUCT}生产及相关区域。\n\n"
        "## 3 职责\n\n- 操作人员：按本规程操作并如实记录。\n- 班组长/主管：监督执行，复核记录。\n"
        "- QA：现场监督，检查本规程的执行。\n\n"
        f"## 4 程序\n\n{steps}\n\n## 5 记录\n\n按本规程填写的记录归入批记录或设备日志。\n"
    )


def _principal(db: Database, login: str) -> Principal:
    with db.sessions() as session:
        user = identity.find_user(session, login)
        assert user is not None, login
        return identity.principal_of(user)


def _review_and_approve(db: Database, number: str, password: str) -> None:
    reviewer, approver = _principal(db, "chenjing"), _principal(db, "zhaomin")
    with UnitOfWork(db, reviewer.actor) as uow:
        service.review(uow, reviewer, number, ReviewDecision(password=password, login="chenjing"))
        uow.commit()
    with UnitOfWork(db, approver.actor) as uow:
        service.approve(uow, approver, number, ApproveDecision(password=password, login="zhaomin"))
        uow.commit()


def _submit(db: Database, author: Principal, number: str) -> None:
    with UnitOfWork(db, author.actor) as uow:
        service.submit(uow, author, number)
        uow.commit()


def seed_documents(db: Database, password: str) -> int:
    """Create, review and approve the demo documents that are missing; returns how many were added."""
    with db.sessions() as session:
        existing = set(session.scalars(select(Document.number)))
    added = 0
    for demo in DOCUMENTS:
        if demo.number in existing:
            continue
        author = _principal(db, demo.author)
        with UnitOfWork(db, author.actor, reason="demo plant seed: controlled documents") as uow:
            service.create_document(uow, author, DocumentCreate(
                number=demo.number, title=demo.title, doc_type=demo.doc_type,
                department=demo.department, gmp=True, keywords=demo.keywords, markdown=body(demo),
                change_summary="首次发布", change_control_ref="", training_grace_days=14,
                training_required=demo.doc_type != "drawing",  # an artwork is checked against, not trained on
            ))  # fmt: skip
            uow.commit()
        _submit(db, author, demo.number)
        _review_and_approve(db, demo.number, password)
        added += 1
    _seed_revisions(db, password)
    return added


def _seed_revisions(db: Database, password: str) -> None:
    lina = _principal(db, "lina")
    with db.sessions() as session:
        filling = service.get_document(session, "SOP-PR-006")
        lyo = service.get_document(session, "SOP-PR-007")
        filling_versions, lyo_versions = len(filling.versions), len(lyo.versions)
    if filling_versions == 1:  # a revision in progress: v2 in review
        with UnitOfWork(db, lina.actor, reason="demo plant seed: revision of the filling SOP") as uow:
            service.new_version(uow, lina, "SOP-PR-006", VersionCreate(
                change_summary="增加灌装过程中每 15 分钟在线称重抽检的要求", change_control_ref="CC-2026-031",
                training_grace_days=14,
            ))  # fmt: skip
            draft = service.get_document(uow.session, "SOP-PR-006").versions[-1]
            text = (draft.markdown or "").replace(
                "首件装量检查，每 30 分钟抽查装量", "首件装量检查，每 15 分钟在线称重抽查装量"
            )
            service.update_draft(uow, lina, "SOP-PR-006", DraftUpdate(markdown=text))
            uow.commit()
        _submit(db, lina, "SOP-PR-006")
    if lyo_versions == 1:  # an urgent change, effective at once, no training grace
        with UnitOfWork(
            db, lina.actor, reason="demo plant seed: urgent change of the lyophilization SOP"
        ) as uow:
            service.new_version(uow, lina, "SOP-PR-007", VersionCreate(
                change_summary="冻干曲线一次干燥段调整：板层温度 -10 ℃ 调整为 -15 ℃，保持时间延长至 24 小时",
                change_control_ref="CC-2026-035", training_grace_days=0, training_required=True,
            ))  # fmt: skip
            draft = service.get_document(uow.session, "SOP-PR-007").versions[-1]
            text = (draft.markdown or "").replace(
                "一次干燥：板层温度 -10 ℃，真空 10～20 Pa，保持 20 小时",
                "一次干燥：板层温度 -15 ℃，真空 10～20 Pa，保持 24 小时",
            )
            service.update_draft(uow, lina, "SOP-PR-007", DraftUpdate(markdown=text))
            uow.commit()
        _submit(db, lina, "SOP-PR-007")
        _review_and_approve(db, "SOP-PR-007", password)
