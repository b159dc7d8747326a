//! The Gamma-Gamma model of spend per transaction (Fader, Hardie & Lee 2005, "RFM and CLV:
//! Using Iso-Value Curves for Customer Base Analysis"): its log-likelihood, fit and the
//! conditional expected average spend.
//!
//! Customers are summarised as (x, m): repeat purchases and their mean value; only customers
//! with x > 0 and m > 0 carry information.

use super::math::{Fitted, fit_log_params, ln_gamma};

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

/// Fits Gamma-Gamma by maximum likelihood over customers with x > 0 and m > 0.
pub fn fit(data: &[(f64, f64)]) -> Option<Fitted<GammaGamma>> {
    if data.is_empty() {
        return None;
    }
    let negative_ll = |p: &[f64]| {
        let params = GammaGamma {
            p: p[0].exp(),
            q: p[1].exp(),
            v: p[2].exp(),
        };
        -data
            .iter()
            .map(|&(x, m)| params.log_likelihood(x, m))
            .sum::<f64>()
    };
    let fit = fit_log_params(negative_ll, &[0.0, 0.0, 0.0]);
    Some(fit.map(|p| GammaGamma {
        p: p[0],
        q: p[1],
        v: p[2],
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
