//! `persona gen`: deterministic, realistic multi-source e-commerce data at any scale.
//!
//! Customers are generated in chunks on all cores; each chunk writes its own part file of
//! every table, and each customer draws from its own random streams, so the output is the same
//! bytes for the same seed and size whatever the machine. Files are written to a temporary
//! name and renamed, so an interrupted run never leaves a half-written part.

mod model;
mod raw;
mod rng;
mod vocab;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use datafusion::arrow::array::{
    ArrayRef, Date32Builder, Decimal128Builder, Int32Builder, Int64Builder, RecordBatch,
    StringBuilder, TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;

use self::model::{Customer, World};
use self::vocab::{CATEGORIES, CHANNELS, CITIES};
use crate::cli::GenArgs;
use crate::error::{PersonaError, Result};

/// Customers per chunk (one part file per table per chunk).
const CHUNK: u64 = 25_000;

/// Runs `persona gen`.
pub fn run(args: &GenArgs) -> Result<()> {
    if args.customers == 0 {
        return Err(PersonaError::Usage("--customers must be at least 1".into()));
    }
    if args.customers > 100_000_000 {
        return Err(PersonaError::Usage(
            "--customers is at most 100,000,000".into(),
        ));
    }
    if args.out.is_file() {
        return Err(PersonaError::Io {
            path: args.out.clone(),
            message: "is a file, expected a directory to write into".into(),
        });
    }
    std::fs::create_dir_all(&args.out).map_err(|e| PersonaError::io(&args.out, &e))?;
    let started = Instant::now();
    let world = World::new(args.seed, args.customers);
    if args.raw {
        raw::write(&world, &args.out)?;
    } else {
        write_clean(&world, &args.out)?;
    }
    eprintln!(
        "generated {} customers, {} orders in {:.1} s into {}",
        args.customers,
        world.order_offsets.last().copied().unwrap_or(0),
        started.elapsed().as_secs_f64(),
        args.out.display()
    );
    Ok(())
}

fn decimal(precision: u8) -> DataType {
    DataType::Decimal128(precision, 2)
}

fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, None)
}

fn money() -> Decimal128Builder {
    Decimal128Builder::new().with_data_type(decimal(12))
}

/// Writes `batch` to `path` as zstd Parquet, through a temporary file.
pub(crate) fn write_parquet(path: &Path, batch: &RecordBatch) -> Result<()> {
    let tmp = path.with_extension("parquet.tmp");
    let file = File::create(&tmp).map_err(|e| PersonaError::io(&tmp, &e))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(1).expect("valid level"),
        ))
        .set_max_row_group_row_count(Some(1 << 20))
        .build();
    let io = |e: datafusion::parquet::errors::ParquetError| PersonaError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let mut w = ArrowWriter::try_new(file, batch.schema(), Some(props)).map_err(io)?;
    w.write(batch).map_err(io)?;
    w.close().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(|e| PersonaError::io(path, &e))
}

fn batch(fields: Vec<Field>, columns: Vec<ArrayRef>) -> RecordBatch {
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        .expect("generated columns match their schema")
}

/// Runs `work(chunk)` for every chunk on all cores; the first error wins.
pub(crate) fn for_each_chunk(
    customers: u64,
    work: impl Fn(u64, u64, usize) -> Result<()> + Sync,
) -> Result<()> {
    let chunks = customers.div_ceil(CHUNK) as usize;
    let next = AtomicUsize::new(0);
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(chunks)
        .max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| -> Result<()> {
                    loop {
                        let k = next.fetch_add(1, Ordering::Relaxed);
                        if k >= chunks {
                            return Ok(());
                        }
                        let lo = k as u64 * CHUNK + 1;
                        let hi = ((k as u64 + 1) * CHUNK).min(customers);
                        work(lo, hi, k)?;
                    }
                })
            })
            .collect();
        handles.into_iter().try_for_each(|h| {
            h.join()
                .unwrap_or_else(|_| Err(PersonaError::Usage("a generator thread failed".into())))
        })
    })
}

fn table_dir(out: &Path, name: &str) -> Result<PathBuf> {
    let dir = out.join(name);
    std::fs::create_dir_all(&dir).map_err(|e| PersonaError::io(&dir, &e))?;
    Ok(dir)
}

const TABLES: [&str; 9] = [
    "customers",
    "products",
    "orders",
    "order_items",
    "events",
    "social",
    "feedback",
    "campaigns",
    "campaign_contacts",
];

fn write_clean(world: &World, out: &Path) -> Result<()> {
    for t in TABLES {
        table_dir(out, t)?;
    }
    write_products(world, &out.join("products/part-00000.parquet"))?;
    write_campaigns(world, &out.join("campaigns/part-00000.parquet"))?;
    for_each_chunk(world.customers, |lo, hi, k| {
        write_chunk(world, out, lo, hi, k)
    })?;
    let mut toml = String::from(
        "# Generated by `persona gen`: clean sample data, one folder of Parquet parts per table.\n\
         [project]\nname = \"generated\"\nas_of_column = \"orders.order_ts\"\n",
    );
    for t in TABLES {
        toml.push_str(&format!(
            "\n[[source]]\nname = \"{t}\"\npath = \"{t}\"\nformat = \"parquet\"\n"
        ));
    }
    let path = out.join("persona.toml");
    std::fs::write(&path, toml).map_err(|e| PersonaError::io(&path, &e))
}

fn write_products(world: &World, path: &Path) -> Result<()> {
    let mut id = Int64Builder::new();
    let mut name = StringBuilder::new();
    let mut category = StringBuilder::new();
    let mut brand = StringBuilder::new();
    let mut price = money();
    for p in &world.products {
        id.append_value(p.id);
        name.append_value(&p.name);
        category.append_value(CATEGORIES[p.category].0);
        brand.append_value(p.brand);
        price.append_value(p.price_cents as i128);
    }
    let b = batch(
        vec![
            Field::new("product_id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, false),
            Field::new("category", DataType::Utf8, false),
            Field::new("brand", DataType::Utf8, false),
            Field::new("price", decimal(12), false),
        ],
        vec![
            Arc::new(id.finish()),
            Arc::new(name.finish()),
            Arc::new(category.finish()),
            Arc::new(brand.finish()),
            Arc::new(price.finish()),
        ],
    );
    write_parquet(path, &b)
}

fn write_campaigns(world: &World, path: &Path) -> Result<()> {
    let mut id = Int64Builder::new();
    let mut name = StringBuilder::new();
    let mut channel = StringBuilder::new();
    let mut offer = StringBuilder::new();
    let mut start = Date32Builder::new();
    let mut end = Date32Builder::new();
    for c in &world.campaigns {
        id.append_value(c.id);
        name.append_value(c.name);
        channel.append_value(c.channel);
        offer.append_value(c.offer);
        start.append_value(c.start);
        end.append_value(c.end);
    }
    let b = batch(
        vec![
            Field::new("campaign_id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, false),
            Field::new("channel", DataType::Utf8, false),
            Field::new("offer", DataType::Utf8, false),
            Field::new("start_date", DataType::Date32, false),
            Field::new("end_date", DataType::Date32, false),
        ],
        vec![
            Arc::new(id.finish()),
            Arc::new(name.finish()),
            Arc::new(channel.finish()),
            Arc::new(offer.finish()),
            Arc::new(start.finish()),
            Arc::new(end.finish()),
        ],
    );
    write_parquet(path, &b)
}

/// Builders of the per-customer tables for one chunk.
#[derive(Default)]
struct ChunkTables {
    c_id: Int64Builder,
    c_name: StringBuilder,
    c_gender: StringBuilder,
    c_birth: Date32Builder,
    c_phone: StringBuilder,
    c_email: StringBuilder,
    c_city: StringBuilder,
    c_province: StringBuilder,
    c_signup: Date32Builder,
    c_channel: StringBuilder,
    o_id: Int64Builder,
    o_customer: Int64Builder,
    o_ts: TimestampMicrosecondBuilder,
    o_channel: StringBuilder,
    o_status: StringBuilder,
    o_gross: Option<Decimal128Builder>,
    o_discount: Option<Decimal128Builder>,
    o_amount: Option<Decimal128Builder>,
    o_items: Int32Builder,
    o_campaign: Int64Builder,
    i_order: Int64Builder,
    i_line: Int32Builder,
    i_product: Int64Builder,
    i_quantity: Int32Builder,
    i_price: Option<Decimal128Builder>,
    i_amount: Option<Decimal128Builder>,
    e_ts: TimestampMicrosecondBuilder,
    e_customer: Int64Builder,
    e_device: StringBuilder,
    e_session: StringBuilder,
    e_type: StringBuilder,
    e_product: Int64Builder,
    e_platform: StringBuilder,
    e_query: StringBuilder,
    s_id: Int64Builder,
    s_customer: Int64Builder,
    s_platform: StringBuilder,
    s_ts: TimestampMicrosecondBuilder,
    s_lang: StringBuilder,
    s_text: StringBuilder,
    s_likes: Int32Builder,
    s_shares: Int32Builder,
    f_id: Int64Builder,
    f_customer: Int64Builder,
    f_order: Int64Builder,
    f_ts: TimestampMicrosecondBuilder,
    f_rating: Int32Builder,
    f_nps: Int32Builder,
    f_text: StringBuilder,
    k_campaign: Int64Builder,
    k_customer: Int64Builder,
    k_group: StringBuilder,
    k_ts: TimestampMicrosecondBuilder,
}

fn m(b: &mut Option<Decimal128Builder>) -> &mut Decimal128Builder {
    b.get_or_insert_with(money)
}

impl ChunkTables {
    fn add(&mut self, world: &World, c: &Customer) {
        self.c_id.append_value(c.id);
        self.c_name.append_value(&c.name);
        self.c_gender
            .append_option(c.female.map(|f| if f { "F" } else { "M" }));
        self.c_birth.append_option(c.birth);
        self.c_phone.append_value(&c.phone);
        self.c_email.append_option(c.email.as_deref());
        self.c_city.append_value(CITIES[c.city].0);
        self.c_province.append_value(CITIES[c.city].1);
        self.c_signup.append_value(c.latent.signup);
        self.c_channel.append_value(CHANNELS[c.channel].0);

        let orders = world.orders(c);
        for o in &orders {
            self.o_id.append_value(o.id);
            self.o_customer.append_value(c.id);
            self.o_ts.append_value(o.ts);
            self.o_channel.append_value(o.channel);
            self.o_status.append_value(o.status);
            m(&mut self.o_gross).append_value(o.gross_cents as i128);
            m(&mut self.o_discount).append_value(o.discount_cents as i128);
            m(&mut self.o_amount).append_value((o.gross_cents - o.discount_cents) as i128);
            self.o_items.append_value(o.lines.iter().map(|l| l.1).sum());
            self.o_campaign.append_option(o.campaign);
            for (n, (p, q, price)) in o.lines.iter().enumerate() {
                self.i_order.append_value(o.id);
                self.i_line.append_value(n as i32 + 1);
                self.i_product.append_value(world.products[*p].id);
                self.i_quantity.append_value(*q);
                m(&mut self.i_price).append_value(*price as i128);
                m(&mut self.i_amount).append_value((*price * *q as i64) as i128);
            }
        }
        for e in world.events(c) {
            self.e_ts.append_value(e.ts);
            self.e_customer.append_option(e.customer);
            self.e_device.append_value(&c.devices[e.device].0);
            self.e_session.append_value(format!("{:016x}", e.session));
            self.e_type.append_value(e.kind);
            self.e_product
                .append_option(e.product.map(|p| world.products[p].id));
            self.e_platform.append_value(c.devices[e.device].1);
            self.e_query.append_option(e.query);
        }
        for (k, s) in world.comments(c).iter().enumerate() {
            self.s_id.append_value(c.id * 100 + k as i64);
            self.s_customer.append_value(c.id);
            self.s_platform.append_value(s.platform);
            self.s_ts.append_value(s.ts);
            self.s_lang
                .append_value(if c.english { "en" } else { "zh" });
            self.s_text.append_value(&s.text);
            self.s_likes.append_value(s.likes);
            self.s_shares.append_value(s.shares);
        }
        for f in world.feedback(c, &orders) {
            self.f_id.append_value(f.order);
            self.f_customer.append_value(c.id);
            self.f_order.append_value(f.order);
            self.f_ts.append_value(f.ts);
            self.f_rating.append_value(f.rating);
            self.f_nps.append_option(f.nps);
            self.f_text.append_option(f.text.as_deref());
        }
        for (i, treatment, _) in world.contacts(c.id, &c.latent) {
            let camp = &world.campaigns[i];
            self.k_campaign.append_value(camp.id);
            self.k_customer.append_value(c.id);
            self.k_group
                .append_value(if treatment { "treatment" } else { "control" });
            self.k_ts
                .append_value(camp.start as i64 * model::DAY_US + 10 * 3_600_000_000);
        }
    }

    fn write(mut self, out: &Path, k: usize) -> Result<()> {
        let part = |t: &str| out.join(t).join(format!("part-{k:05}.parquet"));
        let f = |n: &str, t: DataType, null: bool| Field::new(n, t, null);
        let dec = |b: &mut Option<Decimal128Builder>| -> ArrayRef { Arc::new(m(b).finish()) };
        write_parquet(
            &part("customers"),
            &batch(
                vec![
                    f("customer_id", DataType::Int64, false),
                    f("name", DataType::Utf8, false),
                    f("gender", DataType::Utf8, true),
                    f("birth_date", DataType::Date32, true),
                    f("phone", DataType::Utf8, false),
                    f("email", DataType::Utf8, true),
                    f("city", DataType::Utf8, false),
                    f("province", DataType::Utf8, false),
                    f("signup_date", DataType::Date32, false),
                    f("signup_channel", DataType::Utf8, false),
                ],
                vec![
                    Arc::new(self.c_id.finish()),
                    Arc::new(self.c_name.finish()),
                    Arc::new(self.c_gender.finish()),
                    Arc::new(self.c_birth.finish()),
                    Arc::new(self.c_phone.finish()),
                    Arc::new(self.c_email.finish()),
                    Arc::new(self.c_city.finish()),
                    Arc::new(self.c_province.finish()),
                    Arc::new(self.c_signup.finish()),
                    Arc::new(self.c_channel.finish()),
                ],
            ),
        )?;
        write_parquet(
            &part("orders"),
            &batch(
                vec![
                    f("order_id", DataType::Int64, false),
                    f("customer_id", DataType::Int64, false),
                    f("order_ts", ts_type(), false),
                    f("channel", DataType::Utf8, false),
                    f("status", DataType::Utf8, false),
                    f("gross_amount", decimal(12), false),
                    f("discount", decimal(12), false),
                    f("amount", decimal(12), false),
                    f("item_count", DataType::Int32, false),
                    f("campaign_id", DataType::Int64, true),
                ],
                vec![
                    Arc::new(self.o_id.finish()),
                    Arc::new(self.o_customer.finish()),
                    Arc::new(self.o_ts.finish()),
                    Arc::new(self.o_channel.finish()),
                    Arc::new(self.o_status.finish()),
                    dec(&mut self.o_gross),
                    dec(&mut self.o_discount),
                    dec(&mut self.o_amount),
                    Arc::new(self.o_items.finish()),
                    Arc::new(self.o_campaign.finish()),
                ],
            ),
        )?;
        write_parquet(
            &part("order_items"),
            &batch(
                vec![
                    f("order_id", DataType::Int64, false),
                    f("line_no", DataType::Int32, false),
                    f("product_id", DataType::Int64, false),
                    f("quantity", DataType::Int32, false),
                    f("unit_price", decimal(12), false),
                    f("amount", decimal(12), false),
                ],
                vec![
                    Arc::new(self.i_order.finish()),
                    Arc::new(self.i_line.finish()),
                    Arc::new(self.i_product.finish()),
                    Arc::new(self.i_quantity.finish()),
                    dec(&mut self.i_price),
                    dec(&mut self.i_amount),
                ],
            ),
        )?;
        write_parquet(
            &part("events"),
            &batch(
                vec![
                    f("event_ts", ts_type(), false),
                    f("customer_id", DataType::Int64, true),
                    f("device_id", DataType::Utf8, false),
                    f("session_id", DataType::Utf8, false),
                    f("event_type", DataType::Utf8, false),
                    f("product_id", DataType::Int64, true),
                    f("platform", DataType::Utf8, false),
                    f("search_query", DataType::Utf8, true),
                ],
                vec![
                    Arc::new(self.e_ts.finish()),
                    Arc::new(self.e_customer.finish()),
                    Arc::new(self.e_device.finish()),
                    Arc::new(self.e_session.finish()),
                    Arc::new(self.e_type.finish()),
                    Arc::new(self.e_product.finish()),
                    Arc::new(self.e_platform.finish()),
                    Arc::new(self.e_query.finish()),
                ],
            ),
        )?;
        write_parquet(
            &part("social"),
            &batch(
                vec![
                    f("comment_id", DataType::Int64, false),
                    f("customer_id", DataType::Int64, false),
                    f("platform", DataType::Utf8, false),
                    f("created_at", ts_type(), false),
                    f("lang", DataType::Utf8, false),
                    f("text", DataType::Utf8, false),
                    f("likes", DataType::Int32, false),
                    f("shares", DataType::Int32, false),
                ],
                vec![
                    Arc::new(self.s_id.finish()),
                    Arc::new(self.s_customer.finish()),
                    Arc::new(self.s_platform.finish()),
                    Arc::new(self.s_ts.finish()),
                    Arc::new(self.s_lang.finish()),
                    Arc::new(self.s_text.finish()),
                    Arc::new(self.s_likes.finish()),
                    Arc::new(self.s_shares.finish()),
                ],
            ),
        )?;
        write_parquet(
            &part("feedback"),
            &batch(
                vec![
                    f("feedback_id", DataType::Int64, false),
                    f("customer_id", DataType::Int64, false),
                    f("order_id", DataType::Int64, false),
                    f("created_at", ts_type(), false),
                    f("rating", DataType::Int32, false),
                    f("nps", DataType::Int32, true),
                    f("comment", DataType::Utf8, true),
                ],
                vec![
                    Arc::new(self.f_id.finish()),
                    Arc::new(self.f_customer.finish()),
                    Arc::new(self.f_order.finish()),
                    Arc::new(self.f_ts.finish()),
                    Arc::new(self.f_rating.finish()),
                    Arc::new(self.f_nps.finish()),
                    Arc::new(self.f_text.finish()),
                ],
            ),
        )?;
        write_parquet(
            &part("campaign_contacts"),
            &batch(
                vec![
                    f("campaign_id", DataType::Int64, false),
                    f("customer_id", DataType::Int64, false),
                    f("test_group", DataType::Utf8, false),
                    f("contacted_at", ts_type(), false),
                ],
                vec![
                    Arc::new(self.k_campaign.finish()),
                    Arc::new(self.k_customer.finish()),
                    Arc::new(self.k_group.finish()),
                    Arc::new(self.k_ts.finish()),
                ],
            ),
        )
    }
}

fn write_chunk(world: &World, out: &Path, lo: u64, hi: u64, k: usize) -> Result<()> {
    let mut t = ChunkTables::default();
    for id in lo..=hi {
        t.add(world, &world.customer(id as i64));
    }
    t.write(out, k)
}
