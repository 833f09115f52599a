import pytest

from pipeline.io.headers import ALIASES, KINDS, SIGNATURES, detect_kind, lacks, map_header, normalize_header

LEGACY_ORDERS = ("订单编号,买家会员名,买家支付宝账号,买家应付货款,买家应付邮费,买家支付积分,总金额,返点积分,买家实际支付金额,"
                 "买家实际支付积分,订单状态,买家留言,收货人姓名,收货地址 ,运送方式,联系电话 ,联系手机,订单创建时间,订单付款时间 ,"
                 "宝贝标题 ,宝贝种类 ,物流单号 ,物流公司,订单备注,宝贝总数量,店铺Id,店铺名称,订单关闭原因,卖家服务费,买家服务费,发票抬头,"
                 "是否手机订单,分阶段订单信息,特权订金订单id,是否上传合同照片,是否上传小票,是否代付,定金排名,修改后的sku,修改后的收货地址,"
                 "异常信息,天猫卡券抵扣,集分宝抵扣,是否是O2O交易,退款金额,预约门店").split(",")
QIANNIU_ORDERS = ("订单编号, 支付单号, 买家应付货款, 买家应付邮费, 总金额, 买家实付金额, 订单状态, 收货地址, 运送方式, 订单创建时间, "
                  "商品标题, 宝贝种类, 物流单号, 物流公司, 备注标签, 商家备注, 宝贝总数量, 开票信息, 手机订单, 商品属性SKU, 发货时间").split(", ")
LEGACY_ITEMS = "订单编号,标题,价格,购买数量,外部系统编号,商品属性,套餐信息,备注,订单状态,商家编码".split(",")
CURRENT_ITEMS = ("子订单编号, 主订单编号, 商品标题, 商品价格, 购买数量, 外部系统编号, 商品属性, 套餐信息, 联系方式备注, 订单状态, 商家编码, "
                 "支付单号, 买家应付货款, 买家实付金额, 退款状态, 退款金额, 订单创建时间, 订单付款时间, 淘鲜达渠道, 商品ID, 分阶段信息, "
                 "备注标签, 商家备注, 主订单买家留言, 是否主动赔付, 主动赔付金额, 主动赔付出账时间").split(", ")
REFUNDS_2017 = ("订单编号, 退款编号, 支付宝交易号, 订单付款时间, 商家编码, 退款完结时间, 买家会员名称, 买家实际支付金额, 宝贝标题, 买家退款金额, "
                "手工退款/系统退款, 是否需要退货, 退款的申请时间, 超时时间, 退款状态, 货物状态, 退货物流信息, 发货物流信息, 客服介入状态, "
                "卖家真实姓名, 卖家退货地址, 卖家邮编, 卖家电话, 卖家手机, 退货物流单号, 退货物流公司, 买家退款原因, 买家退款说明, "
                "买家退货时间, 责任方, 售中或售后, 商家备注, 完结时间, 部分退款/全部退款, 审核操作人, 举证超时, 是否零秒响应, 退款操作人").split(", ")
REFUNDS_2026 = ["订单编号", "退款编号", "支付单号", "退给买家金额", "退给平台金额", "售后类型", "部分退款/全额退款", "商品 id", "买家退款原因"]
TMALL_2020 = ["订单编号", "总金额", "买家实际支付金额", "收货地址 ", "订单创建时间", "订单付款时间 ", "退款金额"]
SHIPMENTS = "order_id,sku,quantity,shipped_at,tracking_no,weight_kg,reship".split(",")
# the review.csv a run writes, filled: its other columns (买家实付金额 too) do not make it orders
REVIEW_CSV = ["订单编号", "店铺", "买家", "类型", "证据", "规则", "缺件数量", "涉及金额", "商品明细", "买家实付金额", "判定", "备注",
              "判定人", "判定时间"]


@pytest.mark.parametrize(
    "header,kind",
    [
        (LEGACY_ORDERS, "orders"),
        (QIANNIU_ORDERS, "orders"),
        (TMALL_2020, "orders"),
        (LEGACY_ITEMS, "items"),
        (CURRENT_ITEMS, "items"),
        (REFUNDS_2017, "refunds"),
        (REFUNDS_2017 + ["退款原因标签", "业务类型", "是否帮他退款", "帮他退款操作账号"], "refunds"),
        (REFUNDS_2026, "refunds"),
        (SHIPMENTS, "shipments"),
        (["order_id", "shipped_at"], "shipments"),
        (["订单编号", "买家实付金额"], "orders"),  # no signature name: the one kind it fits
        (REVIEW_CSV, "decisions"),
        (["order_id", "shop", "buyer", "decision"], "decisions"),
    ],
)
def test_every_header_family_is_recognised(header, kind):
    assert detect_kind(header) == kind


def test_unrecognised_headers():
    assert detect_kind(["a", "b"]) is None
    assert detect_kind(["订单编号", "订单状态"]) is None  # no signature name, no kind complete


def test_a_file_is_the_kind_whose_signature_it_has_even_when_it_lacks_a_required_column():
    """A refund export without 退款编号 has 订单编号 and 买家实际支付金额 (all an orders export
    needs) but refund columns only a refund export has: it is a refund export that lacks
    退款编号, never an orders export."""
    header = [h for h in REFUNDS_2017 if h != "退款编号"]
    assert detect_kind(header) == "refunds"
    assert lacks(map_header("refunds", header)) == "refunds export lacks 退款编号 (refund_id), a required column"
    assert lacks(map_header("orders", header)) is None  # it would have passed as orders
    items = [h for h in LEGACY_ITEMS if h != "购买数量"]
    assert detect_kind(items) == "items" and "购买数量" in lacks(map_header("items", items))


def test_signature_names_belong_to_one_kind_only():
    for kind in KINDS:
        assert SIGNATURES[kind], kind
        for other in KINDS:
            if other != kind:
                assert not SIGNATURES[kind] & {normalize_header(a) for al in ALIASES[other].values() for a in al}


def test_a_known_name_twice_is_a_problem_unknown_names_may_repeat():
    assert "订单编号 twice" in map_header("orders", ["订单编号", "买家实付金额", "订单编号"]).duplicate_problem()
    assert map_header("orders", ["订单编号", "买家实付金额", "备注标签", "备注标签"]).duplicate_problem() is None


def test_normalisation_of_spaces_brackets_and_slashes():
    assert normalize_header(" 订单付款时间\u3000") == "订单付款时间"
    assert normalize_header("部分退款 / 全部退款") == "部分退款/全部退款"
    assert normalize_header("金额（元）") == normalize_header("金额(元)")
    assert normalize_header("\ufeff订单编号") == "订单编号"
    assert normalize_header("Order_ID ") == "order_id"


def test_first_alias_wins_and_others_are_extras():
    hm = map_header("orders", ["主订单编号", "订单编号", "买家实付金额", "买家实际支付金额", "奇怪的列"])
    assert hm.columns == ["main_order_id", "order_id", None, "paid_amount", None]


def test_renamed_columns_map_to_one_name():
    for old, new in [("买家实际支付金额", "买家实付金额"), ("宝贝标题", "商品标题"), ("订单备注", "商家备注"), ("支付宝交易号", "支付单号"),
                     ("打款商家金额", "确认收货打款金额")]:
        a = map_header("orders", ["订单编号", old]).columns[1]
        b = map_header("orders", ["订单编号", new]).columns[1]
        assert a is not None and a == b


def test_missing_required_names_the_column():
    hm = map_header("refunds", ["订单编号", "退款编号"])
    assert hm.missing_required() == ["买家退款金额 (refund_amount) or 退给买家金额 (refund_to_buyer)"]
    assert lacks(map_header("decisions", ["订单编号", "判定人"])) == "decisions export lacks 判定 (decision), a required column"


def test_alias_table_has_no_alias_twice_within_a_kind():
    for kind, table in ALIASES.items():
        seen = [normalize_header(a) for aliases in table.values() for a in aliases]
        assert len(seen) == len(set(seen)), kind


def test_a_column_under_two_names_is_read_from_both():
    hm = map_header("orders", ["订单编号", "商家备忘", "买家实付金额", "订单备注", "邮费", "买家应付邮费"])
    # the first alias in the table's order names the column; the other is read with it
    assert hm.columns[3] == "seller_memo" and hm.columns[1] is None
    assert hm.positions("seller_memo") == [3, 1] and hm.positions("postage") == [5, 4]
    assert "concat_ws" in hm.value_sql("seller_memo", lambda p: f"c{p}")
    assert hm.value_sql("postage", lambda p: f"c{p}").startswith("coalesce(")
    assert hm.value_sql("order_id", lambda p: f"c{p}") == "c0"
    assert hm.duplicate_problem() is None
