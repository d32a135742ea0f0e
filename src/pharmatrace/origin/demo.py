"""Demo origin data (TJ-5.1): 丹参 from the 商洛 base (plots DS-01, DS-02) and 三七 from the 文山 base (plots
SQ-01..03), each with its seed source, a season's fertilizer and pesticide records, harvests, drying and
cutting, packing and shipments — the shipments the demo herb lots are received against (``wms.demo``), and
one still in transit for a receipt to try. Dates are relative to today, so the chain is always plausible.

Everything goes through the service functions, so the demo obeys the same rules (pre-harvest intervals,
quantities) as real data.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import func, select

from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.origin import service
from pharmatrace.origin.models import PlantingBase
from pharmatrace.origin.schemas import (
    BaseCreate,
    CropCreate,
    HarvestCreate,
    InputCreate,
    PlotCreate,
    ProcessingCreate,
    ShipmentCreate,
    SourceIn,
)
from pharmatrace.wms import lots

PLANT = "沪津中药注射剂有限公司 中药材库（天津市西青区）"

BASES = (
    BaseCreate(supplier_code="SUP-SL-DS", region="陕西商洛（丹参道地产区）", certificate="中药材GAP符合性检查 陕GAP-2024-017",
               certificate_valid_until=date(2027, 6, 30), area_mu=Decimal("1200"), manager="刘建国"),
    BaseCreate(supplier_code="SUP-WS-SQ", region="云南文山（三七道地产区）", certificate="中药材GAP符合性检查 滇GAP-2023-042",
               certificate_valid_until=date(2028, 3, 31), area_mu=Decimal("860"), manager="王春华"),
)  # fmt: skip
PLOTS = (
    PlotCreate(base_code="SUP-SL-DS", code="DS-01", name="商州区杨峪河镇 一号地块", area_mu=Decimal("85.5"),
               location="陕西省商洛市商州区杨峪河镇", coordinates="33.87N 109.88E", soil="黄棕壤，pH 6.8",
               irrigation="山泉水滴灌"),
    PlotCreate(base_code="SUP-SL-DS", code="DS-02", name="商州区杨峪河镇 二号地块", area_mu=Decimal("62"),
               location="陕西省商洛市商州区杨峪河镇", coordinates="33.86N 109.90E", soil="黄棕壤，pH 6.6",
               irrigation="雨养"),
    PlotCreate(base_code="SUP-WS-SQ", code="SQ-01", name="砚山县平远镇 荫棚一区", area_mu=Decimal("40"),
               location="云南省文山州砚山县平远镇", coordinates="23.55N 104.33E", soil="红壤，pH 6.2",
               irrigation="喷灌，荫棚透光率 12%"),
    PlotCreate(base_code="SUP-WS-SQ", code="SQ-02", name="砚山县平远镇 荫棚二区", area_mu=Decimal("36"),
               location="云南省文山州砚山县平远镇", coordinates="23.56N 104.34E", soil="红壤，pH 6.3",
               irrigation="喷灌，荫棚透光率 12%"),
    PlotCreate(base_code="SUP-WS-SQ", code="SQ-03", name="文山市古木镇 荫棚三区", area_mu=Decimal("28"),
               location="云南省文山州文山市古木镇", coordinates="23.40N 104.10E", soil="红壤，pH 6.0",
               irrigation="喷灌"),
)  # fmt: skip

DANSHEN = {"material_code": "HB-DS-001", "species": "丹参", "latin_name": "Salvia miltiorrhiza Bge.",
           "variety": "商洛本地种（中丹1号）", "seed_kind": "seedling"}  # fmt: skip
SANQI = {"material_code": "HB-SQ-001", "species": "三七", "latin_name": "Panax notoginseng (Burk.) F. H. Chen",
         "variety": "文山本地种（苗乡三七1号）", "seed_kind": "seedling"}  # fmt: skip

# (plot, crop code, species, seed source, certificate, planted: days ago)
CROPS = (
    (
        "DS-01",
        "DS-01-2025",
        DANSHEN,
        "商洛市丹参良种繁育场（一年生种苗）",
        "种苗质量检验合格证 SL-ZM-2025-031",
        420,
    ),
    (
        "DS-02",
        "DS-02-2025",
        DANSHEN,
        "商洛市丹参良种繁育场（一年生种苗）",
        "种苗质量检验合格证 SL-ZM-2025-032",
        410,
    ),
    (
        "SQ-01",
        "SQ-01-2023",
        SANQI,
        "文山州三七种苗繁育中心（一年生种苗）",
        "种苗检验报告 WS-ZM-2023-118",
        1100,
    ),
    (
        "SQ-02",
        "SQ-02-2023",
        SANQI,
        "文山州三七种苗繁育中心（一年生种苗）",
        "种苗检验报告 WS-ZM-2023-119",
        1095,
    ),
    (
        "SQ-03",
        "SQ-03-2025",
        SANQI,
        "文山州三七种苗繁育中心（一年生种苗）",
        "种苗检验报告 WS-ZM-2025-007",
        330,
    ),
)

# (crop, kind, product, active ingredient, amount, unit, days ago, by, pre-harvest days)
INPUTS = (
    ("DS-01-2025", "fertilizer", "腐熟农家肥（基肥）", "有机质 ≥45%", "2000", "kg/亩", 415, "陈二牛", None),
    (
        "DS-01-2025",
        "fertilizer",
        "硫酸钾型复合肥（追肥）",
        "N-P-K 15-15-15",
        "25",
        "kg/亩",
        200,
        "陈二牛",
        None,
    ),
    ("DS-01-2025", "pesticide", "苦参碱水剂", "0.3% 苦参碱", "0.5", "L/亩", 130, "陈二牛", 10),
    ("DS-02-2025", "fertilizer", "腐熟农家肥（基肥）", "有机质 ≥45%", "1800", "kg/亩", 405, "李小满", None),
    (
        "DS-02-2025",
        "pesticide",
        "枯草芽孢杆菌可湿性粉剂（根腐病）",
        "1000亿芽孢/g",
        "0.1",
        "kg/亩",
        90,
        "李小满",
        7,
    ),
    ("SQ-01-2023", "fertilizer", "三七专用有机肥", "有机质 ≥40%", "300", "kg/亩", 400, "杨文忠", None),
    (
        "SQ-01-2023",
        "pesticide",
        "多抗霉素可湿性粉剂（黑斑病）",
        "10% 多抗霉素",
        "0.15",
        "kg/亩",
        95,
        "杨文忠",
        7,
    ),
    ("SQ-02-2023", "fertilizer", "三七专用有机肥", "有机质 ≥40%", "280", "kg/亩", 398, "杨文忠", None),
    ("SQ-03-2025", "fertilizer", "三七专用有机肥", "有机质 ≥40%", "250", "kg/亩", 320, "罗明", None),
    (
        "SQ-03-2025",
        "pesticide",
        "多抗霉素可湿性粉剂（黑斑病）",
        "10% 多抗霉素",
        "0.15",
        "kg/亩",
        40,
        "罗明",
        7,
    ),
)

# (crop, harvest code, days ago, fresh kg, steps: (method, days ago, output kg, conditions))
HARVESTS = (
    ("DS-01-2025", "DS-01-H2609", 75, "1800", (
        ("sorting", 75, "1720", "去除泥土、须根及茎叶"),
        ("sun_drying", 68, "780", "晒至半干，堆闷发汗"),
        ("oven_drying", 62, "620", "50–60 °C 烘干，无硫熏"),
    )),
    ("DS-02-2025", "DS-02-H2610", 32, "2600", (
        ("sorting", 32, "2500", "去除泥土、须根及茎叶"),
        ("oven_drying", 22, "900", "50–60 °C 烘干，无硫熏"),
    )),
    ("SQ-01-2023", "SQ-01-H2610", 55, "1500", (
        ("washing", 55, "1460", "清水洗净泥土"),
        ("cutting", 54, "1400", "剪分主根、筋条与剪口"),
        ("sun_drying", 40, "480", "晒干，无硫熏"),
    )),
    ("SQ-02-2023", "SQ-02-H2610", 52, "1200", (
        ("washing", 52, "1170", "清水洗净泥土"),
        ("cutting", 51, "1120", "剪分主根、筋条与剪口"),
        ("sun_drying", 38, "390", "晒干，无硫熏"),
    )),
)  # fmt: skip

# (code, base, material, batch, sources, pack type, count, packed days ago, shipped days ago, carrier)
SHIPMENTS = (
    ("SL-FY-2609-01", "SUP-SL-DS", "HB-DS-001", "DS20260915", (("DS-01-H2609", "100"),), "编织袋内衬食品级PE袋 25 kg", 4, 60, 59,
     "商洛顺达物流（常温厢车）"),
    ("SL-FY-2610-01", "SUP-SL-DS", "HB-DS-001", "DS20261020", (("DS-02-H2610", "75"),), "编织袋内衬食品级PE袋 25 kg", 3, 20, 19,
     "商洛顺达物流（常温厢车）"),
    ("SL-FY-2611-01", "SUP-SL-DS", "HB-DS-001", "DS20261118", (("DS-02-H2610", "600"),), "编织袋内衬食品级PE袋 25 kg", 24, 2, 1,
     "商洛顺达物流（常温厢车）"),
    ("WS-FY-2610-01", "SUP-WS-SQ", "HB-SQ-001", "SQ20261025", (("SQ-01-H2610", "50"), ("SQ-02-H2610", "30")),
     "麻袋内衬PE袋 20 kg", 4, 34, 33, "文山云通物流（常温厢车，防雨）"),
    ("WS-FY-2611-01", "SUP-WS-SQ", "HB-SQ-001", "SQ20261120", (("SQ-01-H2610", "200"),), "麻袋内衬PE袋 20 kg", 10, 3, 2,
     "文山云通物流（常温厢车，防雨）"),
)  # fmt: skip
STORAGE = "基地成品库：阴凉干燥，≤20 °C，相对湿度 ≤65%，离地离墙存放"
TRANSPORT = "常温运输，防雨防潮，不与有毒有害物品混装"

# A quality anomaly the plant reports on the 三七 lot (after the receipt, by QC).
ANOMALY = ("SQ20261025", "入厂检验：三七总皂苷含量 5.2%，接近标准下限（≥5.0%），请核查采收年限与干燥工艺")


def seed_origin(uow: UnitOfWork) -> dict[str, int]:
    """The bases with their plots, crops, inputs, harvests, processing and shipments, unless present."""
    session = uow.session
    if session.scalar(select(func.count()).select_from(PlantingBase)):
        return {"planting_bases": 0}
    today = lots.today()

    def ago(days: int) -> date:
        return today - timedelta(days=days)

    for base in BASES:
        service.create_base(uow, base)
    plots = {p.code: service.create_plot(uow, p).id for p in PLOTS}
    crops: dict[str, int] = {}
    for plot_code, code, species, source, certificate, planted in CROPS:
        crop = service.create_crop(uow, plots[plot_code], CropCreate.model_validate({
            "code": code, "seed_source": source, "seed_certificate": certificate, "planted_on": ago(planted),
            **species,
        }))  # fmt: skip
        crops[code] = crop.id
    for crop_code, kind, product, ingredient, amount, unit, days, by, interval in INPUTS:
        service.record_input(uow, crops[crop_code], InputCreate.model_validate({
            "kind": kind, "product": product, "active_ingredient": ingredient, "amount": Decimal(amount),
            "unit": unit, "applied_on": ago(days), "applied_by": by, "pre_harvest_days": interval,
        }))  # fmt: skip
    for crop_code, code, days, fresh, steps in HARVESTS:
        harvest = service.record_harvest(uow, crops[crop_code], HarvestCreate(
            code=code, harvested_on=ago(days), quantity=Decimal(fresh), method="人工采挖",
        ))  # fmt: skip
        for method, step_days, output, conditions in steps:
            service.record_processing(uow, harvest.id, ProcessingCreate.model_validate({
                "method": method, "performed_on": ago(step_days), "output_quantity": Decimal(output),
                "conditions": conditions,
            }))  # fmt: skip
    for code, base_code, material, batch, sources, pack_type, count, packed, shipped, carrier in SHIPMENTS:
        service.create_shipment(uow, ShipmentCreate(
            code=code, base_code=base_code, material_code=material, batch_no=batch,
            sources=[SourceIn(harvest_code=h, quantity=Decimal(q)) for h, q in sources], pack_type=pack_type,
            pack_count=count, packed_on=ago(packed), storage_conditions=STORAGE, shipped_on=ago(shipped),
            destination=PLANT, carrier=carrier, transport_conditions=TRANSPORT,
        ))  # fmt: skip
    return {"planting_bases": len(BASES), "plots": len(PLOTS), "shipments": len(SHIPMENTS)}


def seed_feedback(uow: UnitOfWork) -> int:
    """The demo's quality anomaly on the received 三七 lot, reported to its base (once)."""
    from pharmatrace.origin.models import OriginFeedback
    from pharmatrace.wms.models import Lot

    session = uow.session
    lot = session.scalar(select(Lot).where(Lot.supplier_lot == ANOMALY[0]))
    if lot is None or session.scalar(select(OriginFeedback.id).where(OriginFeedback.lot_id == lot.id)):
        return 0
    service.report_anomaly(uow, lot.id, ANOMALY[1])
    return 1
