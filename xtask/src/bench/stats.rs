//! Statistics of repeated measurements: median and interquartile range.

use serde::{Deserialize, Serialize};

/// Median and interquartile range of a sample.
#[derive(Serialize, Deserialize, Clone, Copy, Default, Debug, PartialEq)]
pub struct Spread {
    pub median: f64,
    pub q1: f64,
    pub q3: f64,
}

impl Spread {
    /// Quartiles by linear interpolation between the closest ranks. `v` must not be empty.
    pub fn of(mut v: Vec<f64>) -> Spread {
        v.sort_by(f64::total_cmp);
        let at = |q: f64| {
            let x = q * (v.len() - 1) as f64;
            let (lo, hi) = (x.floor() as usize, x.ceil() as usize);
            v[lo] + (v[hi] - v[lo]) * (x - lo as f64)
        };
        Spread { median: at(0.5), q1: at(0.25), q3: at(0.75) }
    }
}

/// The median of a sample: the middle value, or the mean of the two middle ones. `v` must not
/// be empty.
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_samples() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(vec![-1.5]), -1.5);
    }

    #[test]
    fn spread_interpolates_quartiles() {
        // Sorted 1..=5: ranks 1, 2 and 3 (from 0) exactly.
        assert_eq!(Spread::of(vec![5.0, 1.0, 4.0, 2.0, 3.0]), Spread { median: 3.0, q1: 2.0, q3: 4.0 });
        // Sorted 1..=4: ranks 0.75, 1.5 and 2.25.
        assert_eq!(Spread::of(vec![4.0, 3.0, 2.0, 1.0]), Spread { median: 2.5, q1: 1.75, q3: 3.25 });
        assert_eq!(Spread::of(vec![7.0]), Spread { median: 7.0, q1: 7.0, q3: 7.0 });
    }

    #[test]
    fn spread_median_agrees_with_median() {
        for n in 1..12 {
            let v: Vec<f64> = (0..n).map(|i| ((i * 7919) % 13) as f64 - 4.0).collect();
            assert_eq!(Spread::of(v.clone()).median, median(v), "n = {n}");
        }
    }
}
