"""The list categories the contract names, with their Chinese and English names.

The platform may add categories; the SDK never rejects an entry for an
unknown category (a measure with ``categories: []`` matches any). These ids
are the ones the default catalogue, the sandbox platform and the docs use.

>>> BLACK["court_judgment_defaulter"][0]
'失信被执行人'
"""

from __future__ import annotations

__all__ = ["BLACK", "INTEGRITY_TYPICAL", "RED", "category_name"]

#: Red-list categories (守信激励对象), §二(一), §四(六).
RED: dict[str, tuple[str, str]] = {
    "integrity_model": ("诚信典型", "Integrity model"),
    "tax_credit_a": ("纳税信用A级纳税人", "Tax credit grade A taxpayer"),
    "customs_advanced_certified": ("海关高级认证企业", "Customs advanced-certified enterprise"),
    "outstanding_volunteer": ("优秀青年志愿者", "Outstanding young volunteer"),
    "association_recommended": (
        "行业协会商会推荐诚信会员",
        "Member recommended by a trade association",
    ),
    "media_recommended": (
        "新闻媒体挖掘的诚信市场主体",
        "Trustworthy market subject brought forward by the news media",
    ),
}

#: The red-list categories the plan makes 诚信典型 (§二(一)): the platform's 诚信典型 list
#: (``integrity_model``: 诚信道德模范, 信用状况良好的行政相对人 …), 优秀青年志愿者,
#: 行业协会商会推荐的诚信会员 and 新闻媒体挖掘的诚信市场主体. Each opens what the plan grants
#: 诚信典型 (green channel and tolerance, §二(二)).
INTEGRITY_TYPICAL: tuple[str, ...] = (
    "integrity_model",
    "outstanding_volunteer",
    "association_recommended",
    "media_recommended",
)

#: Black-list categories (失信惩戒对象), §三(一), §三(三), §四(六).
BLACK: dict[str, tuple[str, str]] = {
    "court_judgment_defaulter": ("失信被执行人", "Court judgment defaulter"),
    "major_tax_violation": ("重大税收违法案件当事人", "Party to a major tax violation"),
    "listed_company_violation": ("违法失信上市公司相关责任主体", "Dishonest listed-company party"),
    "safety_production": ("安全生产领域失信主体", "Safety production"),
    "environment": ("环境保护领域失信主体", "Environmental protection"),
    "food_drug": ("食品药品生产经营严重失信者", "Food and drugs"),
    "quality": ("严重质量违法行为当事人", "Serious quality violation"),
    "statistics": ("统计领域严重失信企业", "Statistics"),
    "wage_arrears": ("拖欠农民工工资黑名单", "Wage arrears to migrant workers"),
    "customs": ("海关失信企业", "Customs"),
    "finance": ("涉金融严重失信人", "Finance"),
    "e_commerce": ("电子商务及分享经济领域失信主体", "E-commerce and sharing economy"),
    "fiscal_funds": ("财政性资金管理使用领域失信主体", "Fiscal funds"),
    "overloaded_transport": ("严重违法失信超限超载运输相关责任主体", "Overloaded transport"),
    "farm_inputs": ("农资领域严重失信生产经营单位", "Farm inputs"),
    "real_estate": ("房地产领域失信责任主体", "Real estate"),
    "logistics": ("运输物流行业严重违法失信主体", "Transport and logistics"),
    "insurance": ("保险领域违法失信责任主体", "Insurance"),
    "e_certification": ("电子认证服务行业失信主体", "Electronic certification services"),
}


def category_name(category: str) -> tuple[str, str]:
    """``(zh, en)`` for a category id; the id itself for both when unknown."""
    return RED.get(category) or BLACK.get(category) or (category, category)
