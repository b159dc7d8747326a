//! The customer model behind `persona gen`.
//!
//! Every customer has an active period (a start that grows more likely over time, and an
//! exponential lifetime, so many churn before the data end), a Pareto-distributed order rate
//! (a fifth never buy, a few buy hundreds of times), favourite categories, a price sensitivity
//! (share of discounted orders), a satisfaction that colours their comments and ratings, and
//! one to three devices. Orders and sessions fall on days thinned by a seasonal curve
//! (weekends, a summer dip, 618 and Singles' Day peaks, growth). Campaign contacts are split
//! 80/20 into treatment and control, and treatment raises the chance of an order in the
//! campaign window, so campaign lift is there to be measured.
//!
//! Everything about customer `id` is drawn from streams keyed by (seed, purpose, id): the same
//! seed gives the same customers however the work is split.

use super::rng::{Rng, cumulative};
use super::vocab::*;

pub const DAY_US: i64 = 86_400_000_000;
/// 2022-01-01 and 2024-12-31 (inclusive), in days since 1970-01-01.
pub const D_START: i32 = 18_993;
pub const D_END: i32 = 20_088;
/// Customers may have started before the data begin (2021-07-01).
const A_START: i32 = 18_809;

/// Stream purposes.
const S_LATENT: u64 = 1;
const S_COUNT: u64 = 2;
const S_ORDERS: u64 = 3;
const S_EVENTS: u64 = 4;
const S_SOCIAL: u64 = 5;
const S_FEEDBACK: u64 = 6;
const S_CAMPAIGN: u64 = 7;
const S_PRODUCTS: u64 = 8;
const S_PROFILE: u64 = 9;

/// Average orders and events per customer.
pub const ORDERS_PER_CUSTOMER: f64 = 10.0;
pub const EVENTS_PER_CUSTOMER: f64 = 20.0;
/// Average events in a session (search 0.3 + views 2.2 + cart 0.35 + purchase 0.16).
const EVENTS_PER_SESSION: f64 = 3.0;

/// A product of the catalogue.
#[derive(Debug, Clone)]
pub struct Product {
    pub id: i64,
    pub category: usize,
    pub brand: &'static str,
    pub name: String,
    pub price_cents: i64,
}

/// A campaign (one every few months).
#[derive(Debug, Clone)]
pub struct Campaign {
    pub id: i64,
    pub name: &'static str,
    pub channel: &'static str,
    pub offer: &'static str,
    pub start: i32,
    pub end: i32,
}

/// What pass one needs about a customer: cheap to recompute.
#[derive(Debug, Clone, Copy)]
pub struct Latent {
    pub start: i32,
    pub life: i32,
    pub signup: i32,
    pub order_weight: f64,
    pub session_weight: f64,
}

/// A customer's full profile.
#[derive(Debug, Clone)]
pub struct Customer {
    pub id: i64,
    pub latent: Latent,
    pub female: Option<bool>,
    pub english: bool,
    pub name: String,
    pub birth: Option<i32>,
    pub phone: String,
    pub email: Option<String>,
    pub city: usize,
    pub channel: usize,
    pub favourites: [usize; 2],
    pub favourite_share: f64,
    pub price_sensitivity: f64,
    pub satisfaction: f64,
    pub devices: Vec<(String, &'static str)>,
}

/// The fixed parts of a generated world: catalogue, campaigns, and the scales that make the
/// averages come out at about 10 orders and 20 events a customer.
pub struct World {
    pub seed: u64,
    pub customers: u64,
    pub products: Vec<Product>,
    pub campaigns: Vec<Campaign>,
    category_cum: Vec<f64>,
    /// Per category: product indexes and their cumulative popularity.
    by_category: Vec<(Vec<usize>, Vec<f64>)>,
    city_cum: Vec<f64>,
    channel_cum: Vec<f64>,
    order_scale: f64,
    session_scale: f64,
    /// `order_offsets[i]` is the first order id of customer `i + 1`, minus one.
    pub order_offsets: Vec<u64>,
}

/// Seasonal weight of a day: weekends, a summer dip, 618 and Singles' Day peaks, growth.
fn day_weight(day: i32) -> f64 {
    let (_, m, d) = civil_from_days(day);
    let doy = day_of_year(m, d) as f64;
    let dow = (day + 3).rem_euclid(7);
    let mut w = if dow >= 5 { 1.15 } else { 1.0 };
    w *= 1.0 - 0.25 * (-((doy - 200.0) / 30.0).powi(2)).exp();
    w *= 1.0 + 1.2 * (-((doy - 169.0) / 5.0).powi(2)).exp();
    w *= 1.0 + 2.0 * (-((doy - 315.0) / 6.0).powi(2)).exp();
    w *= 1.0 + 0.35 * (day - D_START) as f64 / (D_END - D_START) as f64;
    w
}
const W_MAX: f64 = 3.4;

fn day_of_year(m: u32, d: u32) -> u32 {
    const CUM: [u32; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    CUM[(m - 1) as usize] + d
}

/// (year, month, day) of days since 1970-01-01 (Howard Hinnant's `civil_from_days`).
pub fn civil_from_days(z: i32) -> (i32, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// A day in the customer's active period, thinned by the seasonal weight.
fn active_day(rng: &mut Rng, l: &Latent) -> i32 {
    loop {
        let day = (l.start + rng.below(l.life as u64 + 1) as i32).clamp(D_START, D_END);
        if rng.f64() * W_MAX < day_weight(day) {
            return day;
        }
    }
}

/// Microseconds into the day: a lunchtime and an evening peak.
fn time_of_day(rng: &mut Rng) -> i64 {
    let h = if rng.chance(0.45) {
        12.5 + 2.5 * rng.normal()
    } else {
        20.5 + 2.0 * rng.normal()
    };
    // Whole seconds, as order systems record them.
    let s = (h * 3600.0).rem_euclid(86_400.0).floor();
    s as i64 * 1_000_000
}

impl World {
    /// Builds the catalogue and campaigns and runs pass one over all customers.
    pub fn new(seed: u64, customers: u64) -> Self {
        let category_cum = cumulative(&CATEGORIES.iter().map(|c| c.4).collect::<Vec<_>>());
        let n_products = (200 + customers / 200).min(5000) as usize;
        let mut rng = Rng::stream(seed, S_PRODUCTS, 0);
        let mut products = Vec::with_capacity(n_products);
        for i in 0..n_products {
            let category = rng.weighted(&category_cum);
            let (_, zh, _, median, _) = CATEGORIES[category];
            let brand = *rng.pick(BRANDS);
            let yuan = (median * (0.5 * rng.normal()).exp()).max(9.0);
            let price_cents = ((yuan / 10.0).floor() as i64 * 10 + 9) * 100;
            let name = format!(
                "{brand} {zh} {}{}",
                (b'A' + rng.below(26) as u8) as char,
                rng.range(10, 99)
            );
            products.push(Product {
                id: i as i64 + 1,
                category,
                brand,
                name,
                price_cents,
            });
        }
        let mut by_category: Vec<(Vec<usize>, Vec<f64>)> =
            vec![(Vec::new(), Vec::new()); CATEGORIES.len()];
        for (i, p) in products.iter().enumerate() {
            by_category[p.category].0.push(i);
        }
        for (items, cum) in by_category.iter_mut() {
            let weights: Vec<f64> = (0..items.len())
                .map(|r| 1.0 / ((r + 1) as f64).powf(0.8))
                .collect();
            *cum = cumulative(&weights);
        }
        let starts = [
            "2022-01-20",
            "2022-06-01",
            "2022-11-01",
            "2023-05-20",
            "2023-10-25",
            "2024-03-01",
            "2024-06-01",
            "2024-11-01",
        ];
        let campaigns = starts
            .iter()
            .zip(CAMPAIGNS)
            .enumerate()
            .map(|(i, (s, (name, channel, offer)))| {
                let start =
                    persona_udfs::config::parse_date_days(s).expect("campaign dates are valid");
                Campaign {
                    id: i as i64 + 1,
                    name,
                    channel,
                    offer,
                    start,
                    end: start + 13,
                }
            })
            .collect();
        let mut world = World {
            seed,
            customers,
            products,
            campaigns,
            category_cum,
            by_category,
            city_cum: cumulative(&CITIES.iter().map(|c| c.3).collect::<Vec<_>>()),
            channel_cum: cumulative(&CHANNELS.iter().map(|c| c.1).collect::<Vec<_>>()),
            order_scale: 1.0,
            session_scale: 1.0,
            order_offsets: Vec::new(),
        };
        let (mut sum_o, mut sum_s) = (0.0, 0.0);
        for id in 1..=customers {
            let l = world.latent(id as i64);
            sum_o += l.order_weight;
            sum_s += l.session_weight;
        }
        world.order_scale = if sum_o > 0.0 {
            ORDERS_PER_CUSTOMER * customers as f64 / sum_o
        } else {
            0.0
        };
        world.session_scale = if sum_s > 0.0 {
            EVENTS_PER_CUSTOMER / EVENTS_PER_SESSION * customers as f64 / sum_s
        } else {
            0.0
        };
        let mut offsets = Vec::with_capacity(customers as usize + 1);
        let mut total = 0u64;
        offsets.push(0);
        for id in 1..=customers {
            let l = world.latent(id as i64);
            total += world.regular_orders(id as i64, &l)
                + world.contacts(id as i64, &l).iter().filter(|c| c.2).count() as u64;
            offsets.push(total);
        }
        world.order_offsets = offsets;
        world
    }

    /// The cheap latent variables of customer `id`.
    pub fn latent(&self, id: i64) -> Latent {
        let mut r = Rng::stream(self.seed, S_LATENT, id as u64);
        // Start: density growing linearly over the period (inverse CDF of (1 + 2x) / 2).
        let u = r.f64();
        let x = ((-1.0 + (1.0 + 8.0 * u).sqrt()) / 2.0).clamp(0.0, 1.0);
        let start = (A_START + (x * (D_END - A_START) as f64) as i32).max(D_START - 180);
        let start_eff = start.max(D_START);
        let life = ((r.exponential(420.0) as i32) + 1)
            .min(D_END - start_eff)
            .max(0);
        let signup = start - r.below(31) as i32;
        let life_w = (life + 1) as f64 / 420.0;
        let order_weight = if r.chance(0.2) {
            0.0
        } else {
            r.pareto(1.2).min(300.0) * life_w
        };
        let session_weight = 0.5 * order_weight + life_w;
        Latent {
            start: start_eff,
            life,
            signup,
            order_weight,
            session_weight,
        }
    }

    fn regular_orders(&self, id: i64, l: &Latent) -> u64 {
        Rng::stream(self.seed, S_COUNT, id as u64).poisson(l.order_weight * self.order_scale)
    }

    /// The customer's campaign contacts: (campaign index, treatment, converted by the campaign).
    pub fn contacts(&self, id: i64, l: &Latent) -> Vec<(usize, bool, bool)> {
        let mut r = Rng::stream(self.seed, S_CAMPAIGN, id as u64);
        let mut out = Vec::new();
        for (i, c) in self.campaigns.iter().enumerate() {
            let eligible =
                l.signup <= c.start && l.start <= c.start && c.start <= l.start + l.life + 60;
            if eligible && r.chance(0.25) {
                let treatment = r.chance(0.8);
                let converted = treatment && r.chance(0.10);
                out.push((i, treatment, converted));
            }
        }
        out
    }

    /// The whole profile of customer `id`.
    pub fn customer(&self, id: i64) -> Customer {
        let latent = self.latent(id);
        let mut r = Rng::stream(self.seed, S_PROFILE, id as u64);
        let g = r.f64();
        let female = if g < 0.49 {
            Some(true)
        } else if g < 0.96 {
            Some(false)
        } else {
            None
        };
        let english = r.chance(0.08);
        let is_f = female.unwrap_or(r.chance(0.5));
        let name = if english {
            let first = if is_f {
                r.pick(EN_FIRST_F)
            } else {
                r.pick(EN_FIRST_M)
            };
            format!("{first} {}", r.pick(EN_LAST))
        } else {
            let given = if is_f {
                r.pick(GIVEN_F)
            } else {
                r.pick(GIVEN_M)
            };
            format!("{}{given}", r.pick(SURNAMES))
        };
        let birth = (!r.chance(0.08)).then(|| {
            let year = (1990.0 + 11.0 * r.normal()).round().clamp(1950.0, 2006.0) as i32;
            persona_udfs::config::days_from_civil(year, 1, 1).expect("valid year")
                + r.below(365) as i32
        });
        const PREFIXES: [u32; 20] = [
            130, 131, 132, 133, 135, 136, 137, 138, 139, 150, 151, 152, 155, 158, 159, 176, 180,
            186, 188, 199,
        ];
        let phone = format!("+86{}{:08}", r.pick(&PREFIXES), r.below(100_000_000));
        let email = r.chance(0.75).then(|| {
            let user = if english {
                name.split(' ')
                    .next()
                    .unwrap_or("user")
                    .to_ascii_lowercase()
            } else {
                r.pick(PINYIN).to_string()
            };
            format!(
                "{user}{}@{}",
                id as u64 % 9973 + r.below(90) * 10_000,
                r.pick(EMAIL_DOMAINS)
            )
        });
        let city = r.weighted(&self.city_cum);
        let channel = r.weighted(&self.channel_cum);
        let f1 = r.weighted(&self.category_cum);
        let f2 = r.weighted(&self.category_cum);
        let devices = (0..1 + r.geometric(0.6).min(2))
            .map(|k| {
                let platform = if k == 0 && channel == 1 {
                    "mini_program"
                } else {
                    *r.pick(PLATFORMS)
                };
                (
                    format!(
                        "dv{:012x}",
                        Rng::stream(self.seed, id as u64, k).next_u64() >> 16
                    ),
                    platform,
                )
            })
            .collect();
        Customer {
            id,
            latent,
            female,
            english,
            name,
            birth,
            phone,
            email,
            city,
            channel,
            favourites: [f1, f2],
            favourite_share: 0.5 + 0.4 * r.f64(),
            price_sensitivity: r.f64().powi(2),
            satisfaction: (0.65 + 0.25 * r.normal()).clamp(0.02, 0.98),
            devices,
        }
    }

    /// A product for this customer: mostly from their favourite categories.
    fn product_for(&self, r: &mut Rng, c: &Customer) -> usize {
        let category = if r.chance(c.favourite_share) {
            c.favourites[r.below(2) as usize]
        } else {
            r.weighted(&self.category_cum)
        };
        let (items, cum) = &self.by_category[category];
        if items.is_empty() {
            return r.below(self.products.len() as u64) as usize;
        }
        items[r.weighted(cum)]
    }

    fn channel_for(&self, r: &mut Rng, c: &Customer) -> &'static str {
        if r.chance(0.75) {
            CHANNELS[c.channel].0
        } else {
            CHANNELS[r.weighted(&self.channel_cum)].0
        }
    }
}

/// One order with its lines.
#[derive(Debug, Clone)]
pub struct Order {
    pub id: i64,
    pub ts: i64,
    pub channel: &'static str,
    pub status: &'static str,
    pub gross_cents: i64,
    pub discount_cents: i64,
    pub campaign: Option<i64>,
    /// (product index, quantity, unit price in cents).
    pub lines: Vec<(usize, i32, i64)>,
}

/// One web or app event.
#[derive(Debug, Clone)]
pub struct Event {
    pub ts: i64,
    pub customer: Option<i64>,
    pub device: usize,
    pub session: u64,
    pub kind: &'static str,
    pub product: Option<usize>,
    pub query: Option<&'static str>,
}

/// A social comment or a feedback text.
#[derive(Debug, Clone)]
pub struct Comment {
    pub ts: i64,
    pub platform: &'static str,
    pub text: String,
    pub likes: i32,
    pub shares: i32,
}

/// Feedback on an order.
#[derive(Debug, Clone)]
pub struct Feedback {
    pub order: i64,
    pub ts: i64,
    pub rating: i32,
    pub nps: Option<i32>,
    pub text: Option<String>,
}

fn text_for(r: &mut Rng, c: &Customer, w: &World, polarity: i8) -> String {
    let pool = match (c.english, polarity) {
        (false, 1) => ZH_POSITIVE,
        (false, -1) => ZH_NEGATIVE,
        (false, _) => ZH_NEUTRAL,
        (true, 1) => EN_POSITIVE,
        (true, -1) => EN_NEGATIVE,
        (true, _) => EN_NEUTRAL,
    };
    let p = &w.products[w.product_for(r, c)];
    let noun = if c.english {
        CATEGORIES[p.category].2
    } else {
        CATEGORIES[p.category].1
    };
    r.pick(pool).replace("{p}", noun)
}

impl World {
    /// The customer's orders, in time order, with ids from `order_offsets`.
    pub fn orders(&self, c: &Customer) -> Vec<Order> {
        let mut r = Rng::stream(self.seed, S_ORDERS, c.id as u64);
        let l = &c.latent;
        let mut stamps: Vec<(i64, Option<i64>)> = (0..self.regular_orders(c.id, l))
            .map(|_| {
                (
                    active_day(&mut r, l) as i64 * DAY_US + time_of_day(&mut r),
                    None,
                )
            })
            .collect();
        for (i, _, converted) in self.contacts(c.id, l) {
            if converted {
                let camp = &self.campaigns[i];
                let day = (camp.start + r.below(14) as i32).min(D_END);
                stamps.push((day as i64 * DAY_US + time_of_day(&mut r), Some(camp.id)));
            }
        }
        stamps.sort_unstable();
        let first_id = self.order_offsets[(c.id - 1) as usize] as i64 + 1;
        stamps
            .into_iter()
            .enumerate()
            .map(|(k, (ts, campaign))| {
                let n_lines = 1 + r.geometric(0.55).min(5) as usize;
                let lines: Vec<(usize, i32, i64)> = (0..n_lines)
                    .map(|_| {
                        let p = self.product_for(&mut r, c);
                        let q = if r.chance(0.85) {
                            1
                        } else if r.chance(0.8) {
                            2
                        } else {
                            3
                        };
                        (p, q, self.products[p].price_cents)
                    })
                    .collect();
                let gross: i64 = lines.iter().map(|(_, q, p)| *q as i64 * p).sum();
                let discount = if campaign.is_some() || r.chance(c.price_sensitivity) {
                    ((gross as f64 * (0.05 + 0.25 * r.f64())) / 100.0).round() as i64 * 100
                } else {
                    0
                };
                let s = r.f64();
                let recent = ts >= (D_END - 4) as i64 * DAY_US;
                let status = if s < 0.06 {
                    "refunded"
                } else if s < 0.10 {
                    "cancelled"
                } else if recent && s < 0.6 {
                    "shipped"
                } else {
                    "completed"
                };
                Order {
                    id: first_id + k as i64,
                    ts,
                    channel: self.channel_for(&mut r, c),
                    status,
                    gross_cents: gross,
                    discount_cents: discount.min(gross),
                    campaign,
                    lines,
                }
            })
            .collect()
    }

    /// The customer's sessions of web and app events.
    pub fn events(&self, c: &Customer) -> Vec<Event> {
        let mut r = Rng::stream(self.seed, S_EVENTS, c.id as u64);
        let n_sessions = r.poisson(c.latent.session_weight * self.session_scale);
        let mut out = Vec::new();
        for s in 0..n_sessions {
            let session =
                Rng::stream(self.seed, S_EVENTS ^ 0xFF, c.id as u64 * 100_000 + s).next_u64();
            let device = r.below(c.devices.len() as u64) as usize;
            let customer = (!r.chance(0.12)).then_some(c.id);
            let mut ts = active_day(&mut r, &c.latent) as i64 * DAY_US + time_of_day(&mut r);
            let mut push = |kind, product, query, ts| {
                out.push(Event {
                    ts,
                    customer,
                    device,
                    session,
                    kind,
                    product,
                    query,
                })
            };
            if r.chance(0.3) {
                let cat = if r.chance(0.7) {
                    c.favourites[0]
                } else {
                    r.weighted(&self.category_cum)
                };
                let q = if c.english {
                    CATEGORIES[cat].2
                } else {
                    CATEGORIES[cat].1
                };
                push("search", None, Some(q), ts);
                ts += r.range(5, 60) * 1_000_000;
            }
            let mut last = self.product_for(&mut r, c);
            for _ in 0..1 + r.geometric(0.45).min(11) {
                last = self.product_for(&mut r, c);
                push("view", Some(last), None, ts);
                ts += r.range(15, 240) * 1_000_000;
            }
            if r.chance(0.35) {
                ts += r.range(30, 600) * 1_000_000;
                push("cart", Some(last), None, ts);
                if r.chance(0.45) {
                    ts += r.range(60, 3600) * 1_000_000;
                    push("purchase", Some(last), None, ts);
                }
            }
        }
        out.sort_by_key(|e| e.ts);
        out
    }

    /// The customer's social comments.
    pub fn comments(&self, c: &Customer) -> Vec<Comment> {
        let mut r = Rng::stream(self.seed, S_SOCIAL, c.id as u64);
        if !r.chance(0.22) {
            return Vec::new();
        }
        let n = 1 + r.geometric(0.55).min(9);
        let mut out: Vec<Comment> = (0..n)
            .map(|_| {
                let ts = active_day(&mut r, &c.latent) as i64 * DAY_US + time_of_day(&mut r);
                let u = r.f64();
                let polarity = if u < c.satisfaction * 0.85 {
                    1
                } else if u < 0.85 {
                    -1
                } else {
                    0
                };
                let text = text_for(&mut r, c, self, polarity);
                let platform = if c.english {
                    *r.pick(EN_SOCIAL)
                } else {
                    *r.pick(ZH_SOCIAL)
                };
                let likes = ((r.pareto(1.3) - 1.0) * 4.0).min(100_000.0) as i32;
                let shares = (likes as f64 * 0.2 * r.f64()) as i32;
                Comment {
                    ts,
                    platform,
                    text,
                    likes,
                    shares,
                }
            })
            .collect();
        out.sort_by_key(|c| c.ts);
        out
    }

    /// Feedback left on some of the customer's orders.
    pub fn feedback(&self, c: &Customer, orders: &[Order]) -> Vec<Feedback> {
        let mut r = Rng::stream(self.seed, S_FEEDBACK, c.id as u64);
        let mut out = Vec::new();
        for o in orders {
            let p = match o.status {
                "refunded" => 0.3,
                "completed" => 0.08,
                _ => continue,
            };
            if !r.chance(p) {
                continue;
            }
            let mood =
                c.satisfaction + 0.2 * r.normal() - if o.status == "refunded" { 0.35 } else { 0.0 };
            let rating = (1.0 + mood * 5.0).floor().clamp(1.0, 5.0) as i32;
            let nps = r
                .chance(0.6)
                .then(|| (mood * 11.0).floor().clamp(0.0, 10.0) as i32);
            let polarity = match rating {
                4..=5 => 1,
                1..=2 => -1,
                _ => 0,
            };
            let text = r.chance(0.7).then(|| text_for(&mut r, c, self, polarity));
            let ts = (o.ts + r.range(1, 10) * DAY_US).min((D_END as i64 + 1) * DAY_US - 1);
            out.push(Feedback {
                order: o.id,
                ts,
                rating,
                nps,
                text,
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_helpers_agree() {
        for day in [0, D_START, D_END, 19_782] {
            let (y, m, d) = civil_from_days(day);
            assert_eq!(persona_udfs::config::days_from_civil(y, m, d), Some(day));
        }
        assert_eq!(civil_from_days(D_START), (2022, 1, 1));
        assert_eq!(civil_from_days(D_END), (2024, 12, 31));
    }

    #[test]
    fn averages_come_out_near_ten_orders_and_twenty_events() {
        let w = World::new(1, 3000);
        let orders = *w.order_offsets.last().unwrap() as f64 / 3000.0;
        assert!((8.5..11.5).contains(&orders), "{orders}");
        let events: usize = (1..=3000).map(|id| w.events(&w.customer(id)).len()).sum();
        let per = events as f64 / 3000.0;
        assert!((16.0..24.0).contains(&per), "{per}");
    }

    #[test]
    fn order_ids_are_dense_and_ordered_by_customer() {
        let w = World::new(2, 200);
        let mut next = 1;
        for id in 1..=200 {
            for o in w.orders(&w.customer(id)) {
                assert_eq!(o.id, next);
                next += 1;
            }
        }
        assert_eq!(next - 1, *w.order_offsets.last().unwrap() as i64);
    }
}
