//! The BG/NBD model of Fader, Hardie & Lee (2005), "Counting Your Customers the Easy Way":
//! its log-likelihood, maximum-likelihood fit, conditional expected purchases and P(alive).
//!
//! Customers are summarised as (x, t_x, T): repeat purchases, the time of the last one, and
//! the time observed, all measured from each customer's first purchase in one time unit.

use super::math::{Fitted, digamma, fit_log_params_with_gradient, hyp2f1, ln_gamma};

/// Fitted BG/NBD parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BgNbd {
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
}

impl BgNbd {
    /// Log-likelihood of one customer (eq. 6 of the paper, in the log-sum-exp form).
    pub fn log_likelihood(&self, x: f64, t_x: f64, t: f64) -> f64 {
        let BgNbd { r, alpha, a, b } = *self;
        let a1 = ln_gamma(r + x) - ln_gamma(r) + r * alpha.ln();
        let a2 = ln_gamma(a + b) + ln_gamma(b + x) - ln_gamma(b) - ln_gamma(a + b + x);
        let a3 = -(r + x) * (alpha + t).ln();
        if x > 0.0 {
            let a4 = a.ln() - (b + x - 1.0).ln() - (r + x) * (alpha + t_x).ln();
            let m = a3.max(a4);
            a1 + a2 + m + ((a3 - m).exp() + (a4 - m).exp()).ln()
        } else {
            a1 + a2 + a3
        }
    }

    /// P(alive | x, t_x, T).
    pub fn p_alive(&self, x: f64, t_x: f64, t: f64) -> f64 {
        if x <= 0.0 {
            return 1.0;
        }
        let BgNbd { r, alpha, a, b } = *self;
        1.0 / (1.0 + a / (b + x - 1.0) * ((alpha + t) / (alpha + t_x)).powf(r + x))
    }

    /// Expected purchases in the next `horizon` time units given (x, t_x, T) (eq. 10).
    pub fn expected_purchases(&self, horizon: f64, x: f64, t_x: f64, t: f64) -> Option<f64> {
        let BgNbd { r, alpha, a, b } = *self;
        // The closed form divides by a − 1; for a < 1 both factors change sign together.
        if (a - 1.0).abs() < 1e-12 {
            return None;
        }
        let z = horizon / (alpha + t + horizon);
        let f = hyp2f1(r + x, b + x, a + b + x - 1.0, z)?;
        let first = (a + b + x - 1.0) / (a - 1.0);
        let second = 1.0 - ((alpha + t) / (alpha + t + horizon)).powf(r + x) * f;
        let denominator = if x > 0.0 {
            1.0 + a / (b + x - 1.0) * ((alpha + t) / (alpha + t_x)).powf(r + x)
        } else {
            1.0
        };
        Some(first * second / denominator)
    }
}

/// Customer summaries arranged for fast likelihood sums. Customers with the same (x, t_x, T)
/// are one row with a weight (all one-time buyers of a day are alike); the terms that depend
/// only on x (four log-gammas and a log) are computed once per distinct x, and ln(alpha + t)
/// once per distinct t_x and T, per evaluation, not once per customer; the per-row rest (one
/// exp and one ln_1p) is summed on all cores.
struct Summary {
    /// Distinct repeat-purchase counts.
    xs: Vec<f64>,
    /// Distinct values of t_x and of T together.
    times: Vec<f64>,
    /// Per distinct customer: index into `xs`, into `times` for t_x and for T, and the count.
    rows: Vec<(u32, u32, u32, f64)>,
}

fn distinct(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v.dedup();
    v
}

impl Summary {
    fn new(data: &[(f64, f64, f64)]) -> Self {
        let mut sorted = data.to_vec();
        sorted.sort_by(|a, b| {
            a.0.total_cmp(&b.0)
                .then(a.1.total_cmp(&b.1))
                .then(a.2.total_cmp(&b.2))
        });
        let xs = distinct(data.iter().map(|d| d.0).collect());
        let times = distinct(data.iter().flat_map(|d| [d.1, d.2]).collect());
        let index = |v: &[f64], x: f64| v.partition_point(|&u| u < x) as u32;
        let mut rows: Vec<(u32, u32, u32, f64)> = Vec::new();
        let mut last: Option<(f64, f64, f64)> = None;
        for &(x, t_x, t) in &sorted {
            match rows.last_mut() {
                Some(row) if last == Some((x, t_x, t)) => row.3 += 1.0,
                _ => rows.push((index(&xs, x), index(&times, t_x), index(&times, t), 1.0)),
            }
            last = Some((x, t_x, t));
        }
        Summary { xs, times, rows }
    }

    /// The log-likelihood of all customers (the same sum as [`BgNbd::log_likelihood`] per
    /// row) and its gradient in (r, alpha, a, b). The last term of each row, a log-sum of two
    /// exponentials, differentiates into the two terms' derivatives weighted by their shares.
    fn log_likelihood(&self, p: &BgNbd) -> (f64, [f64; 4]) {
        let BgNbd { r, alpha, a, b } = *p;
        let base = -ln_gamma(r) + r * alpha.ln() + ln_gamma(a + b) - ln_gamma(b);
        let (psi_r, psi_ab, psi_b) = (digamma(r), digamma(a + b), digamma(b));
        // Per distinct x: the x-only parts of the value and of the four derivatives.
        let per_x: Vec<PerX> = self
            .xs
            .iter()
            .map(|&x| PerX {
                head: base + ln_gamma(r + x) + ln_gamma(b + x) - ln_gamma(a + b + x),
                ln_a4: if x > 0.0 {
                    a.ln() - (b + x - 1.0).ln()
                } else {
                    f64::NAN
                },
                rx: r + x,
                d_r: digamma(r + x) - psi_r + alpha.ln(),
                d_a: psi_ab - digamma(a + b + x),
                d_b: psi_ab + digamma(b + x) - psi_b - digamma(a + b + x),
                inv_bx1: if x > 0.0 { 1.0 / (b + x - 1.0) } else { 0.0 },
                repeat: x > 0.0,
            })
            .collect();
        let ln_times: Vec<f64> = self.times.iter().map(|&t| (alpha + t).ln()).collect();
        let inv_times: Vec<f64> = self.times.iter().map(|&t| 1.0 / (alpha + t)).collect();
        let part = |rows: &[(u32, u32, u32, f64)]| -> [f64; 5] {
            let mut acc = [0.0; 5];
            for &(i, tx, t, weight) in rows {
                let px = &per_x[i as usize];
                let (l_t, i_t) = (ln_times[t as usize], inv_times[t as usize]);
                let a3 = -px.rx * l_t;
                // Share of the "alive at T" term (w3) and of the "dropped after t_x" one.
                let (tail, w3, l_tx, i_tx) = if px.repeat {
                    let (l_tx, i_tx) = (ln_times[tx as usize], inv_times[tx as usize]);
                    let a4 = px.ln_a4 - px.rx * l_tx;
                    let (hi, lo) = if a3 > a4 { (a3, a4) } else { (a4, a3) };
                    let e = (lo - hi).exp();
                    let w_hi = 1.0 / (1.0 + e);
                    let w3 = if a3 > a4 { w_hi } else { 1.0 - w_hi };
                    (hi + e.ln_1p(), w3, l_tx, i_tx)
                } else {
                    (a3, 1.0, 0.0, 0.0)
                };
                let w4 = 1.0 - w3;
                acc[0] += weight * (px.head + tail);
                acc[1] += weight * (px.d_r - w3 * l_t - w4 * l_tx);
                acc[2] += weight * (r / alpha - px.rx * (w3 * i_t + w4 * i_tx));
                acc[3] += weight * (px.d_a + w4 / a);
                acc[4] += weight * (px.d_b - w4 * px.inv_bx1);
            }
            acc
        };
        // Below this many rows a thread costs more than it saves.
        const PARALLEL_FROM: usize = 50_000;
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let sums = if self.rows.len() < PARALLEL_FROM || threads < 2 {
            part(&self.rows)
        } else {
            let chunk = self.rows.len().div_ceil(threads);
            std::thread::scope(|s| {
                let handles: Vec<_> = self
                    .rows
                    .chunks(chunk)
                    .map(|c| s.spawn(move || part(c)))
                    .collect();
                handles.into_iter().fold([0.0; 5], |mut total, h| {
                    let part = h.join().unwrap_or([f64::NAN; 5]);
                    total.iter_mut().zip(part).for_each(|(t, v)| *t += v);
                    total
                })
            })
        };
        (sums[0], [sums[1], sums[2], sums[3], sums[4]])
    }
}

/// The parts of a row's likelihood and gradient that depend only on its x.
struct PerX {
    head: f64,
    ln_a4: f64,
    rx: f64,
    d_r: f64,
    d_a: f64,
    d_b: f64,
    inv_bx1: f64,
    repeat: bool,
}

/// Fits BG/NBD to customer summaries by maximum likelihood (Nelder–Mead on log-parameters).
/// `None` when there is nothing to fit.
pub fn fit(data: &[(f64, f64, f64)]) -> Option<Fitted<BgNbd>> {
    if data.is_empty() {
        return None;
    }
    let summary = Summary::new(data);
    let params = |p: &[f64]| BgNbd {
        r: p[0].exp(),
        alpha: p[1].exp(),
        a: p[2].exp(),
        b: p[3].exp(),
    };
    // Start from the method-of-moments scale of alpha: the mean observation time.
    let mean_t = data.iter().map(|d| d.2).sum::<f64>() / data.len() as f64;
    let x0 = [0.0, mean_t.max(1e-3).ln(), 0.0, 0.0];
    // BFGS on the log-parameters with the analytic gradient (d/dθ = p d/dp) needs a few dozen
    // passes over the customers; Nelder–Mead, the fallback when BFGS stalls, needs hundreds.
    let value_and_gradient = |theta: &[f64]| {
        let p = params(theta);
        let (ll, g) = summary.log_likelihood(&p);
        let scaled = [p.r, p.alpha, p.a, p.b];
        (-ll, g.iter().zip(scaled).map(|(g, s)| -g * s).collect())
    };
    let fit = fit_log_params_with_gradient(value_and_gradient, &x0);
    Some(fit.map(|p| BgNbd {
        r: p[0],
        alpha: p[1],
        a: p[2],
        b: p[3],
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The published parameters on the CDNOW sample (Fader, Hardie & Lee 2005).
    const CDNOW: BgNbd = BgNbd {
        r: 0.243,
        alpha: 4.414,
        a: 0.793,
        b: 2.426,
    };

    #[test]
    fn conditional_expectation_matches_the_paper() {
        // Customer with x = 2, t_x = 30.43, T = 38.86: 1.226 purchases in the next 39 weeks.
        let e = CDNOW.expected_purchases(39.0, 2.0, 30.43, 38.86).unwrap();
        assert!((e - 1.226).abs() < 0.0015, "{e}");
    }

    #[test]
    fn summed_likelihood_equals_the_per_customer_one() {
        let data: Vec<(f64, f64, f64)> = (0..60_000)
            .map(|i| {
                (
                    (i % 7) as f64,
                    (i % 30) as f64 * 0.5,
                    20.0 + (i % 13) as f64,
                )
            })
            .collect();
        let direct: f64 = data
            .iter()
            .map(|&(x, t_x, t)| CDNOW.log_likelihood(x, t_x, t))
            .sum();
        let fast = Summary::new(&data).log_likelihood(&CDNOW).0;
        assert!(
            (direct - fast).abs() < 1e-9 * direct.abs(),
            "{direct} {fast}"
        );
    }

    #[test]
    fn the_gradient_matches_finite_differences() {
        let data: Vec<(f64, f64, f64)> = (0..500)
            .map(|i| {
                (
                    (i % 5) as f64,
                    (i % 5) as f64 * 3.0 + (i % 7) as f64,
                    40.0 + (i % 11) as f64,
                )
            })
            .collect();
        let summary = Summary::new(&data);
        let (_, g) = summary.log_likelihood(&CDNOW);
        let at = |k: usize, h: f64| {
            let mut v = [CDNOW.r, CDNOW.alpha, CDNOW.a, CDNOW.b];
            v[k] += h;
            let p = BgNbd {
                r: v[0],
                alpha: v[1],
                a: v[2],
                b: v[3],
            };
            summary.log_likelihood(&p).0
        };
        for (k, g) in g.iter().enumerate() {
            let h = 1e-6;
            let numeric = (at(k, h) - at(k, -h)) / (2.0 * h);
            assert!(
                (g - numeric).abs() < 1e-5 * (1.0 + numeric.abs()),
                "{k}: {g} {numeric}"
            );
        }
    }

    #[test]
    fn p_alive_is_one_without_repeat_purchases() {
        assert_eq!(CDNOW.p_alive(0.0, 0.0, 30.0), 1.0);
        let p = CDNOW.p_alive(2.0, 30.43, 38.86);
        assert!(p > 0.5 && p < 1.0, "{p}");
    }
}
