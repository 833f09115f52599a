"""Synthetic Taobao/Tmall exports with ground truth (`shortship generate`).

`generate(out_dir, orders, seed, ...)` writes, in the real layouts of shared/docs/exports.md:

- `ExportOrderList<yyyyMMddHHmm>.csv`: the order export (legacy: the 46-column 2017 layout,
  GBK, every field quoted, `买家实际支付金额` net of refunds; current: a 千牛-style layout with
  `买家实付金额` (gross), `商品标题`, `商家备注`, `发货时间`, ...),
- `ExportOrderDetailList<...>.csv`: the item export (legacy: 10 columns, a trailing comma on
  every data row; current: the 27-column layout with 子订单编号 / 主订单编号 and a per-line
  `买家实付金额`, which on a single-line order includes the postage),
- `ExportRefundList<...>.csv`: the refund export (legacy: Tmall 2017; current: the ~2025 layout
  with 支付单号, 售后类型 and 商品 id),
- `shipments_<...>.csv`: our own warehouse format (UTF-8, one row per SKU per parcel),
- `truth.parquet` + `truth_columns.md`: one row per order with an injected case, with the
  expected flag and the expected liability under the `tmall` policy preset.

The period and the clock
------------------------
Orders are created in [start, start + days). The exports are taken at
`export_time = start + days + 7 days, 09:30` (a week after the period, so that every order of
the period has been shipped, refunded or closed as far as it ever will be in these files);
nothing that happens later is in any file. The expected statuses in the truth assume a run
with `as_of = start + days + 30 days, 00:00` (stored in the column `as_of` and in the parquet
metadata). At that clock every ship-by deadline of the period has passed, so no case is
`curable`: a shortage the shop has not re-shipped in time is `owed` (see truth_columns.md for
how to test `curable` with an earlier as-of).

Determinism and speed
---------------------
All randomness comes from numpy generators seeded with (seed, purpose, chunk index); no wall
clock reaches any content or file name, so one seed gives byte-identical files. Orders are
generated in chunks of 50,000 (vectorised; only the few percent of orders with a refund or an
injected case go through Python loops), chunks run in worker processes and are written in
order, so memory stays flat and 10 million orders are possible.

Money is integer cents throughout (formatted as strings; Decimal in the truth), never float.
"""
from __future__ import annotations

import concurrent.futures as cf
import math
import os
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from pipeline.errors import ShortshipError

# --------------------------------------------------------------------------------------------
# public constants

FORMATS = ("legacy", "current")
ENCODINGS = ("gbk", "utf-8")
QUIRKS = ("excel_ids", "trailing_comma", "header_spaces", "bom", "excel_dates", "sci_ids", "split_daily")
CHUNK_ORDERS = 50_000
EXPORT_DELAY = timedelta(days=7, hours=9, minutes=30)  # export time after the period's end
AS_OF_DELAY = timedelta(days=30)  # truth's as-of after the period's end
SPLIT_WINDOW = timedelta(days=7)  # split_daily: each daily export covers the last 7 days
SCI_RATE = 0.001  # share of rows whose id is mangled by `sci_ids`

# injected cases: name -> (kind, responsibility, evidence, expected status, default rate)
CASES: dict[str, tuple[str, str, str, str, float]] = {
    "short_reason": ("short", "merchant", "explicit", "owed", 0.008),
    "short_multi_line": ("short", "merchant", "explicit", "owed", 0.004),
    "wrong_item": ("wrong", "merchant", "explicit", "owed", 0.006),
    "empty_parcel": ("empty", "merchant", "explicit", "owed", 0.004),
    "lost_in_transit": ("not_received", "courier", "explicit", "courier", 0.006),
    "unshipped": ("unshipped", "merchant", "explicit", "owed", 0.004),
    "out_of_stock": ("unshipped", "merchant", "explicit", "owed", 0.004),
    "cured_reship": ("short", "merchant", "explicit", "cured", 0.006),
    "late_reship": ("short", "merchant", "explicit", "owed", 0.005),
    "refused_cs_for_shop": ("short", "buyer", "explicit", "excluded", 0.004),
    "serial_claimer": ("short", "undetermined", "explicit", "disputed", 0.004),
    "ship_only_no_complaint": ("short", "merchant", "explicit", "owed", 0.006),
    "text_only": ("short", "undetermined", "text_only", "disputed", 0.005),
    "amount_only": ("short", "undetermined", "amount_only", "disputed", 0.005),
}
CASE_NAMES = tuple(CASES)
_CASE_CODE = {name: i + 1 for i, name in enumerate(CASE_NAMES)}
_SHORT_LINE_CASES = {
    "short_reason", "cured_reship", "late_reship", "refused_cs_for_shop", "serial_claimer",
    "ship_only_no_complaint", "text_only", "amount_only",
}

# --------------------------------------------------------------------------------------------
# export layouts (header names exactly as exported; see shared/docs/exports.md)

LEGACY_ORDERS = [
    "订单编号", "买家会员名", "买家支付宝账号", "买家应付货款", "买家应付邮费", "买家支付积分", "总金额", "返点积分",
    "买家实际支付金额", "买家实际支付积分", "订单状态", "买家留言", "收货人姓名", "收货地址 ", "运送方式", "联系电话 ",
    "联系手机", "订单创建时间", "订单付款时间 ", "宝贝标题 ", "宝贝种类 ", "物流单号 ", "物流公司", "订单备注", "宝贝总数量",
    "店铺Id", "店铺名称", "订单关闭原因", "卖家服务费", "买家服务费", "发票抬头", "是否手机订单", "分阶段订单信息",
    "特权订金订单id", "是否上传合同照片", "是否上传小票", "是否代付", "定金排名", "修改后的sku", "修改后的收货地址",
    "异常信息", "天猫卡券抵扣", "集分宝抵扣", "是否是O2O交易", "退款金额", "预约门店",
]
LEGACY_ITEMS = ["订单编号", "标题", "价格", "购买数量", "外部系统编号", "商品属性", "套餐信息", "备注", "订单状态", "商家编码"]
LEGACY_REFUNDS = [
    "订单编号", "退款编号", "支付宝交易号", "订单付款时间", "商家编码", "退款完结时间", "买家会员名称", "买家实际支付金额",
    "宝贝标题", "买家退款金额", "手工退款/系统退款", "是否需要退货", "退款的申请时间", "超时时间", "退款状态", "货物状态",
    "退货物流信息", "发货物流信息", "客服介入状态", "卖家真实姓名", "卖家退货地址", "卖家邮编", "卖家电话", "卖家手机",
    "退货物流单号", "退货物流公司", "买家退款原因", "买家退款说明", "买家退货时间", "责任方", "售中或售后", "商家备注",
    "完结时间", "部分退款/全部退款", "审核操作人", "举证超时", "是否零秒响应", "退款操作人",
]
CURRENT_ORDERS = [
    "订单编号", "支付单号", "买家昵称", "买家应付货款", "买家应付邮费", "总金额", "买家实付金额", "订单状态", "买家留言",
    "收货地址", "运送方式", "订单创建时间", "订单付款时间", "商品标题", "宝贝种类", "物流单号", "物流公司", "备注标签",
    "商家备注", "宝贝总数量", "店铺名称", "开票信息", "手机订单", "商品属性SKU", "发货时间", "确认收货时间", "退款金额",
    "是否主动赔付", "主动赔付金额", "主动赔付出账时间", "确认收货打款金额",
]
CURRENT_ITEMS = [
    "子订单编号", "主订单编号", "商品标题", "商品价格", "购买数量", "外部系统编号", "商品属性", "套餐信息", "联系方式备注",
    "订单状态", "商家编码", "支付单号", "买家应付货款", "买家实付金额", "退款状态", "退款金额", "订单创建时间",
    "订单付款时间", "淘鲜达渠道", "商品ID", "分阶段信息", "备注标签", "商家备注", "主订单买家留言", "是否主动赔付",
    "主动赔付金额", "主动赔付出账时间",
]
CURRENT_REFUNDS = [
    "订单编号", "退款编号", "支付单号", "订单付款时间", "商家编码", "退款完结时间", "买家会员名称", "买家实际支付金额",
    "宝贝标题", "买家退款金额", "手工退款/系统退款", "售后类型", "退款的申请时间", "超时时间", "退款状态", "货物状态",
    "退货物流信息", "发货物流信息", "客服介入状态", "卖家真实姓名", "卖家退货地址", "卖家邮编", "卖家电话", "卖家手机",
    "退货物流单号", "退货物流公司", "买家退款原因", "买家退款说明", "买家退货时间", "责任方", "售中或售后", "商家备注",
    "完结时间", "部分退款/全部退款", "审核操作人", "举证超时", "是否零秒响应", "退款操作人", "退款原因标签", "业务类型",
    "是否帮他退款", "帮他退款操作账号", "商品 id",
]
SHIPMENTS = ["order_id", "sku", "quantity", "shipped_at", "tracking_no", "weight_kg", "reship"]

FILE_PREFIX = {
    "orders": "ExportOrderList",
    "items": "ExportOrderDetailList",
    "refunds": "ExportRefundList",
    "shipments": "shipments_",
}
_OUR_FILES = re.compile(
    r"^(ExportOrderList|ExportOrderDetailList|ExportRefundList|shipments_)\d{12}\.csv(\.part)?$"
    r"|^truth\.parquet(\.part)?$|^truth_columns\.md$"
)

# --------------------------------------------------------------------------------------------
# vocabulary (all of it encodable in GBK)

ORDER_STATUS = ["等待买家付款", "买家已付款，等待卖家发货", "卖家已发货，等待买家确认", "交易成功", "交易关闭"]
ST_UNPAID, ST_PAID, ST_SHIPPED, ST_DONE, ST_CLOSED = range(5)

SHOPS = [
    ("童趣玩具批发店", "TQ", "toys"), ("悦动户外专营店", "YD", "sports"), ("小鹿家居生活馆", "XL", "home"),
    ("青禾食品旗舰店", "QH", "food"), ("云裳女装旗舰店", "YS", "clothes"), ("极客数码配件店", "JK", "digital"),
    ("暖阳母婴专营店", "NY", "baby"), ("墨香文具旗舰店", "MX", "stationery"), ("花间美妆专营店", "HJ", "beauty"),
    ("铁匠五金工具店", "TJ", "tools"), ("山野茶叶旗舰店", "SY", "tea"), ("萌宠用品生活馆", "MC", "pets"),
]
# category -> (nouns, median price in cents, median weight in grams, zipf exponent of quantities, attributes)
CATEGORIES: dict[str, tuple[list[str], int, int, float, list[str]]] = {
    "toys": (["回力小车", "泡泡枪", "水枪", "毛绒公仔", "积木", "发光翅膀", "恐龙模型", "拼图", "弹力球", "手指灯"], 800, 150, 1.7,
             ["颜色分类：小号", "颜色分类：大号", "颜色分类：粉色", "颜色分类：蓝色", "颜色分类：混色"]),
    "sports": (["瑜伽垫", "跳绳", "登山杖", "运动水壶", "护膝", "速干T恤", "帐篷", "羽毛球拍"], 6000, 600, 2.6,
               ["颜色分类：黑色", "颜色分类：灰色", "尺码：M", "尺码：L", "尺码：XL"]),
    "home": (["收纳盒", "抱枕", "晾衣架", "保温杯", "餐具套装", "毛巾", "拖鞋", "台灯"], 3000, 500, 2.4,
             ["颜色分类：白色", "颜色分类：米色", "规格：大号", "规格：小号"]),
    "food": (["坚果礼盒", "牛肉干", "饼干", "蜂蜜", "红枣", "挂面", "辣条", "果干"], 2500, 500, 2.2,
             ["口味：原味", "口味：香辣", "规格：500g", "规格：250g"]),
    "clothes": (["连衣裙", "衬衫", "针织衫", "半身裙", "牛仔裤", "风衣", "卫衣", "T恤"], 9000, 400, 3.0,
                ["颜色分类：黑色;尺码：S", "颜色分类：白色;尺码：M", "颜色分类：杏色;尺码：L", "颜色分类：蓝色;尺码：XL"]),
    "digital": (["数据线", "充电头", "手机壳", "钢化膜", "蓝牙耳机", "移动电源", "鼠标垫", "读卡器"], 3500, 120, 2.3,
                ["颜色分类：黑色", "颜色分类：白色", "规格：1米", "规格：2米"]),
    "baby": (["纸尿裤", "奶瓶", "湿巾", "婴儿袜", "口水巾", "辅食碗", "爬行垫"], 5000, 700, 2.4,
             ["规格：S码", "规格：M码", "规格：L码", "颜色分类：粉色"]),
    "stationery": (["中性笔", "笔记本", "文件夹", "便利贴", "橡皮", "铅笔", "修正带", "荧光笔"], 400, 60, 1.6,
                   ["颜色分类：黑色", "颜色分类：红色", "颜色分类：蓝色", "规格：12支装"]),
    "beauty": (["面膜", "口红", "洗面奶", "爽肤水", "眼影盘", "护手霜", "卸妆水"], 8000, 200, 2.8,
               ["规格：50ml", "规格：100ml", "色号：01", "色号：03"]),
    "tools": (["螺丝刀套装", "卷尺", "扳手", "电钻", "美工刀", "胶带", "钳子"], 3500, 800, 2.3,
              ["规格：标准款", "规格：加长款", "颜色分类：红色"]),
    "tea": (["龙井", "普洱茶饼", "铁观音", "红茶", "白茶", "茉莉花茶", "茶具套装"], 12000, 400, 2.6,
            ["规格：250g", "规格：500g", "规格：礼盒装"]),
    "pets": (["猫砂", "狗粮", "猫抓板", "宠物牵引绳", "逗猫棒", "宠物碗", "猫罐头"], 3000, 900, 2.2,
             ["规格：小型犬", "规格：中型犬", "口味：鸡肉味", "口味：牛肉味"]),
}
TITLE_PRE = ["新款", "创意", "热卖", "正品", "特价", "加厚", "迷你", "家用", "网红", "韩版", "日式", "经典"]
TITLE_MID = ["多功能", "便携", "大容量", "高档", "简约", "可爱", "耐用", "柔软", "防滑", "环保"]
TITLE_SUF = ["批发", "厂家直销", "地摊货源", "包邮", "送礼", "套装", "2件装", "限时特惠", "", ""]
CARRIERS = [  # name, tracking prefix, digits after the prefix
    ("申通快递", "77", 11), ("中通快递", "75", 12), ("圆通速递", "YT", 13), ("韵达快递", "43", 11),
    ("百世快递", "71", 12), ("顺丰速运", "SF", 13), ("邮政快递包裹", "98", 11),
]
PLACES = [
    "浙江省 杭州市 西湖区", "浙江省 宁波市 鄞州区", "广东省 广州市 越秀区", "广东省 深圳市 南山区", "江苏省 南京市 鼓楼区",
    "江苏省 苏州市 吴中区", "上海 上海市 浦东新区", "北京 北京市 朝阳区", "四川省 成都市 武侯区", "湖北省 武汉市 洪山区",
    "湖南省 长沙市 岳麓区", "山东省 济南市 历下区", "河南省 郑州市 金水区", "福建省 厦门市 思明区", "安徽省 合肥市 蜀山区",
    "江西省 九江市 浔阳区", "陕西省 西安市 雁塔区", "辽宁省 沈阳市 和平区", "重庆 重庆市 渝北区", "天津 天津市 南开区",
    "河北省 石家庄市 长安区", "云南省 昆明市 五华区", "广西壮族自治区 南宁市 青秀区", "黑龙江省 哈尔滨市 南岗区",
]
STREETS = ["人民路", "解放路", "中山路", "建设路", "文一西路", "学院路", "新华街", "长江路", "和平大道", "东风路"]
SURNAMES = ["王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "胡", "朱", "高", "林", "何", "郭", "马", "罗"]
NICK_WORDS = ["xiaoyu", "happy", "momo", "lucky", "ahua", "tiantian", "jingjing", "sunny", "dudu", "mimi", "kk", "lele"]
BENIGN_MESSAGES = ["请尽快发货", "发顺丰可以吗", "不要放发票", "送人的，请不要放价格单", "麻烦包装好一点",
                   "周末不在家，请放快递柜", "谢谢掌柜", "颜色随机也可以"]
BENIGN_MEMOS = ["'已核对地址", "'赠品：贴纸一张", "'老客户，优先处理", "'改发中通", "'已开发票"]
CLOSE_UNPAID = ["买家不想买了", "买家信息填写错误，重新拍", "未及时付款"]
NUM_CN = {1: "一", 2: "两", 3: "三", 4: "四", 5: "五", 6: "六", 7: "七", 8: "八", 9: "九", 10: "十"}

# refund reasons (legacy, current)
R_SHORT = {"legacy": ["少件/漏发", "少件/漏发", "少件.漏发", "少货"], "current": ["少件/漏发", "少件/漏发", "少件.漏发"]}
R_WRONG = {"legacy": ["卖家发错货", "卖家发错货", "商家发错货"], "current": ["商家发错货", "卖家发错货"]}
R_EMPTY = {"legacy": ["空包裹"], "current": ["空包裹"]}
R_LOST = {"legacy": ["未收到货", "快递一直未送到", "快递/物流一直未送到", "快递/物流无跟踪记录"],
          "current": ["快递/物流一直未送到", "未收到货", "快递/物流无跟踪记录"]}
R_OOS = {"legacy": ["缺货", "卖家缺货"], "current": ["缺货"]}
R_CANCEL = {"legacy": ["多拍/拍错/不想要", "多拍/拍错/不想要", "不喜欢/不想要"],
            "current": ["不喜欢/不想要", "多拍/拍错/不想要"]}
R_RETURN = ["七天无理由退换货", "七天无理由退换货", "大小/尺寸与商品描述不符", "颜色/图案/款式与商品描述不符", "质量问题",
            "包装/商品破损/污渍"]
R_PARTIAL = ["质量问题", "包装/商品破损/污渍", "协商一致退款", "退运费"]
R_AMOUNT_ONLY = ["协商一致退款", "其他"]  # minus the policy's [detection] explained_reasons
R_CLAIM_OTHER = ["其他", "协商一致退款"]
DESC_SHORT = ["", "少发了{k}个", "只收到{m}个，少了{k}个", "包裹里少了{k}件", "数量不对，少发{k}个"]
DESC_WRONG = ["发错颜色了", "收到的型号不对", "不是我买的款式", ""]
DESC_EMPTY = ["收到的是空包裹", "盒子里什么都没有", "空包"]
DESC_LOST = ["快递一直没有送到", "物流好几天不更新", "没收到货", ""]
DESC_OOS = ["卖家说没货了", "", "缺货"]
DESC_ORDINARY = ["", "", "尺码偏小", "不喜欢", "质量不太好", "有色差", "拍多了", "不想要了", "包装破了"]
MEMO_SHORT_TEXT = ["'{sku}少发{k}个，已联系买家", "'少发{k}个 待处理", "'补发{k}个", "'客户说少了{k}个"]
MEMO_RESHIP = ["'补发{k}个", "'{sku}补发{k}个", "'漏发，已补寄"]

# goods status (货物状态) and after-sale type per format
GOODS = {
    "legacy": {"not_shipped": "买家未收到货", "not_received": "买家未收到货", "received": "买家已收到货", "returned": "买家已退货"},
    "current": {"not_shipped": "未发货", "not_received": "未收到货", "received": "已收到货", "returned": "已收到货"},
}
REFUND_PENDING = ["买家已经申请退款，等待卖家同意", "卖家已经同意退款，等待买家退货", "买家已经退货，等待卖家确认收货"]
REFUND_FINAL = {"success": "退款成功", "refused": "卖家拒绝退款", "closed": "退款关闭"}
CS_NONE, CS_FOR_SELLER = "不需要客服介入", "支持卖家"

NEVER = np.int64(1 << 62)
HOUR, DAY, MINUTE = 3600, 86400, 60
_EPOCH = datetime(1970, 1, 1)
_DIURNAL = np.array([2, 1, .5, .3, .3, .5, 1, 2, 3, 4, 5, 5, 6, 5, 5, 5, 5, 5, 6, 8, 10, 11, 9, 5], dtype=float)
_DIURNAL_CDF = np.concatenate([[0.0], np.cumsum(_DIURNAL) / _DIURNAL.sum()])


def _sec(d: datetime) -> int:
    return int((d - _EPOCH).total_seconds())


def _dt(s: int | np.integer | None) -> datetime | None:
    if s is None or int(s) >= int(NEVER):
        return None
    return _EPOCH + timedelta(seconds=int(s))


def _stamp(s: int) -> str:
    return _dt(s).strftime("%Y%m%d%H%M")


def _dec(cents: int) -> Decimal:
    return (Decimal(int(cents)) / 100).quantize(Decimal("0.01"))


def _round_div(num: int, den: int) -> int:
    """round_half_up(num / den) for non-negative integers."""
    return (2 * num + den) // (2 * den)


# --------------------------------------------------------------------------------------------
# configuration and the world shared by all chunks


@dataclass
class Penalty:
    policy_id: str
    rate: Decimal
    floor: Decimal
    cap: Decimal
    points_per_yuan: int
    window_hours: int

    def compensation(self, affected: Decimal) -> Decimal:
        y = (self.rate * affected).quantize(Decimal("0.01"), ROUND_HALF_UP)
        y = max(y, self.floor)
        return min(y, self.cap).quantize(Decimal("0.01"))


@dataclass
class World:
    seed: int
    fmt: str
    encoding: str
    n_orders: int
    n_chunks: int
    chunk_size: int
    start_s: int
    days: int
    end_s: int
    export_s: int
    as_of_s: int
    quirks: frozenset
    rates: dict
    penalty: Penalty
    shop_names: list
    shop_ids: np.ndarray
    shop_codes: list
    shop_weights: np.ndarray
    shop_carrier: np.ndarray  # (K, 2) carrier indexes
    shop_qty_a: np.ndarray
    shop_prod_off: np.ndarray  # (K + 1)
    prod_title: pa.Array
    prod_sku: pa.Array
    prod_attr: pa.Array
    prod_price: np.ndarray
    prod_weight: np.ndarray
    prod_item_id: np.ndarray
    prod_title_list: list
    prod_sku_list: list
    n_buyers: int
    claimers: np.ndarray
    id_mul: np.ndarray  # odd multipliers for the id bijections
    id_add: np.ndarray
    daily_times: list  # split_daily export times (seconds), else [export_s]
    amount_only_reasons: list = field(default_factory=lambda: list(R_AMOUNT_ONLY))

    @property
    def legacy(self) -> bool:
        return self.fmt == "legacy"


def _build_world(*, orders, seed, fmt, encoding, shops, start, days, rates, quirks, chunk_size, penalty) -> World:
    rng = np.random.default_rng([seed, 11])
    start_s = _sec(datetime(start.year, start.month, start.day))
    end_s = start_s + days * DAY
    export_s = end_s + int(EXPORT_DELAY.total_seconds())
    as_of_s = end_s + int(AS_OF_DELAY.total_seconds())
    names, codes, cats = [], [], []
    for k in range(shops):
        name, code, cat = SHOPS[k % len(SHOPS)]
        if k >= len(SHOPS):
            name, code = f"{name}{k // len(SHOPS) + 1}号店", f"{code}{k // len(SHOPS) + 1}"
        names.append(name)
        codes.append(code)
        cats.append(cat)
    w = 1.0 / np.arange(1, shops + 1) ** 0.7
    shop_weights = w / w.sum()
    shop_ids = 100000000 + rng.integers(0, 900000000, shops)
    shop_carrier = np.stack([rng.choice(len(CARRIERS), 2, replace=False) for _ in range(shops)])
    titles, skus, attrs, prices, weights, qty_a, offs = [], [], [], [], [], [], [0]
    for k in range(shops):
        nouns, median_price, median_w, qa, attr_opts = CATEGORIES[cats[k]]
        qty_a.append(qa)
        n_prod = int(rng.integers(300, 900))
        pre1 = rng.integers(0, len(TITLE_PRE), n_prod)
        pre2 = rng.integers(0, len(TITLE_MID), n_prod)
        noun = rng.integers(0, len(nouns), n_prod)
        suf = rng.integers(0, len(TITLE_SUF), n_prod)
        series = rng.integers(1, 100, n_prod)
        for i in range(n_prod):
            titles.append(f"{TITLE_PRE[pre1[i]]}{TITLE_MID[pre2[i]]}{nouns[noun[i]]} {series[i]}号{TITLE_SUF[suf[i]]}")
            skus.append(f"{codes[k]}{noun[i]:02d}{series[i]:02d}-{i:04d}")
            attrs.append(attr_opts[i % len(attr_opts)] if rng.random() < 0.8 else "")
        p = np.exp(rng.normal(math.log(median_price), 1.1, n_prod))
        p = np.clip(np.round(p), 9, 500_000).astype(np.int64)
        nice = rng.random(n_prod) < 0.6  # many prices end in .00 / .90
        p = np.where(nice & (p > 200), (p // 100) * 100 + rng.choice([0, 90, 80, 99], n_prod), p)
        p = np.clip(p, 9, 500_000)
        tail = rng.random(n_prod) < 0.02  # a long tail over the whole range
        p = np.where(tail, np.exp(rng.uniform(math.log(9), math.log(500_000), n_prod)).astype(np.int64), p)
        p[-1], p[-2] = 9, 500_000  # the least popular products: a 0.09 accessory, a 5,000.00 item
        prices.append(p)
        weights.append(np.clip(np.exp(rng.normal(math.log(median_w), 0.7, n_prod)), 5, 30_000).astype(np.int64))
        offs.append(offs[-1] + n_prod)
    n_prod_total = offs[-1]
    n_buyers = max(5, int(orders * 0.45))
    n_chunks = max(1, math.ceil(orders / chunk_size))
    mul = (rng.integers(1 << 20, 1 << 40, 8) * 2 + 1).astype(np.uint64)
    add = rng.integers(0, 1 << 49, 8).astype(np.uint64)
    if "split_daily" in quirks:
        daily = [start_s + j * DAY + 9 * HOUR + 30 * MINUTE for j in range(1, days + 8)]
    else:
        daily = [export_s]
    explained = set()
    try:
        from pipeline.policy import load_policy, normalize_reason

        pol = load_policy("tmall")
        explained = {normalize_reason(x) for x in getattr(pol, "detection_terms", {}).get("explained_reasons", ())}
    except Exception:  # pragma: no cover - the policy is validated in generate()
        normalize_reason = str
    amount_only_reasons = [x for x in R_AMOUNT_ONLY if normalize_reason(x) not in explained] or ["其他"]
    return World(
        amount_only_reasons=amount_only_reasons,
        seed=seed, fmt=fmt, encoding=encoding, n_orders=orders, n_chunks=n_chunks, chunk_size=chunk_size,
        start_s=start_s, days=days, end_s=end_s, export_s=export_s, as_of_s=as_of_s, quirks=frozenset(quirks),
        rates=rates, penalty=penalty, shop_names=names, shop_ids=shop_ids, shop_codes=codes,
        shop_weights=shop_weights, shop_carrier=shop_carrier, shop_qty_a=np.array(qty_a),
        shop_prod_off=np.array(offs, dtype=np.int64), prod_title=pa.array(titles, pa.string()),
        prod_sku=pa.array(skus, pa.string()), prod_attr=pa.array(attrs, pa.string()),
        prod_price=np.concatenate(prices), prod_weight=np.concatenate(weights),
        prod_item_id=(520000000000 + _mix(np.arange(n_prod_total), mul[7], add[7], 36)).astype(np.int64),
        prod_title_list=titles, prod_sku_list=skus, n_buyers=n_buyers,
        claimers=np.zeros(0, np.int64), id_mul=mul, id_add=add, daily_times=daily,
    )


def _mix(x: np.ndarray, mul, add, bits: int = 50) -> np.ndarray:
    """A bijection of [0, 2**bits): ids that look random but never collide."""
    x = np.asarray(x).astype(np.uint64)
    return ((x * np.uint64(mul) + np.uint64(add)) & np.uint64((1 << bits) - 1)).astype(np.int64)


# --------------------------------------------------------------------------------------------
# one chunk of orders: the full timeline (events at any time), before rendering


@dataclass
class Chunk:
    c: int
    n: int
    g: np.ndarray
    order_id: np.ndarray
    shop: np.ndarray
    buyer: np.ndarray
    case: np.ndarray
    created: np.ndarray
    paid: np.ndarray
    ship1: np.ndarray
    confirmed: np.ndarray
    closed: np.ndarray
    close_reason: list
    presale: np.ndarray
    postage: np.ndarray
    goods: np.ndarray  # G: goods paid before refunds (after discounts), cents
    n_lines: np.ndarray
    line_start: np.ndarray
    mobile: np.ndarray
    message: list
    memo: list
    sci: np.ndarray  # order id mangled in the order export
    sci_items: np.ndarray  # order id mangled in the item export
    # lines
    l_order: np.ndarray
    l_prod: np.ndarray
    l_qty: np.ndarray
    l_price: np.ndarray
    l_paid: np.ndarray
    l_id: np.ndarray
    # shipments (one row per sku per parcel)
    s_line: np.ndarray
    s_qty: np.ndarray
    s_time: np.ndarray
    s_parcel: np.ndarray  # parcel serial (unique in the run)
    s_reship: np.ndarray
    s_weight: np.ndarray  # parcel weight in grams, repeated on each row of the parcel
    # refunds
    r: dict
    truth: list


def _lognormal_hours(rng, n, median_h, sigma, lo_h, hi_h):
    h = np.exp(rng.normal(math.log(median_h), sigma, n))
    return (np.clip(h, lo_h, hi_h) * HOUR).astype(np.int64)


def _uniform_s(rng, lo_s, hi_s):
    return int(rng.integers(int(lo_s), max(int(lo_s) + 1, int(hi_s))))


def make_chunk(w: World, c: int, g0: int, n: int, counts: dict, serial_off: int, n_sci: tuple[int, int]) -> Chunk:
    rng = np.random.default_rng([w.seed, 7, c])
    g = np.arange(g0, g0 + n, dtype=np.int64)
    legacy = w.legacy
    fmtk = "legacy" if legacy else "current"
    minute_only = "excel_dates" in w.quirks

    # ---- orders: time, shop, buyer, payment
    x = (g + rng.random(n)) / w.n_orders * w.days
    day = np.floor(x)
    frac = np.interp(x - day, _DIURNAL_CDF, np.linspace(0, 1, 25))
    created = w.start_s + np.minimum(((day + frac) * DAY).astype(np.int64), w.days * DAY - 1)
    shop = rng.choice(len(w.shop_names), n, p=w.shop_weights).astype(np.int64)
    buyer = np.floor(w.n_buyers * rng.random(n) ** 2.0).astype(np.int64)
    u = rng.random(n)
    unpaid = u < 0.03
    presale = u < 0.0035
    delay = np.where(rng.random(n) < 0.85, rng.integers(5, 300, n),
                     np.where(rng.random(n) < 0.85, rng.integers(300, 2 * HOUR, n), rng.integers(2 * HOUR, 12 * HOUR, n)))
    paid = np.where(unpaid, NEVER, created + delay)
    closed = np.where(unpaid & ~presale, created + rng.integers(15 * MINUTE, 72 * HOUR, n), NEVER)
    close_reason = [""] * n
    for i in np.flatnonzero(unpaid & ~presale):
        close_reason[i] = CLOSE_UNPAID[int(rng.integers(len(CLOSE_UNPAID)))]
    n_lines = rng.zipf(2.3, n)
    while (bad := n_lines > 30).any():
        n_lines[bad] = rng.zipf(2.3, int(bad.sum()))
    n_lines = n_lines.astype(np.int64)

    # ---- injected cases
    case = np.zeros(n, np.int8)
    eligible = rng.permutation(np.flatnonzero(~unpaid))
    pos = 0
    for name in CASE_NAMES:
        k = min(counts.get(name, 0), len(eligible) - pos)
        case[eligible[pos:pos + k]] = _CASE_CODE[name]
        pos += k
    serial_orders = np.flatnonzero(case == _CASE_CODE["serial_claimer"])
    if len(serial_orders) and len(w.claimers):
        buyer[serial_orders] = w.claimers[(serial_off + np.arange(len(serial_orders))) % len(w.claimers)]
    multi = case == _CASE_CODE["short_multi_line"]
    n_lines[multi] = np.maximum(n_lines[multi], rng.integers(2, 4, int(multi.sum())))

    # ---- lines
    L = int(n_lines.sum())
    line_start = np.concatenate([[0], np.cumsum(n_lines)[:-1]]).astype(np.int64)
    l_order = np.repeat(np.arange(n), n_lines)
    l_j = np.arange(L) - line_start[l_order]
    n_prod = (w.shop_prod_off[1:] - w.shop_prod_off[:-1])[shop]
    p0 = np.floor(n_prod * rng.random(n) ** 1.6).astype(np.int64)
    stride = 1 + (rng.random(n) * np.maximum(1, n_prod // 30)).astype(np.int64)
    l_prod = w.shop_prod_off[shop[l_order]] + (p0[l_order] + l_j * stride[l_order]) % n_prod[l_order]
    l_price = w.prod_price[l_prod]
    qa = w.shop_qty_a[shop[l_order]]
    l_qty = rng.zipf(qa)
    while (bad := l_qty > 60).any():
        l_qty[bad] = rng.zipf(qa[bad])
    l_qty = np.where((l_price > 30_000) & (rng.random(L) < 0.9), 1, l_qty).astype(np.int64)

    # case lines: the line(s) concerned, with enough units
    case_lines: dict[int, list[int]] = {}
    for i in np.flatnonzero(case > 0):
        name = CASE_NAMES[case[i] - 1]
        s, m = int(line_start[i]), int(n_lines[i])
        if name == "short_multi_line":
            chosen = sorted(s + rng.choice(m, min(m, int(rng.integers(2, 4))), replace=False))
        elif name in _SHORT_LINE_CASES or name == "wrong_item":
            chosen = [s + int(rng.integers(m))]
        else:
            chosen = []
        for li in chosen:
            if name != "wrong_item" and l_qty[li] < 2:
                l_qty[li] = 2 + min(int(rng.zipf(2.2)) - 1, 8)
        case_lines[int(i)] = [int(li) for li in chosen]

    # ---- money: discounts, postage, the paid split over lines (integer cents)
    l_list = l_price * l_qty
    list_total = np.add.reduceat(l_list, line_start)
    per_mille = np.where(rng.random(n) < 0.3, rng.integers(20, 200, n), 0)  # coupons: 2-20 % off
    disc = list_total * per_mille // 1000
    disc = np.where(disc > 500, disc // 100 * 100, disc)
    goods = np.maximum(list_total - disc, (list_total + 1) // 2)
    postage = np.where(rng.random(n) < 0.35, rng.choice([500, 600, 800, 1000, 1200, 1500, 2000], n), 0).astype(np.int64)
    l_paid = _split(goods, l_list, l_order, line_start, n_lines)

    # ---- ids
    if legacy:
        order_id = 20_000_000_000_000_000 + _mix(g, w.id_mul[0], w.id_add[0])  # 17 digits
    else:
        low = _mix(g, w.id_mul[6], w.id_add[6], 40) % 1000
        order_id = 3_000_000_000_000_000_000 + _mix(g, w.id_mul[0], w.id_add[0]) * 1000 + low  # 19 digits
    lkey = g[l_order] * 32 + l_j
    l_id = (5_000_000_000_000_000_000 + _mix(lkey, w.id_mul[1], w.id_add[1]) * 1000
            + _mix(lkey, w.id_mul[6], w.id_add[6], 40) % 1000)

    # ---- timeline
    is_case = case > 0
    ship1 = np.where(unpaid, NEVER, paid + _lognormal_hours(rng, n, 18, 0.8, 0.5, 60))
    ship1 = np.where(is_case, paid + rng.integers(HOUR, 40 * HOUR, n), ship1)
    deliver = ship1 + np.where(is_case, rng.integers(12 * HOUR, 36 * HOUR, n), rng.integers(20 * HOUR, 60 * HOUR, n))
    confirmed = np.minimum(deliver + (rng.exponential(2.0, n) * DAY).astype(np.int64), ship1 + 10 * DAY)
    confirmed = np.where(unpaid, NEVER, confirmed)
    mobile = rng.random(n) < 0.75

    message = [""] * n
    memo = [""] * n
    for i in np.flatnonzero(rng.random(n) < 0.05):
        message[i] = BENIGN_MESSAGES[int(rng.integers(len(BENIGN_MESSAGES)))]
    for i in np.flatnonzero(rng.random(n) < 0.03):
        if not is_case[i]:
            memo[i] = BENIGN_MEMOS[int(rng.integers(len(BENIGN_MEMOS)))]

    # default shipments: one parcel per order, big orders sometimes in two
    window = w.penalty.window_hours * HOUR
    two = (n_lines >= 5) & (rng.random(n) < 0.25) & ~is_case & ~unpaid
    ship2 = np.where(two, np.minimum(ship1 + rng.integers(2 * HOUR, 24 * HOUR, n), paid + window - HOUR), NEVER)
    shipped = ship1 < NEVER
    l_parcel_no = np.where(two[l_order] & (l_j >= n_lines[l_order] // 2), 1, 0)

    refunds: list[tuple] = []  # see _refund_arrays for the fields
    reship_rows: list[tuple] = []  # (line, qty, time, parcel_no)
    qty_override: dict[int, int] = {}  # line -> units the shipments file records
    packed: dict[int, int] = {}  # line -> units really in the parcel when the record says more
    empty_parcel = np.zeros(n, bool)
    truth: list[dict] = []
    rcount = Counter()

    def add_refund(o, li, amount, reason, final, applied, finished, *, ret=False, goods_key="received",
                   desc="", cs=CS_NONE, party="", agreed=None, returned=None):
        k = rcount[o]
        rcount[o] += 1
        refunds.append((o, li, int(amount), reason, final, int(applied), int(finished) if finished is not None else int(NEVER),
                        ret, goods_key, desc, cs, party, int(agreed if agreed is not None else NEVER),
                        int(returned if returned is not None else NEVER), k))

    def pick(options):
        return options[int(rng.integers(len(options)))]

    def unit_amount(li, k):
        return _round_div(int(l_paid[li]) * k, int(l_qty[li]))

    def kwords(k):
        return NUM_CN.get(k, str(k))

    for i in np.flatnonzero(is_case):
        i = int(i)
        name = CASE_NAMES[case[i] - 1]
        kind, resp, evidence, status, _ = CASES[name]
        lines = case_lines[i]
        s, m = int(line_start[i]), int(n_lines[i])
        all_lines = list(range(s, s + m))
        t_paid, t_ship, t_del = int(paid[i]), int(ship1[i]), int(deliver[i])
        ship_by = t_paid + window
        detail = []  # (line, ordered, missing, affected cents)
        reshipped_at = None

        if name in _SHORT_LINE_CASES:
            li = lines[0]
            n_u = int(l_qty[li])
            k = 1 if rng.random() < 0.7 else int(rng.integers(1, n_u))
            amt = unit_amount(li, k)
            detail.append((li, n_u, k, amt))
            applied = t_del + _uniform_s(rng, HOUR, 12 * HOUR)
            sku = w.prod_sku_list[int(l_prod[li])]
            if name == "short_reason":
                packed[li] = n_u - k
                d = pick(DESC_SHORT).format(k=kwords(k), m=kwords(n_u - k))
                add_refund(i, li, amt, pick(R_SHORT[fmtk]), "success", applied, applied + _uniform_s(rng, HOUR, 24 * HOUR),
                           desc=d, party="卖家" if rng.random() < 0.2 else "")
            elif name == "refused_cs_for_shop":
                d = pick(DESC_SHORT[1:]).format(k=kwords(k), m=kwords(n_u - k))
                add_refund(i, li, amt, pick(R_SHORT[fmtk]), pick(["refused", "closed"]), applied,
                           applied + _uniform_s(rng, DAY, 2 * DAY), desc=d, cs=CS_FOR_SELLER)
            elif name == "serial_claimer":
                d = pick(DESC_SHORT[1:]).format(k=kwords(k), m=kwords(n_u - k))
                fin = pick(["refused", "refused", "closed", "closed", None])
                add_refund(i, li, amt, pick(R_SHORT[fmtk]), fin, applied,
                           applied + _uniform_s(rng, 2 * HOUR, 2 * DAY) if fin else None, desc=d)
            elif name == "amount_only":
                confirmed[i] = t_del + _uniform_s(rng, HOUR, 24 * HOUR)
                ap = int(confirmed[i]) + _uniform_s(rng, HOUR, 24 * HOUR)
                add_refund(i, li, amt, pick(w.amount_only_reasons), "success", ap, ap + _uniform_s(rng, HOUR, 24 * HOUR))
            elif name == "text_only":
                if rng.random() < 0.5:
                    memo[i] = pick(MEMO_SHORT_TEXT).format(sku=sku, k=kwords(k))
                else:
                    add_refund(i, li, int(goods[i]), pick(R_CLAIM_OTHER), "closed", applied,
                               applied + _uniform_s(rng, 2 * HOUR, DAY), desc=f"少发了{kwords(k)}个")
            elif name == "ship_only_no_complaint":
                qty_override[li] = n_u - k
            elif name in ("cured_reship", "late_reship"):
                qty_override[li] = n_u - k
                if name == "cured_reship":
                    t_re = _uniform_s(rng, t_ship + 30 * MINUTE, ship_by - 15 * MINUTE)
                else:
                    t_re = ship_by + _uniform_s(rng, 2 * HOUR, 60 * HOUR)
                reship_rows.append((li, k, t_re, 2))
                reshipped_at = t_re
                if rng.random() < 0.5:
                    memo[i] = pick(MEMO_RESHIP).format(sku=sku, k=kwords(k))
        elif name == "short_multi_line":
            applied = t_del + _uniform_s(rng, HOUR, 12 * HOUR)
            for li in lines:
                n_u = int(l_qty[li])
                k = 1 if rng.random() < 0.6 else int(rng.integers(1, n_u))
                amt = unit_amount(li, k)
                detail.append((li, n_u, k, amt))
                packed[li] = n_u - k
                add_refund(i, li, amt, pick(R_SHORT[fmtk]), "success", applied,
                           applied + _uniform_s(rng, HOUR, 24 * HOUR), desc=pick(DESC_SHORT).format(k=kwords(k), m=kwords(n_u - k)))
                applied += _uniform_s(rng, MINUTE, 20 * MINUTE)
        elif name == "wrong_item":
            li = lines[0]
            n_u = int(l_qty[li])
            k = n_u if (n_u == 1 or rng.random() < 0.7) else int(rng.integers(1, n_u))
            amt = unit_amount(li, k)
            detail.append((li, n_u, k, amt))
            applied = t_del + _uniform_s(rng, HOUR, 12 * HOUR)
            if rng.random() < 0.8:
                agreed = applied + _uniform_s(rng, HOUR, 8 * HOUR)
                returned = agreed + _uniform_s(rng, 4 * HOUR, DAY)
                add_refund(i, li, amt, pick(R_WRONG[fmtk]), "success", applied, returned + _uniform_s(rng, 4 * HOUR, DAY),
                           ret=True, goods_key="returned", desc=pick(DESC_WRONG), agreed=agreed, returned=returned)
            else:
                add_refund(i, li, amt, pick(R_WRONG[fmtk]), "success", applied, applied + _uniform_s(rng, HOUR, DAY),
                           desc=pick(DESC_WRONG))
        elif name in ("empty_parcel", "lost_in_transit", "out_of_stock"):
            confirmed[i] = NEVER
            if name == "out_of_stock":
                ship1[i] = NEVER
                applied = t_paid + _uniform_s(rng, HOUR, 60 * HOUR)
                reason, gk, desc, party = pick(R_OOS[fmtk]), "not_shipped", pick(DESC_OOS), ""
                close_reason[i] = "卖家缺货"
            elif name == "empty_parcel":
                empty_parcel[i] = True
                applied = t_del + _uniform_s(rng, HOUR, 12 * HOUR)
                reason, gk, desc, party = pick(R_EMPTY[fmtk]), "received", pick(DESC_EMPTY), ""
            else:
                applied = t_ship + _uniform_s(rng, 3 * DAY, 84 * HOUR)
                reason, gk, desc = pick(R_LOST[fmtk]), "not_received", pick(DESC_LOST)
                party = "快递" if rng.random() < 0.4 else ""
            fin = applied + _uniform_s(rng, 10 * MINUTE, 12 * HOUR)
            for li in all_lines:
                n_u = int(l_qty[li])
                detail.append((li, n_u, n_u, int(l_paid[li])))
                add_refund(i, li, int(l_paid[li]), reason, "success", applied, fin, goods_key=gk, desc=desc, party=party)
                applied += _uniform_s(rng, 1, 60)
                fin += _uniform_s(rng, 1, 60)
        elif name == "unshipped":
            ship1[i] = NEVER
            confirmed[i] = NEVER
            for li in all_lines:
                n_u = int(l_qty[li])
                detail.append((li, n_u, n_u, int(l_paid[li])))
            if rng.random() < 0.4:
                memo[i] = pick(["'缺货，等补货", "'仓库漏单", "'待发"])
        truth.append(dict(i=i, case=name, kind=kind, resp=resp, evidence=evidence, status=status, detail=detail,
                          ship_by=ship_by, reshipped_at=reshipped_at))

    # ---- ordinary refunds (not shipping faults) on orders without a case
    u = rng.random(n)
    ordinary = ~is_case & ~unpaid
    n1 = ordinary & (u < 0.025)
    ship1[n1] = NEVER
    confirmed[n1] = NEVER
    for i in np.flatnonzero(n1):  # cancelled before shipping: full refund of every line
        i = int(i)
        applied = int(paid[i]) + _uniform_s(rng, 5 * MINUTE, 20 * HOUR)
        fin = applied + _uniform_s(rng, 10 * MINUTE, 8 * HOUR)
        reason = pick(R_CANCEL[fmtk])
        for li in range(int(line_start[i]), int(line_start[i] + n_lines[i])):
            add_refund(i, li, int(l_paid[li]), reason, "success", applied, fin, goods_key="not_shipped",
                       desc=pick(["", "拍错了", "不想要了"]))
    for i in np.flatnonzero(ordinary & (u >= 0.025) & (u < 0.055)):  # returns after delivery
        i = int(i)
        li = int(line_start[i] + rng.integers(n_lines[i]))
        n_u = int(l_qty[li])
        k = n_u if rng.random() < 0.6 else int(rng.integers(1, n_u + 1))
        applied = int(deliver[i]) + _uniform_s(rng, HOUR, 6 * DAY)
        agreed = applied + _uniform_s(rng, HOUR, DAY)
        returned = agreed + _uniform_s(rng, DAY, 3 * DAY)
        fin = returned + _uniform_s(rng, DAY, 4 * DAY)
        final = "success" if rng.random() < 0.93 else "closed"
        add_refund(i, li, unit_amount(li, k), pick(R_RETURN), final, applied, fin, ret=True, goods_key="returned",
                   desc=pick(DESC_ORDINARY), agreed=agreed, returned=returned)
    for i in np.flatnonzero(ordinary & (u >= 0.055) & (u < 0.075)):  # partial compensation or claims withdrawn
        i = int(i)
        s, m = int(line_start[i]), int(n_lines[i])
        li = s + int(rng.integers(m))
        applied = int(deliver[i]) + _uniform_s(rng, HOUR, 5 * DAY)
        forbidden = _amount_signals(l_paid[s:s + m], l_qty[s:s + m], l_price[s:s + m])
        if u[i] < 0.067 and l_paid[li] >= 300:
            reason = pick(R_PARTIAL)
            if reason == "退运费":
                amt = int(postage[i]) or int(rng.choice([300, 500, 800, 1000]))
            else:
                amt = max(100, int(l_paid[li] * rng.uniform(0.1, 0.4)) // 50 * 50)
            while amt in forbidden:
                amt += 7
            add_refund(i, li, amt, reason, "success", applied, applied + _uniform_s(rng, HOUR, 2 * DAY),
                       desc=pick(DESC_ORDINARY))
        else:
            amt = int(goods[i])
            while amt in forbidden:
                amt += 7
            add_refund(i, li, amt, pick(R_RETURN + R_CLAIM_OTHER), pick(["refused", "closed", "closed"]), applied,
                       applied + _uniform_s(rng, HOUR, 3 * DAY), desc=pick(DESC_ORDINARY))

    # ---- refunds as arrays; orders closed when every line was refunded before confirmation
    r = _refund_arrays(refunds, g, w)
    l_ref_final = np.zeros(L, np.int64)
    ok = r["final"] == 1
    np.add.at(l_ref_final, r["line"][ok], r["amount"][ok])
    line_refunded = np.bincount(r["line"][ok], minlength=L) > 0
    full_line = line_refunded & (l_ref_final >= l_paid)
    all_full = np.logical_and.reduceat(full_line, line_start)
    last_fin = np.full(n, -1, np.int64)
    np.maximum.at(last_fin, r["order"][ok], r["finished"][ok])
    close_now = all_full & (last_fin > 0) & (last_fin < confirmed) & (closed == NEVER)
    closed = np.where(close_now, last_fin, closed)
    confirmed = np.where(close_now, NEVER, confirmed)
    for i in np.flatnonzero(close_now):
        if not close_reason[i]:
            close_reason[i] = "退款"

    # ---- shipments rows
    shipped = ship1 < NEVER
    sl = np.flatnonzero(shipped[l_order])
    s_line = sl
    s_qty = l_qty[sl].copy()
    for li, q in qty_override.items():
        s_qty[np.searchsorted(sl, li)] = q
    s_pno = l_parcel_no[sl]
    s_time = np.where(s_pno == 1, ship2[l_order[sl]], ship1[l_order[sl]])
    s_reship = np.zeros(len(sl), bool)
    if reship_rows:
        rl = np.array([x[0] for x in reship_rows], np.int64)
        s_line = np.concatenate([s_line, rl])
        s_qty = np.concatenate([s_qty, np.array([x[1] for x in reship_rows], np.int64)])
        s_time = np.concatenate([s_time, np.array([x[2] for x in reship_rows], np.int64)])
        s_pno = np.concatenate([s_pno, np.array([x[3] for x in reship_rows], np.int64)])
        s_reship = np.concatenate([s_reship, np.ones(len(rl), bool)])
    s_ord = l_order[s_line]
    srt = np.lexsort((s_line, s_time, s_ord))
    s_line, s_qty, s_time, s_pno, s_reship, s_ord = (a[srt] for a in (s_line, s_qty, s_time, s_pno, s_reship, s_ord))
    s_parcel = g[s_ord] * 4 + s_pno
    pkey, pinv = np.unique(s_parcel, return_inverse=True)
    packed_l = np.full(L, -1, np.int64)  # the parcel's weight follows what was really packed
    if packed:
        packed_l[np.fromiter(packed.keys(), np.int64)] = np.fromiter(packed.values(), np.int64)
    s_packed = np.where((packed_l[s_line] >= 0) & ~s_reship, packed_l[s_line], s_qty)
    pw = np.bincount(pinv, weights=(s_packed * w.prod_weight[l_prod[s_line]]).astype(float)).astype(np.int64)
    pw = pw + 80 + _mix(pkey, w.id_mul[5], w.id_add[5], 20) % 220
    p_empty = np.zeros(len(pkey), bool)
    p_empty[pinv[empty_parcel[s_ord] & ~s_reship]] = True
    pw = np.where(p_empty, 40 + _mix(pkey, w.id_mul[6], w.id_add[6], 20) % 120, pw)
    s_weight = pw[pinv]

    # ---- sci-mangled ids (never on a case order)
    sci = np.zeros(n, bool)
    sci_items = np.zeros(n, bool)
    if n_sci[0] or n_sci[1]:
        pool = rng.permutation(np.flatnonzero(~is_case))
        sci[pool[:n_sci[0]]] = True
        sci_items[pool[n_sci[0]:n_sci[0] + n_sci[1]]] = True

    if minute_only:
        created, paid, ship1, confirmed, closed = (np.where(a < NEVER, a // 60 * 60, a)
                                                   for a in (created, paid, ship1, confirmed, closed))
        s_time = s_time // 60 * 60
        for key in ("applied", "finished", "agreed", "returned"):
            r[key] = np.where(r[key] < NEVER, r[key] // 60 * 60, r[key])

    ch = Chunk(
        c=c, n=n, g=g, order_id=order_id, shop=shop, buyer=buyer, case=case, created=created, paid=paid,
        ship1=ship1, confirmed=confirmed, closed=closed, close_reason=close_reason, presale=presale,
        postage=postage, goods=goods, n_lines=n_lines, line_start=line_start, mobile=mobile, message=message,
        memo=memo, sci=sci, sci_items=sci_items, l_order=l_order, l_prod=l_prod, l_qty=l_qty, l_price=l_price,
        l_paid=l_paid, l_id=l_id, s_line=s_line, s_qty=s_qty, s_time=s_time, s_parcel=s_parcel,
        s_reship=s_reship, s_weight=s_weight, r=r, truth=truth,
    )
    return ch


def _split(goods, l_list, l_order, line_start, n_lines) -> np.ndarray:
    """Goods paid split over lines in proportion to price x quantity; the rounding cents go to
    the largest lines (ties: the earlier line), so the lines add up to the order exactly."""
    W = np.add.reduceat(l_list, line_start)
    share = goods[l_order] * l_list // W[l_order]
    rem = goods - np.add.reduceat(share, line_start)
    L = len(l_list)
    order = np.lexsort((np.arange(L), -l_list, l_order))
    rank = np.empty(L, np.int64)
    rank[order] = np.arange(L) - line_start[l_order[order]]
    return share + (rank < rem[l_order])


def _amount_signals(paid, qty, price) -> set:
    """Refund amounts that would read as 'k units missing' on an order (and their +-1 cent)."""
    out = set()
    m = len(paid)
    for p, q, pr in zip(paid.tolist(), qty.tolist(), price.tolist()):
        for k in range(1, min(q, 60)):
            out.add(_round_div(p * k, q))
            out.add(pr * k)
        if m > 1:
            out.add(p)
    return {a + d for a in out for d in (-1, 0, 1)}


_FINAL_CODE = {None: 0, "success": 1, "refused": 2, "closed": 3}


def _refund_arrays(refunds: list[tuple], g: np.ndarray, w: World) -> dict:
    n = len(refunds)
    cols = list(zip(*refunds)) if n else [[] for _ in range(15)]
    r = {
        "order": np.array(cols[0], np.int64),
        "line": np.array(cols[1], np.int64),
        "amount": np.array(cols[2], np.int64),
        "reason": list(cols[3]),
        "final": np.array([_FINAL_CODE[x] for x in cols[4]], np.int8),
        "applied": np.array(cols[5], np.int64),
        "finished": np.array(cols[6], np.int64),
        "ret": np.array(cols[7], bool),
        "goods": list(cols[8]),
        "desc": list(cols[9]),
        "cs": list(cols[10]),
        "party": list(cols[11]),
        "agreed": np.array(cols[12], np.int64),
        "returned": np.array(cols[13], np.int64),
    }
    k = np.array(cols[14], np.int64)
    base = 10_000_000_000_000_000 if w.legacy else 200_000_000_000_000_000
    r["id"] = base + _mix(g[r["order"]] * 32 + k, w.id_mul[2], w.id_add[2]) if n else np.zeros(0, np.int64)
    return r


# --------------------------------------------------------------------------------------------
# rendering: the state of a chunk as seen by an export taken at time T


def _str(a) -> pa.Array:
    return pa.array(np.asarray(a)).cast(pa.string())


def _const(s: str, n: int) -> pa.Array:
    return pa.repeat(pa.scalar(s, pa.string()), n)


def _cat(*parts) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def _money(cents) -> pa.Array:
    c = np.asarray(cents, np.int64)
    return pc.binary_join_element_wise(_str(c // 100), pc.utf8_lpad(_str(c % 100), width=2, padding="0"), ".")


def _pick(strings: list[str], idx) -> pa.Array:
    return pc.take(pa.array(strings, pa.string()), pa.array(np.asarray(idx, np.int64)))


def _opt(valid, s: pa.Array, empty: str | None) -> pa.Array:
    valid = np.asarray(valid, bool)
    if valid.all():
        return s
    return pc.if_else(pa.array(valid), s, pa.scalar(empty, pa.string()))


class _Fmt:
    """How values are written for one run (format and quirks)."""

    def __init__(self, w: World):
        self.w = w
        self.empty = "" if w.legacy else None  # legacy quotes every field, also empty ones
        self.excel_ids = "excel_ids" in w.quirks
        self.excel_dates = "excel_dates" in w.quirks

    def ts(self, secs, valid=None) -> pa.Array:
        secs = np.asarray(secs, np.int64)
        if valid is None:
            valid = secs < NEVER
        arr = pa.array(np.where(valid, secs, 0)).cast(pa.timestamp("s"))
        if self.excel_dates:
            s = _cat(_str(pc.year(arr)), "/", _str(pc.month(arr)), "/", _str(pc.day(arr)), " ", _str(pc.hour(arr)), ":",
                     pc.utf8_lpad(_str(pc.minute(arr)), width=2, padding="0"))
        else:
            s = pc.strftime(arr, format="%Y-%m-%d %H:%M:%S")
        return _opt(valid, s, self.empty)

    def plain_ts(self, secs) -> pa.Array:
        return pc.strftime(pa.array(np.asarray(secs, np.int64)).cast(pa.timestamp("s")), format="%Y-%m-%d %H:%M:%S")

    def id(self, ids, sci=None) -> pa.Array:
        s = _str(ids)
        if self.excel_ids:
            s = _cat('="', s, '"')
        if sci is not None and np.any(sci):
            s = pc.if_else(pa.array(np.asarray(sci, bool)), pa.array([_sci(int(x)) for x in np.asarray(ids)]), s)
        return s

    def payment_no(self, g, paid, valid) -> pa.Array:
        d = pc.strftime(pa.array(np.where(valid, paid, 0)).cast(pa.timestamp("s")), format="%Y%m%d")
        s = _cat(d, "2100100", pc.utf8_lpad(_str(_mix(g, self.w.id_mul[3], self.w.id_add[3]) % 10 ** 13), width=13, padding="0"))
        if self.excel_ids:
            s = _cat('="', s, '"')
        return _opt(valid, s, self.empty)

    def e(self, n: int) -> pa.Array:
        return pa.nulls(n, pa.string()) if self.empty is None else _const("", n)


def _sci(x: int) -> str:
    """An id as Excel shows a number it cannot hold: 2.14073E+16."""
    mant, exp = f"{x:.5E}".split("E")
    mant = mant.rstrip("0").rstrip(".")
    return f"{mant}E+{int(exp):02d}"


def _tracking(w: World, parcel, carrier_idx) -> tuple[pa.Array, pa.Array]:
    """Tracking numbers (carrier prefix + 11-13 digits) and carrier names for parcel serials."""
    carrier_idx = np.asarray(carrier_idx, np.int64)
    digits = np.array([c[2] for c in CARRIERS])[carrier_idx]
    body = pc.utf8_lpad(_str(_mix(parcel, w.id_mul[4], w.id_add[4]) % 10 ** 13), width=13, padding="0")
    tail = body
    for d in (11, 12):
        tail = pc.if_else(pa.array(digits == d), pc.utf8_slice_codeunits(body, 13 - d, 13), tail)
    return _cat(_pick([c[1] for c in CARRIERS], carrier_idx), tail), _pick([c[0] for c in CARRIERS], carrier_idx)


def render(w: World, ch: Chunk, T: int, lo: int | None = None) -> dict:
    """Every export kind of this chunk as seen at time T. With `lo` (split_daily), only what
    changed in (lo, T]. Returns kind -> (columns, n rows, relative sci rows)."""
    f = _Fmt(w)
    legacy = w.legacy
    fmtk = "legacy" if legacy else "current"
    E = f.empty
    out = {}

    # ---- order state at T
    r = ch.r
    vis_r = r["applied"] <= T
    succ = vis_r & (r["final"] == 1) & (r["finished"] <= T)
    refunded = np.zeros(ch.n, np.int64)
    np.add.at(refunded, r["order"][succ], r["amount"][succ])
    l_refunded = np.zeros(len(ch.l_order), np.int64)
    np.add.at(l_refunded, r["line"][succ], r["amount"][succ])
    paid_v = ch.paid <= T
    ship_v = ch.ship1 <= T
    status = np.full(ch.n, ST_PAID, np.int64)
    status = np.where(ship_v, ST_SHIPPED, status)
    status = np.where(ch.confirmed <= T, ST_DONE, status)
    status = np.where(~paid_v, ST_UNPAID, status)
    status = np.where(ch.closed <= T, ST_CLOSED, status)
    vis_o = ch.created <= T
    s_vis = ch.s_time <= T
    if lo is not None:  # split_daily: only what changed in the window
        events = [ch.created, ch.paid, ch.ship1, ch.confirmed, ch.closed]
        last = np.full(ch.n, -1, np.int64)
        for ev in events:
            last = np.where(ev <= T, np.maximum(last, ev), last)
        for key in ("applied", "finished", "agreed", "returned"):
            ev = r[key]
            m = ev <= T
            np.maximum.at(last, r["order"][m], ev[m])
        m = s_vis
        np.maximum.at(last, ch.l_order[ch.s_line[m]], ch.s_time[m])
        vis_o = vis_o & (last > lo)
        r_last = np.full(len(r["order"]), -1, np.int64)
        for key in ("applied", "finished", "agreed", "returned"):
            r_last = np.where(r[key] <= T, np.maximum(r_last, r[key]), r_last)
        vis_r = vis_r & (r_last > lo)
        s_vis = s_vis & (ch.s_time > lo)

    oi = np.flatnonzero(vis_o)
    n = len(oi)
    # first parcel (tracking on the order)
    first_row = np.full(ch.n, -1, np.int64)
    s_ord_all = ch.l_order[ch.s_line]
    firsts = np.flatnonzero(np.r_[True, s_ord_all[1:] != s_ord_all[:-1]]) if len(s_ord_all) else np.zeros(0, np.int64)
    first_row[s_ord_all[firsts]] = firsts
    carrier_o = w.shop_carrier[ch.shop, (ch.g % 5 == 0).astype(np.int64)]

    if n:
        st = status[oi]
        paid_ok = paid_v[oi]
        goods, post, refd = ch.goods[oi], ch.postage[oi], refunded[oi]
        b = ch.buyer[oi]
        bh = _mix(b, w.id_mul[5], w.id_add[5], 40)
        nick = pc.if_else(pa.array(bh % 10 < 7), _cat("tb", _str(10_000_000 + bh % 89_999_999)),
                          _cat(_pick(NICK_WORDS, bh % len(NICK_WORDS)), _str(bh // 7 % 1000)))
        ls, nl = ch.line_start[oi], ch.n_lines[oi]
        lidx = np.repeat(ls, nl) + (np.arange(int(nl.sum())) - np.repeat(np.cumsum(nl) - nl, nl))
        offsets = pa.array(np.concatenate([[0], np.cumsum(nl)]).astype(np.int32))
        title = pc.binary_join(pa.ListArray.from_arrays(offsets, pc.take(w.prod_title, pa.array(ch.l_prod[lidx]))), "，")
        tq = np.add.reduceat(ch.l_qty[lidx], np.concatenate([[0], np.cumsum(nl)[:-1]]))
        fr = first_row[oi]
        has_track = ship_v[oi] & (fr >= 0)
        track, carrier_name = _tracking(w, ch.s_parcel[np.maximum(fr, 0)], carrier_o[oi])
        place = _pick(PLACES, bh % len(PLACES))
        msg = pa.array([ch.message[i] for i in oi], pa.string())
        memo = pa.array([ch.memo[i] for i in oi], pa.string())
        oid = f.id(ch.order_id[oi], ch.sci[oi])
        status_s = _pick(ORDER_STATUS, st)
        if legacy:
            net = np.where(paid_ok, goods + post - refd, 0)
            phone = _cat(pa.array(np.where(bh % 5 == 0, "'", "")), "1", _str(30 + bh % 60), "****", pc.utf8_lpad(_str(bh // 100 % 10000), width=4, padding="0"))
            close = pa.array([ch.close_reason[i] if status[i] == ST_CLOSED else "订单未关闭" for i in oi], pa.string())
            cols = {
                "订单编号": oid, "买家会员名": nick,
                "买家支付宝账号": _cat("1", _str(30 + bh % 60), "****", pc.utf8_lpad(_str(bh // 10 % 10000), width=4, padding="0")),
                "买家应付货款": _money(goods), "买家应付邮费": _money(post), "买家支付积分": _const("0", n),
                "总金额": _money(goods + post), "返点积分": _const("0", n), "买家实际支付金额": _money(net),
                "买家实际支付积分": _const("0", n), "订单状态": status_s, "买家留言": msg,
                "收货人姓名": _cat(_pick(SURNAMES, bh // 3 % len(SURNAMES)), "**"),
                "收货地址 ": _cat(place, " ", _pick(STREETS, bh // 11 % len(STREETS)), _str(1 + bh // 13 % 400), "号"),
                "运送方式": _const("快递", n), "联系电话 ": _const("", n), "联系手机": phone,
                "订单创建时间": f.ts(ch.created[oi]), "订单付款时间 ": f.ts(ch.paid[oi], paid_ok),
                "宝贝标题 ": title, "宝贝种类 ": _str(nl), "物流单号 ": _opt(has_track, _cat("No:", track), ""),
                "物流公司": _opt(has_track, carrier_name, ""), "订单备注": memo, "宝贝总数量": _str(tq),
                "店铺Id": _str(w.shop_ids[ch.shop[oi]]), "店铺名称": _pick(w.shop_names, ch.shop[oi]),
                "订单关闭原因": close, "卖家服务费": _const("0", n), "买家服务费": _const("0元", n),
                "是否手机订单": pa.array(np.where(ch.mobile[oi], "手机订单", "")),
                "是否上传合同照片": _const("否", n), "是否上传小票": _const("否", n), "是否代付": _const("否", n),
                "退款金额": _money(refd),
            }
            header = LEGACY_ORDERS
        else:
            confirmed_ok = ch.confirmed[oi] <= T
            attrs = pc.binary_join(pa.ListArray.from_arrays(offsets, pc.take(w.prod_attr, pa.array(ch.l_prod[lidx]))), "，")
            cols = {
                "订单编号": oid, "支付单号": f.payment_no(ch.g[oi], ch.paid[oi], paid_ok), "买家昵称": nick,
                "买家应付货款": _money(goods), "买家应付邮费": _money(post), "总金额": _money(goods + post),
                "买家实付金额": _money(np.where(paid_ok, goods + post, 0)), "订单状态": status_s,
                "买家留言": _opt(pc.not_equal(msg, "").to_numpy(zero_copy_only=False), msg, None),
                "收货地址": _cat(place, " ****"), "运送方式": _const("快递", n),
                "订单创建时间": f.ts(ch.created[oi]), "订单付款时间": f.ts(ch.paid[oi], paid_ok), "商品标题": title,
                "宝贝种类": _str(nl), "物流单号": _opt(has_track, track, None), "物流公司": _opt(has_track, carrier_name, None),
                "商家备注": _opt(pc.not_equal(memo, "").to_numpy(zero_copy_only=False), memo, None), "宝贝总数量": _str(tq),
                "店铺名称": _pick(w.shop_names, ch.shop[oi]), "手机订单": pa.array(np.where(ch.mobile[oi], "是", "否")),
                "商品属性SKU": attrs, "发货时间": f.ts(ch.ship1[oi], ship_v[oi]),
                "确认收货时间": f.ts(ch.confirmed[oi], confirmed_ok), "退款金额": _money(refd), "是否主动赔付": _const("否", n),
                "确认收货打款金额": _opt(confirmed_ok, _money(goods + post - refd), None),
            }
            header = CURRENT_ORDERS
        out["orders"] = ([cols.get(h) if h in cols else f.e(n) for h in header], n, np.flatnonzero(ch.sci[oi]))

        # ---- items: every line of the visible orders
        lo_ = ch.l_order[lidx]
        nli = len(lidx)
        lst = np.where(ch.l_paid[lidx] > 0, l_refunded[lidx] >= ch.l_paid[lidx], False) & (st[np.repeat(np.arange(n), nl)] != ST_UNPAID)
        line_status = np.where(lst, ST_CLOSED, status[lo_])
        sku = pc.take(w.prod_sku, pa.array(ch.l_prod[lidx]))
        ltitle = pc.take(w.prod_title, pa.array(ch.l_prod[lidx]))
        lattr = pc.take(w.prod_attr, pa.array(ch.l_prod[lidx]))
        sci_rows = np.flatnonzero(ch.sci_items[lo_])
        if legacy:
            cols = {
                "订单编号": f.id(ch.order_id[lo_], ch.sci_items[lo_]), "标题": ltitle, "价格": _money(ch.l_price[lidx]),
                "购买数量": _str(ch.l_qty[lidx]), "外部系统编号": sku, "商品属性": lattr,
                "订单状态": _pick(ORDER_STATUS, line_status), "商家编码": sku,
            }
            header = LEGACY_ITEMS
        else:
            single = ch.n_lines[lo_] == 1
            lpaid = ch.l_paid[lidx] + np.where(single, ch.postage[lo_], 0)
            pv = paid_v[lo_]
            # latest refund of each line (visible at T)
            rs_text = np.zeros(nli, np.int64)  # 0 none
            line_pos = np.full(len(ch.l_order), -1, np.int64)
            line_pos[lidx] = np.arange(nli)
            vr = np.flatnonzero(vis_r & (line_pos[r["line"]] >= 0))
            order_r = vr[np.argsort(r["applied"][vr], kind="stable")]
            rtexts = ["没有申请退款"]
            for ri in order_r:
                rtexts.append(_refund_status_text(r, int(ri), T))
                rs_text[line_pos[r["line"][ri]]] = len(rtexts) - 1
            memo_l = pa.array([ch.memo[i] for i in lo_], pa.string())
            msg_l = pa.array([ch.message[i] for i in lo_], pa.string())
            cols = {
                "子订单编号": f.id(ch.l_id[lidx]), "主订单编号": f.id(ch.order_id[lo_], ch.sci_items[lo_]), "商品标题": ltitle,
                "商品价格": _money(ch.l_price[lidx]), "购买数量": _str(ch.l_qty[lidx]), "商品属性": lattr,
                "订单状态": _pick(ORDER_STATUS, line_status), "商家编码": sku,
                "支付单号": f.payment_no(ch.g[lo_], ch.paid[lo_], pv),
                "买家应付货款": _money(lpaid), "买家实付金额": _money(np.where(pv, lpaid, 0)),
                "退款状态": _pick(rtexts, rs_text), "退款金额": _money(l_refunded[lidx]),
                "订单创建时间": f.ts(ch.created[lo_]), "订单付款时间": f.ts(ch.paid[lo_], pv),
                "商品ID": _str(w.prod_item_id[ch.l_prod[lidx]]),
                "商家备注": _opt(pc.not_equal(memo_l, "").to_numpy(zero_copy_only=False), memo_l, None),
                "主订单买家留言": _opt(pc.not_equal(msg_l, "").to_numpy(zero_copy_only=False), msg_l, None),
                "是否主动赔付": _const("否", nli),
            }
            header = CURRENT_ITEMS
        out["items"] = ([cols.get(h) if h in cols else f.e(nli) for h in header], nli, sci_rows)

    # ---- refunds visible at T
    ri = np.flatnonzero(vis_r)
    nr = len(ri)
    if nr:
        ro, rl = r["order"][ri], r["line"][ri]
        fin_ok = r["finished"][ri] <= T
        st_text = pa.array([_refund_status_text(r, int(x), T) for x in ri], pa.string())
        goods_key = [r["goods"][x] for x in ri]
        ret = r["ret"][ri]
        returned_ok = r["returned"][ri] <= T
        goods_txt = [GOODS[fmtk]["returned" if (k == "returned" and returned_ok[j]) else
                                 ("received" if k == "returned" else k)] for j, k in enumerate(goods_key)]
        bh = _mix(ch.buyer[ro], w.id_mul[5], w.id_add[5], 40)
        nick = pc.if_else(pa.array(bh % 10 < 7), _cat("tb", _str(10_000_000 + bh % 89_999_999)),
                          _cat(_pick(NICK_WORDS, bh % len(NICK_WORDS)), _str(bh // 7 % 1000)))
        shipped_r = ch.ship1[ro] <= T
        fr = first_row[ro]
        track, carrier_name = _tracking(w, ch.s_parcel[np.maximum(fr, 0)], carrier_o[ro])
        ship_info = _opt(shipped_r & (fr >= 0), _cat(carrier_name, " ", track), E)
        rtrack, rcarrier = _tracking(w, ch.g[ro] * 4 + 3, ch.g[ro] % len(CARRIERS))
        post = ch.postage[ro]
        amount = r["amount"][ri]
        full = amount >= ch.l_paid[rl]
        phase = np.where(r["applied"][ri] < ch.confirmed[ro], "售中", "售后")
        timeout = np.where(fin_ok, NEVER, r["applied"][ri] + 5 * DAY)
        cols = {
            "订单编号": f.id(ch.order_id[ro]), "退款编号": f.id(r["id"][ri]),
            "支付宝交易号": f.payment_no(ch.g[ro], ch.paid[ro], np.ones(nr, bool)),
            "支付单号": f.payment_no(ch.g[ro], ch.paid[ro], np.ones(nr, bool)),
            "订单付款时间": f.ts(ch.paid[ro]), "商家编码": pc.take(w.prod_sku, pa.array(ch.l_prod[rl])),
            "退款完结时间": f.ts(r["finished"][ri], fin_ok), "买家会员名称": nick,
            "买家实际支付金额": _money(ch.goods[ro] + post), "宝贝标题": pc.take(w.prod_title, pa.array(ch.l_prod[rl])),
            "买家退款金额": _money(amount), "手工退款/系统退款": _const("系统退款", nr),
            "是否需要退货": pa.array(np.where(ret, "是", "否")), "售后类型": pa.array(np.where(ret, "退货退款", "仅退款")),
            "退款的申请时间": f.ts(r["applied"][ri]), "超时时间": f.ts(timeout), "退款状态": st_text,
            "货物状态": pa.array(goods_txt, pa.string()), "发货物流信息": ship_info,
            "客服介入状态": pa.array([r["cs"][x] for x in ri], pa.string()),
            "卖家真实姓名": _pick([f"{SURNAMES[k % len(SURNAMES)]}**" for k in range(len(w.shop_names))], ch.shop[ro]),
            "卖家退货地址": _pick([f"{PLACES[k % len(PLACES)]} 仓库{k + 1}号" for k in range(len(w.shop_names))], ch.shop[ro]),
            "卖家邮编": _const("310000", nr),
            "退货物流单号": _opt(ret & returned_ok, rtrack, E), "退货物流公司": _opt(ret & returned_ok, rcarrier, E),
            "买家退款原因": pa.array([r["reason"][x] for x in ri], pa.string()),
            "买家退款说明": pa.array([r["desc"][x] for x in ri], pa.string()),
            "买家退货时间": f.ts(r["returned"][ri], ret & returned_ok),
            "责任方": pa.array([r["party"][x] for x in ri], pa.string()), "售中或售后": pa.array(phase),
            "完结时间": f.ts(r["finished"][ri], fin_ok),
            "部分退款/全部退款": pa.array(np.where(full, "全部退款", "部分退款")),
            "是否零秒响应": _const("否", nr), "退款操作人": _const("系统", nr),
            "业务类型": _const("普通退款", nr), "是否帮他退款": _const("否", nr),
            "商品 id": _str(w.prod_item_id[ch.l_prod[rl]]),
        }
        header = LEGACY_REFUNDS if legacy else CURRENT_REFUNDS
        out["refunds"] = ([cols.get(h) if h in cols else f.e(nr) for h in header], nr, np.zeros(0, np.int64))

    # ---- shipments visible at T (our own format: plain values, UTF-8)
    si = np.flatnonzero(s_vis)
    ns = len(si)
    if ns:
        so = ch.l_order[ch.s_line[si]]
        track, _ = _tracking(w, ch.s_parcel[si], carrier_o[so])
        wgt = ch.s_weight[si]
        cols = [
            _str(ch.order_id[so]), pc.take(w.prod_sku, pa.array(ch.l_prod[ch.s_line[si]])), _str(ch.s_qty[si]),
            f.plain_ts(ch.s_time[si]), track,
            pc.binary_join_element_wise(_str(wgt // 1000), pc.utf8_lpad(_str(wgt % 1000), width=3, padding="0"), "."),
            pa.array(np.where(ch.s_reship[si], "true", "false")),
        ]
        out["shipments"] = (cols, ns, np.zeros(0, np.int64))
    return out


def _refund_status_text(r: dict, x: int, T: int) -> str:
    if r["finished"][x] <= T:
        return REFUND_FINAL[{1: "success", 2: "refused", 3: "closed"}[int(r["final"][x])]]
    if r["ret"][x]:
        if r["returned"][x] <= T:
            return REFUND_PENDING[2]
        if r["agreed"][x] <= T:
            return REFUND_PENDING[1]
    return REFUND_PENDING[0]


# --------------------------------------------------------------------------------------------
# CSV bytes


def _headers(w: World) -> dict[str, list[str]]:
    h = {
        "orders": LEGACY_ORDERS if w.legacy else CURRENT_ORDERS,
        "items": LEGACY_ITEMS if w.legacy else CURRENT_ITEMS,
        "refunds": LEGACY_REFUNDS if w.legacy else CURRENT_REFUNDS,
        "shipments": SHIPMENTS,
    }
    if "header_spaces" in w.quirks:
        h = {k: (v if k == "shipments" else [_spaced(x, i) for i, x in enumerate(v)]) for k, v in h.items()}
    return h


def _spaced(name: str, i: int) -> str:
    if "/" in name:
        return name.replace("/", " / ")
    if i % 3 == 1:
        return name.rstrip() + " "
    if i % 3 == 2:
        return name.rstrip() + "\u3000"
    return name


def _encoding_of(w: World, kind: str) -> str:
    return "utf-8" if kind == "shipments" else w.encoding


def header_bytes(w: World, kind: str) -> bytes:
    names = _headers(w)[kind]
    quote = w.legacy and kind != "shipments"
    line = ",".join(f'"{x}"' if quote else x for x in names) + "\n"
    b = line.encode(_encoding_of(w, kind))
    if "bom" in w.quirks:
        b = b"\xef\xbb\xbf" + b
    return b


def _csv_bytes(w: World, kind: str, cols: list) -> bytes:
    n = len(cols[0])
    trailing = kind == "items" and (w.legacy or "trailing_comma" in w.quirks)
    if trailing:
        cols = cols + [pa.nulls(n, pa.string())]
    tab = pa.Table.from_arrays(cols, names=[f"c{i}" for i in range(len(cols))])
    sink = pa.BufferOutputStream()
    if w.legacy and kind != "shipments":
        quote = "all_valid"  # the legacy export quotes every field
    else:
        quote = "none"  # plain values; fall back to quoting when a value needs it
    try:
        pcsv.write_csv(tab, sink, pcsv.WriteOptions(include_header=False, quoting_style=quote, batch_size=8192))
    except pa.ArrowInvalid:
        sink = pa.BufferOutputStream()
        pcsv.write_csv(tab, sink, pcsv.WriteOptions(include_header=False, quoting_style="needed", batch_size=8192))
    b = sink.getvalue().to_pybytes()
    enc = _encoding_of(w, kind)
    if enc != "utf-8":
        b = b.decode("utf-8").encode(enc)
    return b


# --------------------------------------------------------------------------------------------
# truth


TRUTH_COLUMNS: list[tuple[str, str]] = [
    ("order_id", "string: the order id as digits (Excel wrappers never applied here)"),
    ("shop", "string: 店铺名称 of the order"),
    ("buyer", "string: the buyer's nick (买家会员名 / 买家昵称 / 买家会员名称)"),
    ("case", "string: the injected case (see the case table below)"),
    ("kind", "string: short | wrong | empty | not_received | unshipped: the flag kind expected"),
    ("responsibility", "string: merchant | courier | buyer | undetermined"),
    ("evidence", "string: explicit (a refund reason, the shipments file or the order state says so) | "
                 "text_only (only free text) | amount_only (only a refund amount)"),
    ("missing_qty", "int64: units missing (short), sent wrong (wrong), or all units of the order "
                    "(empty, not_received, unshipped); for text_only the count stated in the text"),
    ("affected_amount", "decimal(18,2): paid value of the goods concerned, postage excluded: "
                        "sum over the lines concerned of round_half_up(k x line_paid / quantity) "
                        "(for whole lines simply line_paid)"),
    ("refunded_amount", "decimal(18,2): refunds that succeeded for this case by the export time"),
    ("ordered_qty", "int64: units ordered on the lines concerned"),
    ("skus", "list<string>: 商家编码 of the lines concerned"),
    ("detail", "list<struct>: one entry per line concerned: sku, ordered_qty, missing_qty, price "
               "(listed unit price), line_paid (the line's share of goods paid, postage excluded), "
               "affected_amount"),
    ("refund_ids", "list<string>: 退款编号 of the refunds written for this case"),
    ("paid_at", "timestamp: 订单付款时间 (China time, no zone)"),
    ("ship_by", "timestamp: paid_at + the tmall policy's ship window (72 h)"),
    ("reshipped_at", "timestamp: time of the 补发 parcel (reship=true) for cured_reship / late_reship, "
                     "else NULL"),
    ("order_status", "string: 订单状态 in the final order export"),
    ("expected_status", "string: owed | curable | cured | courier | disputed | excluded at as_of"),
    ("expected_compensation_yuan", "decimal(18,2): penalty under the tmall preset: round_half_up(rate x "
                                   "affected_amount, 0.01), then the floor, then the cap (per order); 0 "
                                   "unless expected_status is owed"),
    ("expected_points", "int64: expected_compensation_yuan x points_per_yuan (exact)"),
    ("as_of", "timestamp: the run clock these expectations assume (period end + 30 days, 00:00)"),
    ("export_time", "timestamp: when the (last) exports were taken (period end + 7 days 09:30)"),
]

CASE_DOCS: dict[str, str] = {
    "short_reason": "k of n units missing on one line; refund 少件/漏发 (or 少件.漏发, 少货) for k x unit paid, "
                    "仅退款, 退款成功; the shipments file records the full quantity",
    "short_multi_line": "k_i of n_i units missing on 2-3 lines; one 少件/漏发 refund per line, each 退款成功",
    "wrong_item": "wrong goods on one line; refund 卖家发错货 / 商家发错货 (80 % 退货退款 with a return) for the "
                  "units sent wrong, 退款成功",
    "empty_parcel": "empty parcel: every line refunded with reason 空包裹, goods received; the parcel's weight in "
                    "the shipments file is 0.04-0.16 kg; the order is closed",
    "lost_in_transit": "never delivered: every line refunded with 未收到货 / 快递一直未送到 / 快递/物流一直未送到 / "
                       "快递/物流无跟踪记录, goods status 买家未收到货 (未收到货); 责任方 快递 on some; courier's fault",
    "unshipped": "paid and never shipped: 买家已付款，等待卖家发货 at the export, no ship time, no shipments rows",
    "out_of_stock": "paid, never shipped, closed by a full refund with reason 缺货 / 卖家缺货 (订单关闭原因 卖家缺货)",
    "cured_reship": "first parcel short by k units on one line, a reship=true parcel with the k units before "
                    "ship_by; sometimes a seller memo '补发..'; nothing owed",
    "late_reship": "as cured_reship but the reship parcel comes 2-60 h after ship_by: owed",
    "refused_cs_for_shop": "a 少件/漏发 refund for k units the shop refused; 客服介入状态 支持卖家, final status "
                           "卖家拒绝退款 or 退款关闭: the claim is rejected (excluded)",
    "serial_claimer": "a buyer (one of a few) claiming 少件/漏发 on many orders (>= 5 each when there are enough "
                      "claims); refunds refused, closed or still pending; shipments full: disputed",
    "ship_only_no_complaint": "the shipments file shows k units fewer than ordered on one line, no reship, no "
                              "refund, no text: the shop's own record, owed",
    "text_only": "only free text: a seller memo ('少发2个 ...', '补发一个' with no reship parcel) or a closed refund "
                 "with reason 其他 / 协商一致退款 asking for the whole order and 买家退款说明 '少发了两个'. missing_qty is "
                 "the count in the text; affected_amount is what really went missing, but only a memo naming the "
                 "SKU (or a single-line order) lets the data tell which line",
    "amount_only": "a completed (交易成功) order with a 仅退款 refund for an ordinary reason ({reasons}; never one "
                   "of the policy's [detection] explained_reasons) of exactly round_half_up(k x line_paid / n) on a "
                   "line of n > k units, no text",
}


def truth_markdown(w: World) -> str:
    p = w.penalty
    lines = [
        "# truth.parquet: what was injected and what the pipeline should find",
        "",
        "Written by `shortship generate` (pipeline/generate.py). One row per order with an injected case;",
        "orders without a case are not listed (their expected flag is none). Ordinary refunds (七天无理由退换货,",
        "质量问题, 大小/尺寸与商品描述不符, buyer cancellations before shipping, refused or withdrawn claims with",
        "ordinary reasons) are noise, not cases. Partial refunds of k units for an ordinary reason always come",
        "with a return (退货退款, 货物状态 买家已退货); ordinary 仅退款 partial refunds never equal k x unit paid",
        "or a whole line of several (to the cent, +-1), so the amount signal only fires on `amount_only` cases.",
        "",
        f"- period: {_dt(w.start_s):%Y-%m-%d} .. {_dt(w.end_s):%Y-%m-%d} (orders created in [start, end))",
        f"- export_time: {_dt(w.export_s):%Y-%m-%d %H:%M} (end + 7 days 09:30): every file shows the state at that",
        "  time; with split_daily, daily files at start + j days 09:30 (j = 1 .. days + 7) each hold what",
        "  changed in the 7 days before (orders, their lines, refunds: anything with an event in the window;",
        "  shipments: parcels shipped in the window), in the state of that day: the newest copy is the final state.",
        f"- as_of: {_dt(w.as_of_s):%Y-%m-%d %H:%M} (end + 30 days). Every ship-by deadline has passed, so no case",
        "  is `curable`; an un-cured shortage is `owed`. To test `curable`, run with `--as-of` earlier than a",
        "  `ship_only_no_complaint` case's ship_by (its shipments are already in the files) and expect `curable`.",
        f"- policy: {p.policy_id} (rate {p.rate}, floor {p.floor}, cap {p.cap} per order, {p.points_per_yuan} points"
        f"/yuan, ship window {p.window_hours} h), read from pipeline.policy.load_policy('tmall').",
        "- money: line_paid is the order's goods paid (paid before refunds minus postage) split over its lines in",
        "  proportion to price x quantity, the rounding cents going to the largest lines (ties: the earlier",
        "  line), as SPEC 2 describes. The current item export's 买家实付金额 is that share (plus the postage on a",
        "  single-line order); the legacy order export's 买家实际支付金额 is net of refunds (= goods + postage -",
        "  退款金额) and 总金额 = 买家实际支付金额 + 退款金额.",
        "- shipments: one row per SKU per parcel; weight_kg is the weight of the whole parcel, repeated on each",
        "  of its rows; a parcel's tracking_no is shared by its rows.",
        "- excel_dates: every time in the Taobao exports loses its seconds; the generator then draws whole",
        "  minutes everywhere (also the shipments file and this truth) so they agree.",
        "- sci_ids: the rows listed in the generate summary (never a case order) carry an id like 2.14073E+16",
        "  and must be rejected by the loader.",
        "",
        "## Columns",
        "",
        "| column | meaning |",
        "|---|---|",
    ]
    lines += [f"| {c} | {d} |" for c, d in TRUTH_COLUMNS]
    lines += ["", "## Cases", "", "| case | kind | responsibility | evidence | expected_status | default rate | data |",
              "|---|---|---|---|---|---|---|"]
    for name, (kind, resp, ev, status, rate) in CASES.items():
        doc = CASE_DOCS[name].format(reasons=", ".join(w.amount_only_reasons))
        lines.append(f"| {name} | {kind} | {resp} | {ev} | {status} | {rate} | {doc} |")
    lines.append("")
    return "\n".join(lines)


_DETAIL_TYPE = pa.struct([
    ("sku", pa.string()), ("ordered_qty", pa.int64()), ("missing_qty", pa.int64()),
    ("price", pa.decimal128(18, 2)), ("line_paid", pa.decimal128(18, 2)), ("affected_amount", pa.decimal128(18, 2)),
])
TRUTH_SCHEMA = pa.schema([
    ("order_id", pa.string()), ("shop", pa.string()), ("buyer", pa.string()), ("case", pa.string()),
    ("kind", pa.string()), ("responsibility", pa.string()), ("evidence", pa.string()), ("missing_qty", pa.int64()),
    ("affected_amount", pa.decimal128(18, 2)), ("refunded_amount", pa.decimal128(18, 2)), ("ordered_qty", pa.int64()),
    ("skus", pa.list_(pa.string())), ("detail", pa.list_(_DETAIL_TYPE)), ("refund_ids", pa.list_(pa.string())),
    ("paid_at", pa.timestamp("s")), ("ship_by", pa.timestamp("s")), ("reshipped_at", pa.timestamp("s")),
    ("order_status", pa.string()), ("expected_status", pa.string()),
    ("expected_compensation_yuan", pa.decimal128(18, 2)), ("expected_points", pa.int64()),
    ("as_of", pa.timestamp("s")), ("export_time", pa.timestamp("s")),
])


def truth_table(w: World, ch: Chunk) -> pa.Table:
    p = w.penalty
    r = ch.r
    T = w.export_s
    rows = {name: [] for name in TRUTH_SCHEMA.names}
    by_order: dict[int, list[int]] = {}
    for x, o in enumerate(r["order"].tolist()):
        by_order.setdefault(o, []).append(x)
    zero = Decimal("0.00")
    for t in ch.truth:
        i = t["i"]
        detail = t["detail"]
        affected = sum((a for _, _, _, a in detail), 0)
        affected_d = _dec(affected)
        rids = [x for x in by_order.get(i, [])]
        refunded = sum(int(r["amount"][x]) for x in rids if r["final"][x] == 1 and r["finished"][x] <= T)
        if t["status"] == "owed":
            comp = p.compensation(affected_d)
        else:
            comp = zero
        b = int(_mix(np.array([ch.buyer[i]]), w.id_mul[5], w.id_add[5], 40)[0])
        nick = f"tb{10_000_000 + b % 89_999_999}" if b % 10 < 7 else f"{NICK_WORDS[b % len(NICK_WORDS)]}{b // 7 % 1000}"
        st = ST_PAID
        if ch.ship1[i] <= T:
            st = ST_SHIPPED
        if ch.confirmed[i] <= T:
            st = ST_DONE
        if ch.closed[i] <= T:
            st = ST_CLOSED
        rows["order_id"].append(str(int(ch.order_id[i])))
        rows["shop"].append(w.shop_names[int(ch.shop[i])])
        rows["buyer"].append(nick)
        rows["case"].append(t["case"])
        rows["kind"].append(t["kind"])
        rows["responsibility"].append(t["resp"])
        rows["evidence"].append(t["evidence"])
        rows["missing_qty"].append(sum(k for _, _, k, _ in detail))
        rows["affected_amount"].append(affected_d)
        rows["refunded_amount"].append(_dec(refunded))
        rows["ordered_qty"].append(sum(q for _, q, _, _ in detail))
        rows["skus"].append([w.prod_sku_list[int(ch.l_prod[li])] for li, _, _, _ in detail])
        rows["detail"].append([
            {"sku": w.prod_sku_list[int(ch.l_prod[li])], "ordered_qty": q, "missing_qty": k,
             "price": _dec(int(ch.l_price[li])), "line_paid": _dec(int(ch.l_paid[li])), "affected_amount": _dec(a)}
            for li, q, k, a in detail])
        rows["refund_ids"].append([str(int(r["id"][x])) for x in rids])
        rows["paid_at"].append(_dt(ch.paid[i]))
        rows["ship_by"].append(_dt(t["ship_by"]))
        rows["reshipped_at"].append(_dt(t["reshipped_at"]) if t["reshipped_at"] is not None else None)
        rows["order_status"].append(ORDER_STATUS[st])
        rows["expected_status"].append(t["status"])
        rows["expected_compensation_yuan"].append(comp)
        rows["expected_points"].append(int(comp * p.points_per_yuan))
        rows["as_of"].append(_dt(w.as_of_s))
        rows["export_time"].append(_dt(w.export_s))
    return pa.table(rows, schema=TRUTH_SCHEMA)


# --------------------------------------------------------------------------------------------
# the driver


@dataclass
class GenerateSummary:
    out_dir: Path
    fmt: str
    encoding: str
    seed: int
    orders: int
    lines: int = 0
    refunds: int = 0
    shipment_rows: int = 0
    files: list = field(default_factory=list)  # dicts: name, kind, rows, bytes
    cases: dict = field(default_factory=dict)
    truth_rows: int = 0
    sci_rejects: dict = field(default_factory=dict)  # file name -> [line numbers]
    export_time: datetime | None = None
    as_of: datetime | None = None
    seconds: float = 0.0

    @property
    def rows_written(self) -> int:
        return sum(f["rows"] for f in self.files)

    @property
    def bytes_written(self) -> int:
        return sum(f["bytes"] for f in self.files)

    @property
    def sci_rejected_rows(self) -> int:
        return sum(len(v) for v in self.sci_rejects.values())

    def lines_text(self) -> list[str]:
        s = max(self.seconds, 1e-9)
        out = [f"{self.out_dir}: {self.orders} orders, {self.lines} lines, {self.refunds} refunds, "
               f"{self.shipment_rows} shipment rows ({self.fmt}, {self.encoding})"]
        if len(self.files) <= 12:
            out += [f"  {f['name']}: {f['kind']}, {f['rows']} rows, {f['bytes']} bytes" for f in self.files]
        else:
            out.append(f"  {len(self.files)} files")
        out.append("  cases: " + ", ".join(f"{k} {v}" for k, v in self.cases.items()) + f" ({self.truth_rows} in truth.parquet)")
        if self.sci_rejects:
            out.append(f"  sci_ids: {self.sci_rejected_rows} rows carry ids like 2.14073E+16 and must be rejected: "
                       + ", ".join(f"{k} lines {v}" for k, v in self.sci_rejects.items()))
        out.append(f"  export time {self.export_time:%Y-%m-%d %H:%M}, truth as of {self.as_of:%Y-%m-%d %H:%M}")
        out.append(f"  {self.seconds:.1f} s: {self.orders / s:,.0f} orders/s, {self.rows_written / s:,.0f} rows/s, "
                   f"{self.bytes_written / s / 1e6:,.1f} MB/s")
        return out


_WORLD: World | None = None


def _init_worker(world: World) -> None:
    global _WORLD
    _WORLD = world


def _work(task) -> dict:
    w = _WORLD
    c, g0, n, counts, serial_off, n_sci = task
    ch = make_chunk(w, c, g0, n, counts, serial_off, n_sci)
    files = {}
    if "split_daily" in w.quirks:
        lo_created = int(ch.created.min())
        events = [ch.created, ch.paid, ch.ship1, ch.confirmed, ch.closed, ch.s_time]
        events += [ch.r[k] for k in ("applied", "finished", "agreed", "returned")]
        hi_event = max(int(a[a < NEVER].max()) for a in events if (a < NEVER).any())
        span = int(SPLIT_WINDOW.total_seconds())
        for j, T in enumerate(w.daily_times):
            if T < lo_created or T - span >= hi_event:
                continue
            for kind, (cols, nrows, sci_rows) in render(w, ch, T, T - int(SPLIT_WINDOW.total_seconds())).items():
                files[(kind, j)] = (_csv_bytes(w, kind, cols), nrows, sci_rows.tolist())
    else:
        for kind, (cols, nrows, sci_rows) in render(w, ch, w.export_s).items():
            files[(kind, 0)] = (_csv_bytes(w, kind, cols), nrows, sci_rows.tolist())
    return {
        "c": c, "files": files, "truth": truth_table(w, ch), "max_created": int(ch.created.max()),
        "lines": len(ch.l_order), "refunds": int((ch.r["applied"] <= w.export_s).sum()),
        "shipments": int((ch.s_time <= w.export_s).sum()),
        "cases": Counter(CASE_NAMES[x - 1] for x in ch.case[ch.case > 0].tolist()),
    }


def _parse_rates(rates) -> dict[str, float]:
    out = {name: spec[4] for name, spec in CASES.items()}
    if not rates:
        return out
    for name, v in dict(rates).items():
        if name != "all" and name not in out:
            raise ShortshipError(f"unknown case {name!r} in rates; cases: {', '.join(CASE_NAMES)}")
        try:
            v = float(v)
        except (TypeError, ValueError):
            raise ShortshipError(f"rate for {name!r} is not a number: {v!r}") from None
        if not 0 <= v <= 0.2:
            raise ShortshipError(f"rate for {name!r} must be between 0 and 0.2, not {v}")
        if name == "all":
            out = {k: v for k in out}
        elif name in out:
            out[name] = v
        else:
            raise ShortshipError(f"unknown case {name!r} in rates; cases: {', '.join(CASE_NAMES)}")
    if sum(out.values()) > 0.6:
        raise ShortshipError(f"case rates add up to {sum(out.values()):.2f}; at most 0.6 of the orders can carry a case")
    return out


def parse_rates_option(text: str | None) -> dict[str, float]:
    """`short_reason=0.01,all=0.005` -> dict (later items win)."""
    out: dict[str, float] = {}
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        if "=" not in item:
            raise ShortshipError(f"--rates item {item!r} is not name=value")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def _plan(w: World, rates: dict, n_chunks: int, chunk: int) -> list[tuple]:
    """Per chunk: (c, g0, n, case counts, offset of its serial claims, (sci orders, sci item orders))."""
    rng = np.random.default_rng([w.seed, 3])
    tasks = []
    serial_total = 0
    sci_total = 0
    for c in range(n_chunks):
        g0 = c * chunk
        n = min(chunk, w.n_orders - g0)
        counts = {}
        for name in CASE_NAMES:
            x = rates[name] * n
            counts[name] = int(x) + int(rng.random() < x - int(x))
        n_sci = (0, 0)
        if "sci_ids" in w.quirks:
            a, b = SCI_RATE * n, SCI_RATE * n
            n_sci = (int(a) + int(rng.random() < a - int(a)), int(b) + int(rng.random() < b - int(b)))
            sci_total += sum(n_sci)
        tasks.append([c, g0, n, counts, serial_total, n_sci])
        serial_total += counts["serial_claimer"]
    if "sci_ids" in w.quirks and sci_total == 0 and tasks:
        tasks[0][5] = (1, 1 if w.n_orders > 1 else 0)
    n_claimers = max(1, serial_total // 5)
    crng = np.random.default_rng([w.seed, 5])
    w.claimers = np.sort(crng.choice(np.arange(w.n_buyers // 10, w.n_buyers), size=min(n_claimers, w.n_buyers - w.n_buyers // 10),
                                     replace=False)).astype(np.int64)
    return [tuple(t) for t in tasks]


def generate(
    out_dir: str | Path,
    orders: int,
    seed: int,
    fmt: str = "legacy",
    encoding: str | None = None,
    shops: int = 3,
    start: date | None = None,
    days: int = 30,
    rates: dict | None = None,
    quirks: Iterable[str] = (),
    progress: Callable[[str], None] | None = None,
    workers: int | None = None,
    overwrite: bool = False,
    chunk_size: int = CHUNK_ORDERS,
) -> GenerateSummary:
    """Write synthetic exports and truth.parquet to `out_dir`; see the module doc."""
    t0 = time.perf_counter()
    if fmt not in FORMATS:
        raise ShortshipError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    encoding = encoding or ("gbk" if fmt == "legacy" else "utf-8")
    encoding = {"utf8": "utf-8", "gb18030": "gbk"}.get(encoding.lower(), encoding.lower())
    if encoding not in ENCODINGS:
        raise ShortshipError(f"unknown encoding {encoding!r}; expected gbk or utf-8")
    quirks = tuple(q.strip() for q in quirks if q and q.strip())
    bad = [q for q in quirks if q not in QUIRKS]
    if bad:
        raise ShortshipError(f"unknown quirk {bad[0]!r}; quirks: {', '.join(QUIRKS)}")
    if "bom" in quirks and encoding != "utf-8":
        raise ShortshipError("quirk 'bom' needs --encoding utf-8 (a BOM is a UTF-8 thing)")
    if not isinstance(orders, int) or orders < 1:
        raise ShortshipError(f"--orders must be a whole number >= 1, not {orders!r}")
    if orders > 50_000_000:
        raise ShortshipError("--orders above 50,000,000 is not supported")
    if not 1 <= shops <= 200:
        raise ShortshipError(f"--shops must be between 1 and 200, not {shops}")
    if not 1 <= days <= 3660:
        raise ShortshipError(f"--days must be between 1 and 3660, not {days}")
    start = start or (date(2017, 5, 1) if fmt == "legacy" else date(2025, 5, 1))
    rates = _parse_rates(rates)

    from pipeline.policy import load_policy

    pol = load_policy("tmall")
    rule = pol.rule_for("short")
    penalty = Penalty(pol.id, rule.rate, rule.floor_yuan, rule.cap_yuan, rule.points_per_yuan, pol.window_hours)
    for kind in ("short", "wrong", "empty", "unshipped"):
        if pol.rule_for(kind) != rule:
            raise ShortshipError(f"policy {pol.id}: a separate {kind} rule is not supported by the generator")

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ShortshipError(f"{out}: exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    ours = sorted(p for p in out.iterdir() if p.is_file() and _OUR_FILES.match(p.name))
    if ours:
        if not overwrite:
            raise ShortshipError(
                f"{out}: already holds generated files (e.g. {ours[0].name}); use --overwrite to replace them")
        for p in ours:
            p.unlink()

    w = _build_world(orders=orders, seed=seed, fmt=fmt, encoding=encoding, shops=shops, start=start, days=days,
                     rates=rates, quirks=quirks, chunk_size=chunk_size, penalty=penalty)
    tasks = _plan(w, rates, w.n_chunks, chunk_size)
    summary = GenerateSummary(out_dir=out, fmt=fmt, encoding=encoding, seed=seed, orders=orders,
                              export_time=_dt(w.export_s), as_of=_dt(w.as_of_s))
    split = "split_daily" in w.quirks
    times = w.daily_times
    handles: dict[tuple, dict] = {}
    case_counts: Counter = Counter()
    truth_path = out / "truth.parquet.part"
    meta = {
        b"shortship.generator": b"pipeline.generate",
        b"shortship.seed": str(seed).encode(),
        b"shortship.format": fmt.encode(),
        b"shortship.as_of": _dt(w.as_of_s).isoformat(sep=" ").encode(),
        b"shortship.export_time": _dt(w.export_s).isoformat(sep=" ").encode(),
        b"shortship.policy": penalty.policy_id.encode(),
        b"shortship.period": f"{_dt(w.start_s):%Y-%m-%d}/{_dt(w.end_s):%Y-%m-%d}".encode(),
    }
    writer = pq.ParquetWriter(truth_path, TRUTH_SCHEMA.with_metadata(meta))

    def file_name(kind, j):
        return f"{FILE_PREFIX[kind]}{_stamp(times[j])}.csv"

    def handle(kind, j):
        key = (kind, j)
        h = handles.get(key)
        if h is None:
            name = file_name(kind, j)
            fobj = open(out / (name + ".part"), "wb")
            hb = header_bytes(w, kind)
            fobj.write(hb)
            h = handles[key] = {"f": fobj, "name": name, "kind": kind, "rows": 0, "bytes": len(hb)}
        return h

    def finish(key):
        h = handles.pop(key)
        h["f"].close()
        os.replace(out / (h["name"] + ".part"), out / h["name"])
        summary.files.append({"name": h["name"], "kind": h["kind"], "rows": h["rows"], "bytes": h["bytes"]})

    def consume(res):
        for (kind, j), (data, nrows, sci_rows) in res["files"].items():
            h = handle(kind, j)
            if sci_rows:
                summary.sci_rejects.setdefault(h["name"], []).extend(h["rows"] + 2 + x for x in sci_rows)
            h["f"].write(data)
            h["rows"] += nrows
            h["bytes"] += len(data)
        if res["truth"].num_rows:
            writer.write_table(res["truth"])
        summary.truth_rows += res["truth"].num_rows
        summary.lines += res["lines"]
        summary.refunds += res["refunds"]
        summary.shipment_rows += res["shipments"]
        case_counts.update(res["cases"])
        if split:  # daily files that can receive nothing more
            for key in [k for k in handles if times[k[1]] < res["max_created"]]:
                finish(key)
        if progress:
            progress(f"generate: chunk {res['c'] + 1}/{len(tasks)} ({min((res['c'] + 1) * chunk_size, orders):,} orders)")

    workers = workers if workers is not None else min(2, os.cpu_count() or 1)
    try:
        if workers <= 1 or len(tasks) == 1:
            _init_worker(w)
            for t in tasks:
                consume(_work(t))
        else:
            import multiprocessing as mp

            ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
            with cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                                        initargs=(w,)) as ex:
                pending = []
                it = iter(tasks)
                for t in it:
                    pending.append(ex.submit(_work, t))
                    if len(pending) >= workers * 2:
                        consume(pending.pop(0).result())
                for fut in pending:
                    consume(fut.result())
        # an export with no rows is not written (the loader refuses header-only files)
        for key in list(handles):
            finish(key)
    except BaseException:
        writer.close()
        for h in handles.values():
            h["f"].close()
        raise
    writer.close()
    os.replace(truth_path, out / "truth.parquet")
    (out / "truth_columns.md").write_text(truth_markdown(w), encoding="utf-8")
    kind_order = {"orders": 0, "items": 1, "refunds": 2, "shipments": 3}
    summary.files.sort(key=lambda f: (f["name"][-16:], kind_order[f["kind"]]))
    summary.cases = {name: case_counts.get(name, 0) for name in CASE_NAMES}
    summary.seconds = time.perf_counter() - t0
    return summary
