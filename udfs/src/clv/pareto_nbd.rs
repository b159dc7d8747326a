//! The Pareto/NBD model of Schmittlein, Morrison & Colombo (1987), in the form of Fader &
//! Hardie's note "A Note on Deriving the Pareto/NBD Model and Related Expressions" (2005): its
//! log-likelihood, maximum-likelihood fit, P(alive) and conditional expected purchases.
//!
//! Customers are summarised as (x, t_x, T), as for BG/NBD. Where BG/NBD lets a customer drop
//! out only right after a purchase, Pareto/NBD lets them drop out at any moment (an exponential
//! lifetime with a gamma-distributed rate: parameters s and beta).

use super::math::{Fitted, fit_log_params, hyp2f1, ln_gamma};

/// Fitted Pareto/NBD parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParetoNbd {
    pub r: f64,
    pub alpha: f64,
    pub s: f64,
    pub beta: f64,
}

impl ParetoNbd {
    /// The parameters from `[r, alpha, s, beta]`.
    pub fn from_slice(p: &[f64]) -> Self {
        ParetoNbd {
            r: p[0],
            alpha: p[1],
            s: p[2],
            beta: p[3],
        }
    }

    /// ln A₀ of the note (eq. 19 and 20): the integral over the customer's unobserved dropout
    /// time between t_x and T, through ₂F₁ on the smaller of alpha and beta. `None` when the
    /// series does not settle.
    fn ln_a0(&self, x: f64, t_x: f64, t: f64) -> Option<f64> {
        let ParetoNbd { r, alpha, s, beta } = *self;
        let (max, min, b) = if alpha >= beta {
            (alpha, beta, s + 1.0)
        } else {
            (beta, alpha, r + x)
        };
        let rsx = r + s + x;
        let (q1, q2) = (max + t_x, max + t);
        let p1 = hyp2f1(rsx, b, rsx + 1.0, (max - min) / q1)?;
        let p2 = hyp2f1(rsx, b, rsx + 1.0, (max - min) / q2)?;
        // ln(p1 / q1^rsx − p2 / q2^rsx), kept in logs: both terms underflow for large x.
        let l1 = p1.ln() - rsx * q1.ln();
        let l2 = p2.ln() - rsx * q2.ln();
        if l2 >= l1 {
            // t_x = T: nothing between the last purchase and the end to integrate over.
            return Some(f64::NEG_INFINITY);
        }
        Some(l1 + (-(l2 - l1).exp()).ln_1p())
    }

    /// Log-likelihood of one customer (eq. 22 of the note).
    pub fn log_likelihood(&self, x: f64, t_x: f64, t: f64) -> f64 {
        let ParetoNbd { r, alpha, s, beta } = *self;
        let Some(ln_a0) = self.ln_a0(x, t_x, t) else {
            return f64::NAN;
        };
        let a1 = ln_gamma(r + x) - ln_gamma(r) + r * alpha.ln() + s * beta.ln();
        let alive = -(r + x) * (alpha + t).ln() - s * (beta + t).ln();
        let dropped = s.ln() - (r + s + x).ln() + ln_a0;
        a1 + log_add_exp(alive, dropped)
    }

    /// P(alive | x, t_x, T) (eq. 18 of the note).
    pub fn p_alive(&self, x: f64, t_x: f64, t: f64) -> Option<f64> {
        let ParetoNbd { r, alpha, s, beta } = *self;
        let ln_a0 = self.ln_a0(x, t_x, t)?;
        let ratio =
            s.ln() - (r + s + x).ln() + (r + x) * (alpha + t).ln() + s * (beta + t).ln() + ln_a0;
        Some(1.0 / (1.0 + ratio.exp()))
    }

    /// Expected purchases in the next `horizon` time units given (x, t_x, T) (eq. 25 of the
    /// note).
    pub fn expected_purchases(&self, horizon: f64, x: f64, t_x: f64, t: f64) -> Option<f64> {
        let ParetoNbd { r, alpha, s, beta } = *self;
        let ll = self.log_likelihood(x, t_x, t);
        if !ll.is_finite() {
            return None;
        }
        let first = ln_gamma(r + x) - ln_gamma(r) + r * alpha.ln() + s * beta.ln()
            - (r + x) * (alpha + t).ln()
            - s * (beta + t).ln();
        let second = (r + x).ln() + (beta + t).ln() - (alpha + t).ln();
        let ratio = (beta + t) / (beta + t + horizon);
        // (1 − ratio^(s−1)) / (s − 1), which tends to −ln(ratio) as s → 1.
        let third = if (s - 1.0).abs() < 1e-9 {
            -ratio.ln()
        } else {
            (1.0 - ratio.powf(s - 1.0)) / (s - 1.0)
        };
        Some((first + second + third.ln() - ll).exp())
    }
}

fn log_add_exp(a: f64, b: f64) -> f64 {
    let m = a.max(b);
    if m == f64::NEG_INFINITY {
        return m;
    }
    m + ((a - m).exp() + (b - m).exp()).ln()
}

/// Fits Pareto/NBD to customer summaries by maximum likelihood (Nelder–Mead on
/// log-parameters). `None` when there is nothing to fit.
pub fn fit(data: &[(f64, f64, f64)]) -> Option<Fitted<ParetoNbd>> {
    if data.is_empty() {
        return None;
    }
    let negative_ll = |p: &[f64]| {
        let params = ParetoNbd {
            r: p[0].exp(),
            alpha: p[1].exp(),
            s: p[2].exp(),
            beta: p[3].exp(),
        };
        -data
            .iter()
            .map(|&(x, t_x, t)| params.log_likelihood(x, t_x, t))
            .sum::<f64>()
    };
    let mean_t = data.iter().map(|d| d.2).sum::<f64>() / data.len() as f64;
    let scale = mean_t.max(1e-3).ln();
    let fit = fit_log_params(negative_ll, &[0.0, scale, 0.0, scale]);
    Some(fit.map(|p| ParetoNbd {
        r: p[0],
        alpha: p[1],
        s: p[2],
        beta: p[3],
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The published parameters on the CDNOW sample (Fader, Hardie & Lee 2005).
    const CDNOW: ParetoNbd = ParetoNbd {
        r: 0.553,
        alpha: 10.578,
        s: 0.606,
        beta: 11.669,
    };

    #[test]
    fn p_alive_falls_with_silence_and_is_a_probability() {
        let recent = CDNOW.p_alive(2.0, 38.0, 38.86).unwrap();
        let silent = CDNOW.p_alive(2.0, 5.0, 38.86).unwrap();
        assert!(
            0.0 < silent && silent < recent && recent <= 1.0,
            "{silent} {recent}"
        );
        // A customer whose last purchase is at the end of the window is certainly alive.
        assert_eq!(CDNOW.p_alive(3.0, 38.86, 38.86), Some(1.0));
    }

    #[test]
    fn both_branches_of_a0_agree_near_alpha_equal_beta() {
        let a = ParetoNbd {
            beta: 10.578 - 1e-7,
            ..CDNOW
        };
        let b = ParetoNbd {
            beta: 10.578 + 1e-7,
            ..CDNOW
        };
        let (la, lb) = (
            a.log_likelihood(2.0, 20.0, 38.0),
            b.log_likelihood(2.0, 20.0, 38.0),
        );
        assert!((la - lb).abs() < 1e-6, "{la} {lb}");
    }

    #[test]
    fn expected_purchases_grow_with_the_horizon() {
        let short = CDNOW.expected_purchases(10.0, 2.0, 30.43, 38.86).unwrap();
        let long = CDNOW.expected_purchases(39.0, 2.0, 30.43, 38.86).unwrap();
        assert!(0.0 < short && short < long, "{short} {long}");
        let s_one = ParetoNbd { s: 1.0, ..CDNOW };
        assert!(
            s_one
                .expected_purchases(39.0, 2.0, 30.43, 38.86)
                .unwrap()
                .is_finite()
        );
    }
}
