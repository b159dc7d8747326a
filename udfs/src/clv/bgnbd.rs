//! The BG/NBD model of Fader, Hardie & Lee (2005), "Counting Your Customers the Easy Way":
//! its log-likelihood, maximum-likelihood fit, conditional expected purchases and P(alive).
//!
//! Customers are summarised as (x, t_x, T): repeat purchases, the time of the last one, and
//! the time observed, all measured from each customer's first purchase in one time unit.

use super::math::{fit_log_params, hyp2f1, ln_gamma};

/// Fitted BG/NBD parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BgNbd {
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
}

/// A fit and how it went.
#[derive(Debug, Clone, Copy)]
pub struct Fit {
    pub params: BgNbd,
    pub log_likelihood: f64,
    pub converged: bool,
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

/// Fits BG/NBD to customer summaries by maximum likelihood (Nelder–Mead on log-parameters).
/// `None` when there is nothing to fit.
pub fn fit(data: &[(f64, f64, f64)]) -> Option<Fit> {
    if data.is_empty() {
        return None;
    }
    let negative_ll = |p: &[f64]| {
        let params = BgNbd {
            r: p[0].exp(),
            alpha: p[1].exp(),
            a: p[2].exp(),
            b: p[3].exp(),
        };
        -data
            .iter()
            .map(|&(x, t_x, t)| params.log_likelihood(x, t_x, t))
            .sum::<f64>()
    };
    // Start from the method-of-moments scale of alpha: the mean observation time.
    let mean_t = data.iter().map(|d| d.2).sum::<f64>() / data.len() as f64;
    let x0 = [0.0, mean_t.max(1e-3).ln(), 0.0, 0.0];
    let f = fit_log_params(negative_ll, &x0);
    let params = BgNbd {
        r: f.params[0],
        alpha: f.params[1],
        a: f.params[2],
        b: f.params[3],
    };
    Some(Fit {
        params,
        log_likelihood: f.log_likelihood,
        converged: f.converged,
    })
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
    fn p_alive_is_one_without_repeat_purchases() {
        assert_eq!(CDNOW.p_alive(0.0, 0.0, 30.0), 1.0);
        let p = CDNOW.p_alive(2.0, 30.43, 38.86);
        assert!(p > 0.5 && p < 1.0, "{p}");
    }
}
