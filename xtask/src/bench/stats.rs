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

