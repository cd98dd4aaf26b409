"""Writes redaction_comments.jsonl: the labelled comments the redaction is measured on.

Run from the repository root: ``python tests/app/data/make_redaction_comments.py``.
The output is committed; this script documents how it was made and is
deterministic (fixed seed).  Markup in the hand-written comments:
``{N:张伟}`` a full name, ``{S:李}`` a surname standing for a person (李主任,
小王), ``{P:…}`` a phone number, ``{I:…}`` an ID number, ``{C:…}`` a bank card.
Everything else, including place names, organisations, dates, amounts and the
12345 hotline, must stay.  The labelling rule: every person named in a comment,
citizen or staff, official or not; surnames before titles count as names.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

KINDS = {"N": "name", "S": "surname", "P": "phone", "I": "id_number", "C": "card"}

# Hand-written comments (about 150): the realistic mix, hard cases included.
HAND = """
工作人员{N:张伟}态度很差，问两句就不耐烦，让我等了一个多小时。
我叫{N:王小明}，住在东湖区，办居住证跑了三趟还没办好。
{S:李}主任很负责，当天就帮我协调好了，{S:王}科长也很热情。
窗口的{N:褚晓燕}业务不熟，材料看了半天也说不清缺什么。
今天在王府井附近的服务大厅办事，环境干净，很高兴。
派出所的{N:覃海涛}警官帮我补办了户口本，非常感谢！
12345热线的接线员{N:陈静}记录很仔细，第二天就有人回电。
不动产登记中心的{N:冉莹莹}很耐心，一步步教我在手机上预约。
医保报销窗口的{S:刘}姐说话太冲，希望改进服务态度。
感谢社保局{N:柴文杰}同志，帮我查清了断缴的那几个月。
我是{N:欧阳娜娜}，去年申请的公租房到现在没有消息，电话{P:13912345678}，请尽快联系。
{N:赵德胜}在窗口玩手机，排了二十多个人也不着急。
小{S:王}和老{S:李}都很热情，办事效率很高，点赞。
张家港来的外地人办证也很方便，一次就办成了。
办事大厅的{N:司马明}主任亲自下来帮忙，给他点赞。
金华路的社区服务中心空调坏了一个月没人修。
黄山路派出所晚上没有值班民警，办临时身份证很不方便。
向阳社区网格员{N:杨帆}经常上门走访，很负责。
文明城市创建搞得不错，但是道路两边停车太乱。
我的手机号是{P:138 1234 5678}，有问题可以打给我，姓名{N:孙丽}。
卫生院{S:黄}医生看病很仔细，就是排队时间太长。
窗口工作人员说材料不全，让我回去拿，来回跑了三次，交通费都花了50多元。
希望{N:刘建华}局长能来窗口看看，老百姓办事真的难。
营业执照三天就拿到了，比以前快很多。
12345热线打了五次都占线，希望增加接线员。
{S:吴}警官处理纠纷很公正，我们邻里双方都服气。
医保卡丢了补办要一个星期，太慢了，能不能当场办？
我身份证号{I:110101199003074518}，社保转移申请提交两个月了还显示审核中。
公积金提取的流程太复杂，网上说的和窗口说的不一样。
社区的{N:宇文静}书记帮我们解决了楼道照明的问题，谢谢！
请转告{N:诸葛亮亮}同志，上次说好的回访一直没来。
环卫工人每天早上五点就开始打扫，街道很干净，辛苦了。
投诉{N:马晓东}，上班时间在窗口吃早饭。
我是退休职工，养老金认证在手机上弄不好，希望社区派人指导。
{S:钱}阿姨在社区服务站值班，特别耐心，帮我们老人填表。
办理不动产登记时，{N:孔令辉}让我先交费再补材料，结果又不给办了。
2024年3月5日去办的，等了45分钟，窗口只开了2个。
税务大厅的叫号机经常出故障，A023号叫了三遍都没人。
我叫{N:龚雪梅}，电话{P:159-8765-4321}，低保复核的事希望有人回复。
交警大队的{S:郑}队长处理事故很快，给了我们很大帮助。
房管局{N:上官云}在窗口态度蛮横，请领导调查。
安全生产检查来得很突然，企业没有时间准备，建议提前通知。
车管所的自助机很好用，10分钟就换好了驾照。
户籍窗口{S:冯}警官说周末也可以预约，很方便。
医院挂号难，早上6点去排队还挂不上。
{N:谢晓峰}和{N:卢敏}两位工作人员配合很好，效率高。
婚姻登记处环境温馨，工作人员很热情，祝福的话很暖心。
请联系我：{P:一三九 八七六五 四三二一}，关于拆迁补偿的事。
电话是{P:壹叁捌壹贰叁肆伍陆柒捌}，就是想问问社保的事。
老{S:周}在村委会干了二十年，村里的事都找他。
我家在王府井大街，楼下垃圾桶满了没人清运。
{N:韦春花}大姐在便民服务站帮了我很多。
12345转办的工单三天没人处理，打过去又说不归他们管。
人社局{N:戴志强}处长接待群众很耐心，问题当场解决了。
窗口那个戴眼镜的男同志说话很冲，希望注意态度。
办居住证需要房东的身份证复印件，房东在外地根本拿不到。
请{S:潘}经理给我回个电话，手机 {P:186 0000 1234}。
我姓{S:施}，上周在政务中心丢了一个黑色钱包，有人捡到吗？
医保局的{N:闵晓红}科员帮我查到了异地报销的记录。
{N:欧阳建国}主任在群众座谈会上答应的事情到现在都没落实。
消防站的战士很辛苦，上次楼里起火十分钟就到了。
出入境办证大厅人太多，建议增加自助办理设备。
{N:苏芸}帮我办的企业开办，一个下午就全部办完了，太高效了！
反映一下，公交站的电子屏坏了很久。
孩子上学的户口迁移，{N:唐伟}警官主动帮我们联系了学校。
街道办的{N:聂磊}说这个事不归他管，让我去找区里。
区里又说要找街道，来回推诿。
窗口收费3次都没给发票，{S:牛}会计说系统坏了。
老人办理高龄补贴，{S:方}主任亲自上门，感动。
我是外地来务工的，在人才市场办就业登记很顺利。
不动产证上的名字写错了，改一个字要等15个工作日。
{N:司徒美玲}接待我的时候一直在打电话，很不尊重人。
12345热线回访的时候态度很好，问题也解决了。
请尽快处理，我的电话：{P:1 3 6 0 0 1 3 9 8 7 6}。
环境卫生整治后小区干净多了，感谢{N:邱志明}书记。
我的银行卡号{C:6222 0212 3456 7890 123}，补贴一直没到账。
身份证号：{I:11010119800101123X}，麻烦查一下我的医保缴费记录。
{S:蒋}护士长带的团队服务很好，病人都很满意。
老{S:黄}是社区里的热心人，大家有事都找他帮忙。
希望黄河路口加个红绿灯，上下学的孩子太多了。
高新区政务中心停车位太少，每次都要找半天。
{N:阮小玲}在窗口一直笑着服务，很暖心。
{N:雷鸣}同志业务精通，几分钟就把我的问题解决了。
社保窗口叫{N:关晓彤}的工作人员帮我改了三次表，都没有不耐烦。
我在江山路的供电营业厅交电费，只开了一个窗口。
万一材料丢了怎么办？窗口也没有给回执。
马上要过年了，农民工工资还没发，劳动监察请尽快处理。
建议把办事指南贴在门口，白跑一趟太浪费时间了。
{N:上官婉儿}科长说下周给答复，已经过去一个月了。
我叫{N:艾米}，在税务局办发票，系统老是卡。
{N:易烊}警官出警很快，五分钟就到了现场。
热线电话12345和110都打过，没人管噪音扰民。
{N:闫冬梅}和{N:邹凯}在窗口聊天，让群众干等。
市场监管局的{N:尹伊}接到投诉第二天就来店里核查了。
垃圾分类宣传做得很好，{S:柳}老师还给孩子们上了课。
民警{N:段晓军}调解了我们和邻居的矛盾，非常专业。
有个姓{S:胡}的工作人员说话很难听，希望调查一下。
公安局出入境的{N:凌霄}态度非常好。
村里的路灯坏了半年，找了{N:包国强}村长三次都说没钱修。
水务集团的客服{N:萧燕}帮我查了水费异常，原来是水表坏了。
社区医院的{N:卓越}医生很专业，建议给她表扬。
孩子的出生证明办了半个月，{N:屈晓玲}说是系统问题。
我是{N:梅兰}，在医保中心办理慢性病备案，很顺利。
公积金中心的{N:殷小勇}把我的贷款材料弄丢了！
{S:宁}主任说这个问题反映到区里了，请耐心等待。
窗口人员{N:符娟}一直在看手机，叫了她好几次才理我。
整体满意，就是等候区的椅子太少了。
服务很好，没什么意见。
一般吧，效率还可以再提高。
窗口开得太少，排队时间长，希望改进。
环境很好，工作人员态度也好。
网上预约系统太难用了，老年人根本不会。
希望延长中午的办公时间，上班族只能中午来。
电话打不通，{P:0571-88889999}一直占线，谁能接一下？
办事指南写得很清楚，一次就办好了，好评！
希望能把医保和社保的窗口合并，跑两个地方太麻烦。
座机 {P:0755 2345 6789}，白天都有人，欢迎回访。
有事请打{P:134.5678.9012}找我。
联系方式：{P:139/8888/6666}
我的号码是 {P:150_1234_5678}，请回复。
联系电话 {P:177 - 2345 - 6789}，{N:贾玉兰}。
手机{P:１８８１２３４５６７８}，谢谢。
电话{P:幺三八 幺二三四 五六七八}，尽快处理。
{P:+86 135 0011 2233} 是我的电话，不要打错。
联系我 {P:0086-13900001111}。
办理人{N:温小宝}，电话 {P:181 2233 4455}。
身份证 {I:320102 19850612 4413} ，办了暂住证还没有拿到。
{N:钟无艳}在医保窗口，服务热情，值得表扬。
窗口的小伙子姓{S:韩}，人很好。
{N:慕容雪}书记组织的义诊活动很受欢迎。
请{N:令狐冲}同志尽快把退款打给我。
学校门口的交通秩序很乱，交警{S:谭}警官每天都来值守，辛苦了。
乡镇卫生院的{N:邓小平}医生已经退休了吗？好久没见了。
住在金华小区的老人反映电梯经常坏。
王牌服务窗口名不副实，排了一个多小时。
医保政策宣传到位，{N:安心}专员讲得很清楚。
投诉热线打了，{N:常乐}说会转给相关部门，一直没有下文。
老{S:马}师傅修路灯很及时，为他点赞。
环保局的{N:石磊}来测了噪音，超标了，希望尽快处理。
社保卡激活在银行就能办，很方便，{N:程晨}帮了大忙。
感谢{S:林}警官，找回了我丢失的电动车。
{N:白雪}在不动产中心值班时很负责。
{N:江涛}科长说下个月政策就出来了。
{N:高洁}同志服务很贴心。
{N:方圆}负责的窗口从来不用排长队。
""".strip().splitlines()

# Written after the redaction was tuned on the comments above and never tuned
# on: the figures on this part are the honest estimate ("split": "holdout").
HOLDOUT = """
昨天去办护照，窗口的{N:郝静怡}说照片不合格，让我去外面重拍，收了我30元。
{S:阎}所长在社区警务室坐班，居民有事可以直接找，很方便。
我家老人腿脚不便，{N:杭雨欣}主动上门帮忙办了养老认证。
社保卡补办窗口排了2个小时，前面只有8个人。
{N:庄晓峰}态度傲慢，问他问题爱答不理。
联系电话：{P:1 5 9 . 0 0 1 2 . 3 4 5 6}，拆迁补偿的事请给个说法。
请转告{S:孟}主任，上周反映的漏水问题还没修。
我的手机{P:一八六 零零幺二 三四五六}，希望12345回访时打这个号。
政务中心三楼的{N:骆宏}帮我把企业年报弄好了，谢谢。
公积金提取到账很快，3个工作日就到了。
窗口的小{S:郭}很耐心，给我讲了三遍流程。
派出所的户籍民警{N:宫晓东}说必须本人到场，可我在外地上班。
{N:褚红英}在医保窗口骂人，请领导处理。
我的身份证号{I:４４０３０５１９８８０３１５２２１７}，社保缴费记录少了半年。
婚姻登记处的{N:鲍丽娟}工作认真，服务热情。
金山区的便民服务点没人值班，贴着“外出办事”的纸条。
有事请打 {P:0731 - 8456 7890}，我白天都在家。
民警{N:卞志刚}处理交通事故很专业，双方都满意。
{S:尚}老师组织社区老年大学，丰富了我们的生活。
我找了{N:翁佳琪}三次，每次都说领导不在。
市民中心环境很好，但是指示牌太少，找窗口找了半天。
出租车乱收费，打12345投诉后一周有了处理结果。
城管{N:滕国庆}对摊贩很粗暴，希望文明执法。
{N:东方晓雨}科长亲自审核，当天就批下来了。
我叫{N:米雪}，电话{P:13５-66⁠77-88⁠99}，请医保中心回电。
感谢{N:巫建平}师傅帮我们修好了楼道的灯。
请把{N:苗壮}调离窗口岗位，群众意见很大。
不动产登记预约要等两周，太久了。
环卫所的{S:冷}师傅每天准时清运垃圾，点赞。
卫健委的{N:应佳怡}接了我的电话，态度很好。
我是{N:卫东}，低保申请交了材料三个月没消息。
老{S:邢}在社区调解室帮我们化解了邻里纠纷。
车管所的自助拍照机坏了，{N:仲伟}说要等厂家来修。
我叫{N:莫小贝}，在人社局申请失业金，流程很顺。
{S:覃}护士打针技术好，孩子都不哭。
12345热线工单号20241105001，请尽快处理。
税务局的{N:宗丽华}讲解退税政策很清楚。
请回电 {P:幺五零 幺幺幺幺 二二二二}，谢谢！
社区书记{N:荆建军}组织大家清理了小区的垃圾。
街道办的{N:冀文博}答应帮忙协调，一直没有下文。
""".strip().splitlines()

# Generated comments: templates with people and numbers in the forms seen in practice.
SURNAME_NAMES = [
    "张伟",
    "王芳",
    "李娜",
    "刘洋",
    "陈杰",
    "杨静",
    "赵磊",
    "黄敏",
    "周丽",
    "吴强",
    "徐婷",
    "孙浩",
    "胡军",
    "朱红",
    "高峰",
    "林涛",
    "何平",
    "郭勇",
    "马超",
    "罗琳",
    "梁晨",
    "宋佳",
    "郑辉",
    "谢丹",
    "韩冰",
    "唐宁",
    "冯刚",
    "于洋",
    "董洁",
    "萧然",
    "曹雪",
    "袁野",
    "邓超",
    "许晴",
    "傅强",
    "沈从",
    "曾莉",
    "彭飞",
    "吕良",
    "苏晓",
    "卢伟",
    "蒋丽",
    "蔡明亮",
    "贾宝",
    "丁一凡",
    "魏东亮",
    "薛冰冰",
    "叶子航",
    "阎海燕",
    "余秋",
    "潘红梅",
    "杜宇航",
    "戴小英",
    "夏雨",
    "钟鸣",
    "汪洋洋",
    "田甜",
    "任重",
    "姜文华",
    "范冰",
    "方明",
    "石建国",
    "姚晨曦",
    "谭晓",
    "廖凡",
    "邹静怡",
    "熊伟民",
    "金鑫",
    "陆毅",
    "郝建",
    "孔祥东",
    "白晓燕",
    "崔健",
    "康辉",
    "毛晓彤",
    "邱淑贞",
    "秦岚",
    "江一燕",
    "史可",
    "顾长卫",
    "侯耀华",
    "邵兵",
    "孟繁星",
    "龙飞",
    "万春林",
    "段奕宏",
    "雷佳",
    "钱学森",
    "汤唯",
    "尹相杰",
    "黎明",
    "易建联",
    "常远",
    "武艺",
    "乔振宇",
    "贺涵",
    "赖文峰",
    "龚琳娜",
    "文章",
    "庞博",
    "樊少皇",
    "兰海",
    "殷桃",
    "施瓦",
    "陶虹",
    "洪涛",
    "翟天临",
    "安以轩",
    "牛莉",
    "葛优",
    "左小青",
    "邢佳栋",
    "欧阳夏丹",
    "司马南",
    "上官正义",
    "诸葛明辉",
    "皇甫晓东",
    "东方红艳",
    "公孙策",
    "覃建军",
    "佘诗曼",
    "靳东",
    "芮成钢",
    "逯小平",
    "亓官",
    "仉长虹",
    "禤海燕",
    "訾雪",
]
TITLES = [
    "主任",
    "科长",
    "警官",
    "医生",
    "同志",
    "书记",
    "处长",
    "所长",
    "护士",
    "老师",
    "女士",
    "先生",
    "师傅",
    "经理",
    "队长",
]
UNITS = [
    "政务服务中心",
    "社保局",
    "医保中心",
    "不动产登记中心",
    "派出所",
    "车管所",
    "税务大厅",
    "公积金中心",
    "街道办",
    "社区服务站",
    "人社局",
    "市场监管局",
    "卫生院",
    "出入境大厅",
    "户籍窗口",
    "婚姻登记处",
]
PLACES = [
    "张家港",
    "王府井",
    "金华",
    "黄山",
    "向阳路",
    "文明街",
    "高新区",
    "江山",
    "石家庄",
    "常州",
    "万达广场",
    "马鞍山",
    "林荫路",
    "白云区",
    "安宁",
    "平安里",
    "周庄",
    "李村",
]
GOOD = ["态度很好", "很耐心", "办事效率高", "服务热情周到", "业务很熟练", "讲解很清楚"]
BAD = ["态度很差", "推诿扯皮", "办事拖拉", "上班时间玩手机", "说话很冲", "让我白跑了三趟"]

PERSON_TEMPLATES = [
    "{unit}的{name}{good}，值得表扬。",
    "{unit}工作人员{name}{bad}，希望严肃处理。",
    "在{unit}办事，{name}{good}。",
    "{name}{bad}，我在{unit}等了两个小时。",
    "感谢{name}，{unit}的问题终于解决了。",
    "投诉{unit}的{name}，{bad}。",
    "{unit}窗口有个叫{name}的，{bad}。",
    "我叫{name}，在{unit}办理业务，{good}。",
    "{unit}的{name}和同事配合默契，{good}。",
    "{place}的{unit}，{name}{good}。",
]
TITLE_TEMPLATES = [
    "{unit}的{surname}{title}{good}。",
    "{surname}{title}{bad}，希望{unit}领导管一管。",
    "感谢{unit}{surname}{title}的帮助。",
    "找了{surname}{title}三次，{unit}还是没给答复。",
    "{unit}的{fullname}{title}{good}，点赞！",
    "{fullname}{title}{bad}，{unit}要加强管理。",
    "小{surname}在{unit}窗口{good}。",
    "老{surname}在{unit}干了很多年，{good}。",
]
NEGATIVE_TEMPLATES = [
    "{unit}{good}，环境也干净。",
    "{unit}排队{n}分钟，{bad}的情况没有了。",
    "{place}那边的{unit}太远了，希望多设网点。",
    "{year}年{month}月{day}日去的{unit}，等了{n}分钟。",
    "{unit}收费{amount}元，没有开发票。",
    "打了{n}次12345热线，{unit}还没处理。",
    "{unit}只开了{k}个窗口，{place}的群众都挤在这里。",
    "{year}-{month:02d}-{day:02d} 上午在{unit}办的，{good}。",
    "{unit}的自助机{k}台坏了{k2}台。",
    "希望{unit}周末也开放，{place}的上班族没时间。",
    "第{k}次来{unit}，终于办好了，{good}。",
    "{unit}的叫号系统从{k}号直接跳到{n}号，很乱。",
    "{place}{unit}的停车场收费{amount}元一小时，太贵。",
    "{unit}电话打了{k}遍，12345说会转办。",
]

CN = "零一二三四五六七八九"
CN_UPPER = "零壹贰叁肆伍陆柒捌玖"


def mobile(rng: random.Random) -> str:
    return "1" + rng.choice("3456789") + "".join(rng.choice("0123456789") for _ in range(9))


def landline(rng: random.Random) -> tuple[str, str]:
    area = rng.choice(["010", "021", "0571", "0755", "020", "0731", "028", "0898"])
    number = rng.choice("2345678") + "".join(rng.choice("0123456789") for _ in range(7))
    return area, number


def id_number(rng: random.Random) -> str:
    body = (
        rng.choice(["110101", "320102", "440305", "510104", "330106", "420111", "130102"])
        + str(rng.randint(1950, 2005))
        + f"{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
        + "".join(rng.choice("0123456789") for _ in range(3))
    )
    return body + rng.choice("0123456789X")


def obfuscate_mobile(number: str, form: int) -> str:
    a, b, c = number[:3], number[3:7], number[7:]
    forms = [
        number,
        f"{a} {b} {c}",
        f"{a}-{b}-{c}",
        f"{a}.{b}.{c}",
        f"{a}/{b}/{c}",
        f"{a}_{b}_{c}",
        f"{a} - {b} - {c}",
        f"{a}\u00a0{b}\u00a0{c}",
        f"{a}\u200b{b}\u200b{c}",
        "\u200c".join(number),
        f"{a}\ufeff{b}\u2060{c}",
        number.translate(str.maketrans("0123456789", "０１２３４５６７８９")),
        "".join(CN[int(d)] for d in number),
        "".join(CN_UPPER[int(d)] for d in number),
        "".join(CN[int(d)] for d in number).replace("一", "幺"),
        a + "".join(CN[int(d)] for d in b) + c,
        " ".join(number),
        f"+86 {a} {b} {c}",
        f"+86-{number}",
        f"{a}\u3000{b}\u3000{c}",
        f"{a}–{b}–{c}",
        f"{a}·{b}·{c}",
        f"({a}){b}{c}",
        f"{a} {b}{c}",
        f"{a}{b} {c}",
        "".join(CN[int(d)] if i % 2 else d for i, d in enumerate(number)),
    ]
    return forms[form % len(forms)]


PHONE_TEMPLATES = [
    "电话{phone}，请{unit}回复。",
    "我的手机号{phone}，{unit}的事情请联系我。",
    "联系方式：{phone}",
    "有问题打{phone}，{unit}一直没回音。",
    "{unit}说会回电，我留的号码是{phone}，一直没人打。",
    "请拨{phone}找我，关于{unit}的投诉。",
    "{phone}是我的电话，{unit}{bad}。",
    "回访请打 {phone} ，谢谢。",
]
ID_TEMPLATES = [
    "身份证号{id}，{unit}的社保转移还没办好。",
    "我的证件号码 {id}，请{unit}核查。",
    "{unit}说查不到{id}这个身份证的记录。",
]


def obfuscate_id(number: str, form: int) -> str:
    forms = [
        number,
        f"{number[:6]} {number[6:14]} {number[14:]}",
        number.translate(str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")),
        "\u200b".join(number),
        f"{number[:6]}-{number[6:14]}-{number[14:]}",
        number.lower(),
        "".join(CN[int(d)] if d.isdigit() else d for d in number),
    ]
    return forms[form % len(forms)]


def parse(line: str, split: str) -> dict[str, object]:
    text = ""
    spans = []
    position = 0
    for match in re.finditer(r"\{([NSPIC]):([^}]*)\}", line):
        text += line[position : match.start()]
        start = len(text)
        text += match.group(2)
        spans.append({"start": start, "end": len(text), "kind": KINDS[match.group(1)]})
        position = match.end()
    text += line[position:]
    return {"text": text, "spans": spans, "split": split}


def generated(rng: random.Random) -> list[str]:
    lines: list[str] = []

    def pick(seq: list[str]) -> str:
        return rng.choice(seq)

    for i in range(60):
        lines.append(
            pick(PERSON_TEMPLATES).format(
                unit=pick(UNITS),
                name="{N:" + SURNAME_NAMES[i % len(SURNAME_NAMES)] + "}",
                good=pick(GOOD),
                bad=pick(BAD),
                place=pick(PLACES),
            )
        )
    for i in range(40):
        full = SURNAME_NAMES[(i * 7 + 3) % len(SURNAME_NAMES)]
        surname = (
            full[:2]
            if full[:2] in ("欧阳", "司马", "上官", "诸葛", "皇甫", "东方", "公孙")
            else full[0]
        )
        lines.append(
            pick(TITLE_TEMPLATES).format(
                unit=pick(UNITS),
                surname="{S:" + surname + "}",
                fullname="{N:" + full + "}",
                title=pick(TITLES),
                good=pick(GOOD),
                bad=pick(BAD),
            )
        )
    for i in range(52):
        lines.append(
            pick(PHONE_TEMPLATES).format(
                phone="{P:" + obfuscate_mobile(mobile(rng), i) + "}",
                unit=pick(UNITS),
                bad=pick(BAD),
            )
        )
    for i in range(8):
        area, number = landline(rng)
        form = [
            f"{area}-{number}",
            f"({area}){number}",
            f"{area} {number[:4]} {number[4:]}",
            f"{area}.{number}",
            "".join(CN[int(d)] for d in area + number),
            f"{area} - {number}",
            f"（{area}）{number}",
            f"{area}\u200b{number}",
        ][i]
        lines.append(
            pick(PHONE_TEMPLATES).format(phone="{P:" + form + "}", unit=pick(UNITS), bad=pick(BAD))
        )
    for i in range(14):
        lines.append(
            pick(ID_TEMPLATES).format(
                id="{I:" + obfuscate_id(id_number(rng), i) + "}", unit=pick(UNITS)
            )
        )
    for _ in range(60):
        lines.append(
            pick(NEGATIVE_TEMPLATES).format(
                unit=pick(UNITS),
                good=pick(GOOD),
                bad=pick(BAD),
                place=pick(PLACES),
                n=rng.randint(3, 180),
                k=rng.randint(1, 9),
                k2=rng.randint(1, 3),
                year=rng.randint(2019, 2025),
                month=rng.randint(1, 12),
                day=rng.randint(1, 28),
                amount=rng.choice([15, 80, 120, 1280, 3500, 20]),
            )
        )
    return lines


def main() -> None:
    rng = random.Random(20)
    lines = [(line, "tuning") for line in HAND + generated(rng)]
    lines += [(line, "holdout") for line in HOLDOUT]
    out = Path(__file__).with_name("redaction_comments.jsonl")
    with out.open("w", encoding="utf-8") as handle:
        for line, split in lines:
            handle.write(json.dumps(parse(line, split), ensure_ascii=False) + "\n")
    print(f"{len(lines)} comments -> {out}")


if __name__ == "__main__":
    main()
