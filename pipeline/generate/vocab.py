"""The words of the synthetic world, as the exports write them (all of it encodable in GBK):
order and refund statuses, shops and their categories, titles, carriers, places, names, and the
texts buyers and sellers write (ordinary ones, and the ones the fault cases use)."""
from __future__ import annotations

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
MEMO_UNSHIPPED = ["'缺货，等补货", "'仓库漏单", "'待发"]
# the sorts of issue 14: what a phrase with a trigger word says besides "units of this order missing"
MEMO_MAKEUP = ["'补发{k}个{item}", "'{item}补发{k}个", "'上次少发的{item}，补发{k}个"]  # on the buyer's next order
MSG_MAKEUP = ["记得补{k}个{item}", "麻烦补发{k}个{item}，谢谢"]  # the buyer asks at checkout of the next order
# issue 22: a make-up memo that also says how to pack its parcel (a courier, a colour, urgency)
MEMO_PACKING = ["'补发{k}个{item}  发申通", "'{item}补发{k}个  都发粉色的吧", "'补发{k}个{item}  加急 今天发"]
# one 补发 naming the short item of the earlier order and an item of the later one
MEMO_SEVERAL = ["'补发{k}个{item}  一个{other}", "'补发{k}个{item} {other}一个"]
# a shortage settled by an agreed swap ({m} of another item instead)
MEMO_SWAP = ["'少发一个{item}换成{m}个{other}", "'少发{k}个{item}，换成{other}{m}个", "'{item}少了一个 换了{m}个{other}"]
GIFT_NOTES = [("memo", "'补发赠品"), ("memo", "'赠品漏发了，补发一个"), ("message", "赠品没收到，记得补发哦")]
DAMAGE_NOTES = [("memo", "'{item}坏了一个，补发一个"), ("message", "上次的{item}有一个是坏的，请补发"),
                ("memo", "'客户说{item}不亮，补寄一个")]
CHECKOUT_NOTES = ["上次少发了一个，这次仔细点", "数量点清楚，少了要补的", "上回漏发过，这次检查好"]
DESC_DAMAGE = ["收到有一个是坏的", "{item}坏了一个", "有一个{item}破了"]
DESC_CANCEL = ["", "拍错了", "不想要了"]  # buyer cancellations before shipping

# goods status (货物状态) and after-sale type per format
GOODS = {
    "legacy": {"not_shipped": "买家未收到货", "not_received": "买家未收到货", "received": "买家已收到货", "returned": "买家已退货"},
    "current": {"not_shipped": "未发货", "not_received": "未收到货", "received": "已收到货", "returned": "已收到货"},
}
REFUND_PENDING = ["买家已经申请退款，等待卖家同意", "卖家已经同意退款，等待买家退货", "买家已经退货，等待卖家确认收货"]
REFUND_FINAL = {"success": "退款成功", "refused": "卖家拒绝退款", "closed": "退款关闭"}
CS_NONE, CS_FOR_SELLER = "不需要客服介入", "支持卖家"
