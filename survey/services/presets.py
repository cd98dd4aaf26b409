"""Defaults from the source documents (DESIGN §4).  Every number is per-cycle configuration."""

from __future__ import annotations

from dataclasses import dataclass

from survey.models import SamplingKind, ScalePreset


@dataclass(frozen=True)
class LevelPreset:
    code: str
    label: str
    label_en: str
    points: float | None
    counts_as_satisfied: bool
    is_dont_know: bool = False


DONT_KNOW = LevelPreset("dont_know", "不了解", "Don't know", None, False, is_dont_know=True)

SCALE_PRESETS: dict[ScalePreset, tuple[LevelPreset, ...]] = {
    ScalePreset.FIVE_LEVEL: (
        LevelPreset("very_satisfied", "很满意", "Very satisfied", 100, True),
        LevelPreset("satisfied", "满意", "Satisfied", 80, True),
        LevelPreset("fairly_satisfied", "基本满意", "Fairly satisfied", 60, True),
        LevelPreset("not_very_satisfied", "不太满意", "Not very satisfied", 30, False),
        LevelPreset("dissatisfied", "不满意", "Dissatisfied", 0, False),
        DONT_KNOW,
    ),
    ScalePreset.LINEAR: (
        LevelPreset("very_satisfied", "很满意", "Very satisfied", 100, True),
        LevelPreset("satisfied", "满意", "Satisfied", 75, True),
        LevelPreset("fairly_satisfied", "基本满意", "Fairly satisfied", 50, True),
        LevelPreset("not_very_satisfied", "不太满意", "Not very satisfied", 25, False),
        LevelPreset("dissatisfied", "不满意", "Dissatisfied", 0, False),
        DONT_KNOW,
    ),
    ScalePreset.FOUR_LEVEL_BALLOT: (
        LevelPreset("excellent", "优秀", "Excellent", 100, True),
        LevelPreset("competent", "称职", "Competent", 80, True),
        LevelPreset("basically_competent", "基本称职", "Basically competent", 60, False),
        LevelPreset("incompetent", "不称职", "Incompetent", 0, False),
        DONT_KNOW,
    ),
}

SCALE_PRESET_LABELS: dict[ScalePreset, str] = {
    ScalePreset.FIVE_LEVEL: "五级 100/80/60/30/0",
    ScalePreset.LINEAR: "五级线性 100/75/50/25/0",
    ScalePreset.FOUR_LEVEL_BALLOT: "四级票决 优秀/称职/基本称职/不称职",
}

#: (code, Chinese name, English name); equal weights by default.
DEFAULT_ITEMS: tuple[tuple[str, str, str], ...] = (
    ("performance", "工作实绩", "Work performance"),
    ("work_style", "工作作风", "Work style"),
    ("service_quality", "服务质量", "Service quality"),
    ("social_image", "社会形象", "Social image"),
    ("overall", "总体满意度", "Overall satisfaction"),
)

#: (code, name, sampling kind)
DEFAULT_RATER_GROUPS: tuple[tuple[str, str, SamplingKind], ...] = (
    ("citizens", "群众", SamplingKind.PROBABILITY),
    ("service_recipients", "服务对象", SamplingKind.SELF_SELECTED),
    ("deputies", "两代表一委员", SamplingKind.LISTED),
    ("leaders", "领导", SamplingKind.LISTED),
    ("subordinates", "下属组织", SamplingKind.LISTED),
)

#: Rater-group weights by kind of category: counties are judged mostly by
#: citizens; departments more by the people they serve and by deputies.
RATER_WEIGHTS_COUNTY = {
    "citizens": 0.50,
    "service_recipients": 0.10,
    "deputies": 0.15,
    "leaders": 0.15,
    "subordinates": 0.10,
}
RATER_WEIGHTS_DEPARTMENT = {
    "citizens": 0.30,
    "service_recipients": 0.30,
    "deputies": 0.15,
    "leaders": 0.15,
    "subordinates": 0.10,
}

#: (code, name, is_social_recognition)
DEFAULT_COMPONENTS: tuple[tuple[str, str, bool], ...] = (
    ("routine", "平时实绩", False),
    ("annual", "年度实绩", False),
    ("self_building", "自身建设", False),
    ("social_recognition", "社会公认度", True),
)

COMPONENT_PRESETS: dict[str, dict[str, float]] = {
    # 县市区: 平时实绩 20%, 年度实绩 45%, 自身建设 20%, 社会公认度 15%
    "county": {"routine": 0.20, "annual": 0.45, "self_building": 0.20, "social_recognition": 0.15},
    # 市直部门: 15/50/15/20
    "department": {
        "routine": 0.15,
        "annual": 0.50,
        "self_building": 0.15,
        "social_recognition": 0.20,
    },
}

COMPONENT_PRESET_LABELS = {
    "county": "县市区 20/45/20/15",
    "department": "市直部门 15/50/15/20",
}

#: (code, name, kind) — the eight categories of DESIGN §4.
DEFAULT_CATEGORIES: tuple[tuple[str, str, str], ...] = (
    ("county", "县市区", "county"),
    ("party", "党委部门", "department"),
    ("mass_org", "群团部门", "department"),
    ("government", "政务部门", "department"),
    ("economic", "经济管理部门", "department"),
    ("social", "社会发展部门", "department"),
    ("law_enforcement", "执法监督部门", "department"),
    ("congress_cppcc", "人大政协各委室", "department"),
)
