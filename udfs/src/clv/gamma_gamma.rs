//! The Gamma-Gamma model of spend per transaction (Fader, Hardie & Lee 2005, "RFM and CLV:
//! Using Iso-Value Curves for Customer Base Analysis"): its log-likelihood, fit and the
//! conditional expected average spend.
//!
//! Customers are summarised as (x, m): repeat purchases and their mean value; only customers
//! with x > 0 and m > 0 carry information.

use super::math::{Fitted, digamma, fit_log_params_with_gradient, ln_gamma};

/// Fitted Gamma-Gamma parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GammaGamma {
    pub p: f64,
    pub q: f64,
    pub v: f64,
}

impl GammaGamma {
    /// Log-likelihood of one customer's mean spend `m` over `x` transactions.
    pub fn log_likelihood(&self, x: f64, m: f64) -> f64 {
        let GammaGamma { p, q, v } = *self;
        let px = p * x;
        ln_gamma(px + q) - ln_gamma(px) - ln_gamma(q)
            + q * v.ln()
            + (px - 1.0) * m.ln()
            + px * x.ln()
            - (px + q) * (x * m + v).ln()
    }

    /// E[mean spend | x, m]: a weighted mean of the population mean and the customer's own.
    pub fn expected_spend(&self, x: f64, m: f64) -> Option<f64> {
        let GammaGamma { p, q, v } = *self;
        let denominator = p * x + q - 1.0;
        (denominator > 0.0).then(|| p * (v + x * m) / denominator)
    }
}

/// Customer summaries arranged for fast likelihood sums: the terms that depend only on x (three
/// log-gammas and two digammas) are computed once per distinct x per evaluation; per customer
/// what stays is one log and one division. Identical (x, m) are one row with a weight.
struct Summary {
    xs: Vec<f64>,
    /// Per distinct customer: index into `xs`, ln m, x·m, and the count.
    rows: Vec<(u32, f64, f64, f64)>,
}

impl Summary {
    fn new(data: &[(f64, f64)]) -> Self {
        let mut sorted = data.to_vec();
        sorted.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
        let mut xs: Vec<f64> = sorted.iter().map(|d| d.0).collect();
        xs.dedup();
        let mut rows: Vec<(u32, f64, f64, f64)> = Vec::new();
        let mut last: Option<(f64, f64)> = None;
        for &(x, m) in &sorted {
            match rows.last_mut() {
                Some(row) if last == Some((x, m)) => row.3 += 1.0,
                _ => rows.push((xs.partition_point(|&u| u < x) as u32, m.ln(), x * m, 1.0)),
            }
            last = Some((x, m));
        }
        Summary { xs, rows }
    }

    /// The log-likelihood of all customers (the sum of [`GammaGamma::log_likelihood`]) and its
    /// gradient in (p, q, v).
    fn log_likelihood(&self, gg: &GammaGamma) -> (f64, [f64; 3]) {
        let GammaGamma { p, q, v } = *gg;
        let (ln_v, psi_q, ln_gamma_q) = (v.ln(), digamma(q), ln_gamma(q));
        // Per distinct x: the x-only part of the value, and of d/dp and d/dq.
        let per_x: Vec<(f64, f64, f64, f64, f64)> = self
            .xs
            .iter()
            .map(|&x| {
                let px = p * x;
                let (psi_pxq, psi_px) = (digamma(px + q), digamma(px));
                let head = ln_gamma(px + q) - ln_gamma(px) - ln_gamma_q + q * ln_v + px * x.ln();
                (
                    head,
                    x * (psi_pxq - psi_px + x.ln()),
                    psi_pxq - psi_q + ln_v,
                    px,
                    x,
                )
            })
            .collect();
        let mut acc = [0.0; 4];
        for &(i, ln_m, xm, w) in &self.rows {
            let (head, dp_x, dq_x, px, x) = per_x[i as usize];
            let l = (xm + v).ln();
            acc[0] += w * (head + (px - 1.0) * ln_m - (px + q) * l);
            acc[1] += w * (dp_x + x * (ln_m - l));
            acc[2] += w * (dq_x - l);
            acc[3] += w * (q / v - (px + q) / (xm + v));
        }
        (acc[0], [acc[1], acc[2], acc[3]])
    }
}

/// Fits Gamma-Gamma by maximum likelihood over customers with x > 0 and m > 0: BFGS on the
/// log-parameters with the analytic gradient, Nelder–Mead where BFGS stalls.
pub fn fit(data: &[(f64, f64)]) -> Option<Fitted<GammaGamma>> {
    if data.is_empty() {
        return None;
    }
    let summary = Summary::new(data);
    let params = |t: &[f64]| GammaGamma {
        p: t[0].exp(),
        q: t[1].exp(),
        v: t[2].exp(),
    };
    let value_and_gradient = |theta: &[f64]| {
        let gg = params(theta);
        let (ll, g) = summary.log_likelihood(&gg);
        let scaled = [gg.p, gg.q, gg.v];
        (-ll, g.iter().zip(scaled).map(|(g, s)| -g * s).collect())
    };
    let x0 = [0.0, 0.0, 0.0];
    let fit = fit_log_params_with_gradient(value_and_gradient, &x0);
    Some(fit.map(|p| GammaGamma {
        p: p[0],
        q: p[1],
        v: p[2],
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clv::math::fit_log_params;

    #[test]
    fn expected_spend_shrinks_towards_the_population_mean() {
        let gg = GammaGamma {
            p: 6.25,
            q: 3.74,
            v: 15.44,
        };
        let population = gg.p * gg.v / (gg.q - 1.0);
        let one = gg.expected_spend(1.0, 100.0).unwrap();
        let many = gg.expected_spend(20.0, 100.0).unwrap();
        assert!(
            population < one && one < many && many < 100.0,
            "{population} {one} {many}"
        );
        assert_eq!(
            GammaGamma {
                p: 0.1,
                q: 0.5,
                v: 1.0
            }
            .expected_spend(1.0, 5.0),
            None
        );
    }

    #[test]
    fn summed_likelihood_and_gradient_match_the_per_customer_one() {
        let gg = GammaGamma {
            p: 6.25,
            q: 3.74,
            v: 15.44,
        };
        let data: Vec<(f64, f64)> = (0..5_000)
            .map(|i| ((1 + i % 9) as f64, 5.0 + (i % 37) as f64 * 1.5))
            .collect();
        let summary = Summary::new(&data);
        let direct: f64 = data.iter().map(|&(x, m)| gg.log_likelihood(x, m)).sum();
        let (fast, g) = summary.log_likelihood(&gg);
        assert!(
            (direct - fast).abs() < 1e-9 * direct.abs(),
            "{direct} {fast}"
        );
        let at = |k: usize, h: f64| {
            let mut v = [gg.p, gg.q, gg.v];
            v[k] += h;
            summary
                .log_likelihood(&GammaGamma {
                    p: v[0],
                    q: v[1],
                    v: v[2],
                })
                .0
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

    /// On the CDNOW repeat buyers, BFGS on the analytic gradient lands where Nelder–Mead (the
    /// method before it, still the fallback) lands: the log-likelihood within 1e-9 (and never
    /// below it: Nelder–Mead stops a little short, so parameters differ by up to 3e-6), and on
    /// the published p = 6.25, q = 3.74, v = 15.44 within 0.5%.
    #[test]
    fn bfgs_finds_the_nelder_mead_optimum() {
        let text =
            include_str!("../../../datasets/cdnow/cdnow_customers_summary_with_transactions.csv");
        let data: Vec<(f64, f64)> = text
            .lines()
            .skip(1)
            .filter_map(|l| {
                let f: Vec<f64> = l.split(',').filter_map(|v| v.parse().ok()).collect();
                (f.len() == 5 && f[1] > 0.0 && f[4] > 0.0).then(|| (f[1], f[4]))
            })
            .collect();
        assert_eq!(data.len(), 946);
        let fast = fit(&data).unwrap();
        let summary = Summary::new(&data);
        let slow = fit_log_params(
            |t: &[f64]| {
                -summary
                    .log_likelihood(&GammaGamma {
                        p: t[0].exp(),
                        q: t[1].exp(),
                        v: t[2].exp(),
                    })
                    .0
            },
            &[0.0, 0.0, 0.0],
        );
        assert!(fast.converged);
        let f = [fast.params.p, fast.params.q, fast.params.v];
        for (a, b) in f.iter().zip(&slow.params) {
            assert!((a / b - 1.0).abs() < 1e-5, "{f:?} {:?}", slow.params);
        }
        let (a, b) = (fast.log_likelihood, slow.log_likelihood);
        assert!(a >= b - 1e-9 && (a - b).abs() < 1e-9 * b.abs(), "{a} {b}");
        for (a, b) in f.iter().zip([6.25, 3.74, 15.44]) {
            assert!((a / b - 1.0).abs() < 5e-3, "{f:?}");
        }
    }
}
