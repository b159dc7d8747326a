//! The words the generator draws from: names, cities, product categories, channels and the
//! sentences of comments and feedback, in Chinese and English.

/// (city, province, pinyin/English name, population weight).
pub const CITIES: &[(&str, &str, &str, f64)] = &[
    ("上海", "上海", "Shanghai", 12.0),
    ("北京", "北京", "Beijing", 11.0),
    ("深圳", "广东", "Shenzhen", 9.0),
    ("广州", "广东", "Guangzhou", 9.0),
    ("杭州", "浙江", "Hangzhou", 7.0),
    ("成都", "四川", "Chengdu", 7.0),
    ("重庆", "重庆", "Chongqing", 6.0),
    ("武汉", "湖北", "Wuhan", 6.0),
    ("南京", "江苏", "Nanjing", 5.0),
    ("西安", "陕西", "Xi'an", 5.0),
    ("苏州", "江苏", "Suzhou", 5.0),
    ("天津", "天津", "Tianjin", 4.5),
    ("长沙", "湖南", "Changsha", 4.0),
    ("郑州", "河南", "Zhengzhou", 4.0),
    ("青岛", "山东", "Qingdao", 3.5),
    ("宁波", "浙江", "Ningbo", 3.0),
    ("厦门", "福建", "Xiamen", 2.5),
    ("合肥", "安徽", "Hefei", 2.5),
    ("昆明", "云南", "Kunming", 2.0),
    ("沈阳", "辽宁", "Shenyang", 2.0),
    ("大连", "辽宁", "Dalian", 1.8),
    ("济南", "山东", "Jinan", 1.8),
    ("福州", "福建", "Fuzhou", 1.6),
    ("哈尔滨", "黑龙江", "Harbin", 1.5),
    ("南宁", "广西", "Nanning", 1.2),
    ("乌鲁木齐", "新疆", "Urumqi", 0.8),
    ("拉萨", "西藏", "Lhasa", 0.3),
];

/// Province names as written in full (`广东省`, `广西壮族自治区`), for raw data.
pub fn province_full(p: &str) -> String {
    match p {
        "北京" | "上海" | "天津" | "重庆" => format!("{p}市"),
        "广西" => "广西壮族自治区".into(),
        "新疆" => "新疆维吾尔自治区".into(),
        "西藏" => "西藏自治区".into(),
        _ => format!("{p}省"),
    }
}

pub const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "林", "罗", "高", "郑", "梁", "谢", "宋", "唐", "韩", "冯", "邓", "曹", "欧阳",
];
pub const GIVEN_F: &[&str] = &[
    "静", "丽", "敏", "婷", "芳", "雪", "琳", "欣怡", "思雨", "梓涵", "佳怡", "雨桐", "晓燕", "慧",
    "洁",
];
pub const GIVEN_M: &[&str] = &[
    "伟", "强", "磊", "军", "洋", "勇", "杰", "浩然", "子轩", "宇航", "俊杰", "志强", "建华", "鹏",
    "涛",
];
pub const EN_FIRST_F: &[&str] = &[
    "Emma", "Olivia", "Sophia", "Mia", "Grace", "Lily", "Chloe", "Anna",
];
pub const EN_FIRST_M: &[&str] = &[
    "James", "Oliver", "Lucas", "Henry", "Jack", "Leo", "Ethan", "Daniel",
];
pub const EN_LAST: &[&str] = &[
    "Smith", "Chen", "Wang", "Brown", "Lee", "Taylor", "Wilson", "Martin",
];
pub const PINYIN: &[&str] = &[
    "wang", "li", "zhang", "liu", "chen", "yang", "huang", "zhao", "wu", "zhou", "xu", "sun",
];
pub const EMAIL_DOMAINS: &[&str] = &[
    "qq.com",
    "163.com",
    "126.com",
    "gmail.com",
    "outlook.com",
    "sina.com",
    "foxmail.com",
];

/// (key, Chinese noun, English noun, median price in yuan, popularity weight).
pub const CATEGORIES: &[(&str, &str, &str, f64, f64)] = &[
    ("apparel", "连衣裙", "dress", 199.0, 20.0),
    ("electronics", "蓝牙耳机", "earbuds", 599.0, 9.0),
    ("home", "收纳盒", "storage box", 89.0, 14.0),
    ("beauty", "面霜", "face cream", 259.0, 12.0),
    ("sports", "跑鞋", "running shoes", 459.0, 8.0),
    ("baby", "纸尿裤", "diapers", 129.0, 6.0),
    ("books", "小说", "novel", 49.0, 7.0),
    ("grocery", "坚果礼盒", "nut gift box", 79.0, 10.0),
    ("appliances", "空气炸锅", "air fryer", 399.0, 4.0),
    ("jewelry", "项链", "necklace", 899.0, 2.0),
    ("pet", "猫粮", "cat food", 119.0, 5.0),
    ("outdoor", "帐篷", "tent", 529.0, 3.0),
];

pub const BRANDS: &[&str] = &[
    "Lumi", "Aurora", "Kiri", "Novo", "Pando", "Yunhe", "Qingshan", "Mingyue", "Bayu", "Tianxi",
    "Orca", "Vela", "Zeno", "Huaxia", "Beilin", "Sora",
];

/// (channel, share) of orders and sign-ups.
pub const CHANNELS: &[(&str, f64)] = &[
    ("app", 0.42),
    ("mini_program", 0.26),
    ("web", 0.20),
    ("store", 0.12),
];
pub const PLATFORMS: &[&str] = &["ios", "android", "web", "mini_program"];

pub const ZH_POSITIVE: &[&str] = &[
    "质量很好，物流也快，非常满意",
    "第二次回购了，{p}很好用，推荐",
    "包装精美，客服态度特别好",
    "性价比超高，{p}比想象中好",
    "颜色很正，穿着舒服，好评",
    "发货速度快，东西不错，会再来",
];
pub const ZH_NEGATIVE: &[&str] = &[
    "质量太差了，{p}用了两天就坏了",
    "物流太慢，等了一个星期，不会再买",
    "客服态度很差，退款一直不处理",
    "和图片差别很大，很失望",
    "{p}有异味，申请退货了",
    "价格贵还不好用，差评",
];
pub const ZH_NEUTRAL: &[&str] = &[
    "收到了，还没用",
    "{p}一般般吧，凑合",
    "包装还行，等用了再评价",
];
pub const EN_POSITIVE: &[&str] = &[
    "Love this {p}, great quality and fast delivery!",
    "Excellent service, will definitely buy again",
    "The {p} works perfectly, highly recommend",
    "Really happy with my order :)",
];
pub const EN_NEGATIVE: &[&str] = &[
    "Terrible quality, the {p} broke after two days",
    "Shipping was so slow and support never answered",
    "Not worth the money, very disappointed",
    "The {p} looks nothing like the photos. Returning it.",
];
pub const EN_NEUTRAL: &[&str] = &[
    "Got the {p}, haven't tried it yet",
    "It's ok I guess",
    "Arrived today",
];

/// Social platforms by language.
pub const ZH_SOCIAL: &[&str] = &["weibo", "xiaohongshu", "douyin", "wechat"];
pub const EN_SOCIAL: &[&str] = &["instagram", "x", "facebook"];

/// (name, channel, offer) of the campaigns, one a quarter.
pub const CAMPAIGNS: &[(&str, &str, &str)] = &[
    ("新春焕新季", "sms", "满200减30"),
    ("春季会员日", "push", "9折券"),
    ("618年中大促", "wechat", "满300减50"),
    ("暑期清凉节", "email", "包邮券"),
    ("中秋礼遇", "sms", "买二送一"),
    ("双11预热", "push", "满400减80"),
    ("双12年终盛典", "wechat", "8.5折券"),
    ("老客回归礼", "sms", "无门槛20元券"),
];

#[cfg(test)]
mod tests {
    use super::*;

    /// Ingest compares cleaned cities with the generator's names: every city, its English
    /// name, its full name and its province's full name map to the names used here.
    #[test]
    fn clean_std_city_gives_the_generated_names() {
        use persona_udfs::clean::city::std_city;
        let mut buf = String::new();
        for (zh, province, en, _) in CITIES {
            assert_eq!(std_city(zh, &mut buf), Some(*zh), "{zh}");
            assert_eq!(std_city(en, &mut buf), Some(*zh), "{en}");
            assert_eq!(std_city(&format!("{zh}市"), &mut buf), Some(*zh), "{zh}市");
            assert_eq!(std_city(province, &mut buf), Some(*province), "{province}");
            let full = province_full(province);
            assert_eq!(std_city(&full, &mut buf), Some(*province), "{full}");
            assert_eq!(
                std_city(&format!("{full}{zh}市"), &mut buf),
                Some(*zh),
                "{full}{zh}市"
            );
        }
    }
}
