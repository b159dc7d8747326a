//! The value models on a small project of awkward customers, through the real binary: no
//! orders, a single order, zero and negative amounts, a refund larger than the spend, an order
//! after the as-of date, an order without a customer; plus a project's own tag, a broken tag
//! file, and a project-edited action table.

use std::fs;
use std::path::Path;

use crate::{run, scratch};

const CUSTOMERS: &str =
    "customer_id,name,gender,birth_date,phone,email,city,province,signup_date,signup_channel
1,No Orders,F,1990-01-01,,,上海,上海,2023-01-10,app
2,Single Order,M,1985-05-05,,,北京,北京,2023-02-01,web
3,Odd Amounts,F,1992-03-03,,,广州,广东,2023-03-01,app
4,Big Refund,M,1980-08-08,,,深圳,广东,2023-04-01,store
5,Future Buyer,F,1995-09-09,,,杭州,浙江,2023-05-01,app
6,Regular,M,1988-12-12,,,成都,四川,2023-01-01,app
";

const ORDERS: &str = "order_id,customer_id,order_ts,channel,status,gross_amount,discount,amount,item_count,campaign_id
10,2,2024-01-15 10:00:00,app,completed,100,0,100,1,
20,3,2023-06-01 10:00:00,app,completed,0,0,0,1,
21,3,2023-09-01 10:00:00,app,completed,-50,0,-50,1,
22,3,2024-03-01 10:00:00,app,completed,200,0,200,1,
30,4,2024-02-01 10:00:00,store,completed,100,0,100,1,
31,4,2024-02-10 10:00:00,store,refunded,500,0,500,1,
40,5,2024-08-01 10:00:00,app,completed,300,0,300,1,
50,,2024-03-03 10:00:00,app,completed,80,0,80,1,
60,6,2023-02-01 10:00:00,web,completed,120,10,110,2,
61,6,2023-07-01 10:00:00,web,completed,90,0,90,1,
62,6,2024-01-01 10:00:00,app,completed,150,20,130,1,
63,6,2024-06-01 10:00:00,web,completed,80,0,80,1,
";

const TOML: &str = r#"[project]
name = "awkward"
as_of = "2024-06-30"

[settings]
"persona.lang" = "en"
"persona.loyalty.levels" = "Basic:0,Gold:400"

[[source]]
name = "customers"
path = "customers.csv"
format = "csv"

[[source]]
name = "orders"
path = "orders.csv"
format = "csv"

[[source]]
name = "tier_actions"
path = "tier_actions.csv"
format = "csv"
"#;

const ACTIONS: &str = "tier,tier_en,action,action_en,channel
高价值客户,High Value,专属顾问,Personal adviser,phone
普通客户,Regular,月度精选,Monthly picks,email
潜在客户,Potential,新人礼包,Welcome pack,sms
流失风险客户,Churn Risk,回归券,Come-back coupon,sms
";

fn project(dir: &Path) {
    fs::write(dir.join("persona.toml"), TOML).unwrap();
    fs::write(dir.join("customers.csv"), CUSTOMERS).unwrap();
    fs::write(dir.join("orders.csv"), ORDERS).unwrap();
    fs::write(dir.join("tier_actions.csv"), ACTIONS).unwrap();
    fs::create_dir_all(dir.join("sql/tags")).unwrap();
    fs::write(
        dir.join("sql/tags/big_spender.sql"),
        "-- tag: big_spender\n-- group: value\n-- description: Spent 300 or more.\n-- from: customer_orders\nWHEN revenue >= 300 THEN 'yes'\n",
    )
    .unwrap();
    fs::write(
        dir.join("sql/tags/broken.sql"),
        "-- tag: broken\n-- group: value\n-- from: customer_orders\nWHEN revenue >= 300 THEN 'a'\nWHEN (revenue THEN 'b'\n",
    )
    .unwrap();
}

fn query(dir: &Path, sql: &str) -> (String, String) {
    let (out, err, code) = run(dir, &["--format", "csv", "-c", sql]);
    assert_eq!(code, 0, "{err}");
    (out, err)
}

#[test]
fn awkward_customers_get_sound_profiles() {
    let dir = scratch("awkward");
    project(dir.path());
    let (out, err) = query(
        dir.path(),
        "SELECT customer_id, c.orders, o.refunded_orders, c.revenue, r_score IS NULL AS unscored, tier, \
         clv_12m IS NULL AS no_clv, action \
         FROM customer_360 c JOIN customer_orders o USING (customer_id) ORDER BY customer_id",
    );
    assert_eq!(
        out,
        "customer_id,orders,refunded_orders,revenue,unscored,tier,no_clv,action\n\
         1,0,0,0,true,Potential,true,Welcome pack\n\
         2,1,0,100,false,Churn Risk,false,Come-back coupon\n\
         3,3,0,150,false,Regular,false,Monthly picks\n\
         4,1,1,100,false,Churn Risk,false,Come-back coupon\n\
         5,0,0,0,true,Potential,true,Welcome pack\n\
         6,4,0,410,false,High Value,false,Personal adviser\n",
        "{err}"
    );
    // The broken tag is named with its file and line; the project's other tag still loads.
    assert!(
        err.lines().any(|l| l.contains("broken.sql:5:")),
        "stderr: {err}"
    );
    let (tags, _) = query(
        dir.path(),
        "SELECT customer_id, value FROM customer_tags WHERE tag = 'big_spender' ORDER BY 1",
    );
    assert_eq!(tags, "customer_id,value\n6,yes\n");
    // Nothing is NaN, and the model columns are probabilities where they must be.
    let (checks, _) = query(
        dir.path(),
        "SELECT bool_and(NOT isnan(clv_12m) AND p_alive BETWEEN 0 AND 1 AND NOT isnan(expected_spend)) AS sound \
         FROM customer_360 WHERE clv_12m IS NOT NULL",
    );
    assert_eq!(checks, "sound\ntrue\n");
    // Loyalty levels come from persona.toml's [settings]: 10 points an order and 1 per unit.
    let (levels, _) = query(
        dir.path(),
        "SELECT customer_id, points, loyalty_level FROM loyalty_points WHERE customer_id IN (3, 6) ORDER BY 1",
    );
    assert_eq!(
        levels,
        "customer_id,points,loyalty_level\n3,180,Basic\n6,450,Gold\n"
    );
    // A single purchase is frequency 0: BG/NBD holds the customer alive.
    let (single, _) = query(
        dir.path(),
        "SELECT frequency, p_alive FROM customer_clv WHERE customer_id = 2",
    );
    assert_eq!(single, "frequency,p_alive\n0,1.0\n");
}

#[test]
fn too_few_customers_to_fit_say_so_and_give_no_nan() {
    let dir = scratch("fit-few");
    project(dir.path());
    let (out, _) = query(
        dir.path(),
        "SELECT bgnbd['converged'] AS converged, isnan(bgnbd['r']) AS nan FROM clv_models",
    );
    // Four buyers cannot pin four parameters down: the fit says so, and gives no NaN.
    assert_eq!(out, "converged,nan\nfalse,false\n");
}
