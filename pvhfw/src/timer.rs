//! Waiting on a hardware timer that counts down and wraps, as the firmware does before it
//! resets the machine (`-boot reboot-timeout=`): the arithmetic, apart from the timer's
//! registers (the firmware's `timer.rs`).

/// Reads without a change after which [`count_down`] gives up: a timer that does not count must
/// not hold the reset back.
pub const STUCK_READS: u32 = 100_000;

/// Waits until a down-counter of `bits` bits that wraps at 2^`bits` has counted `ticks`,
/// reading it through `count`, which must be called often enough not to miss a wrap. Gives up
/// after [`STUCK_READS`] reads in a row without a change.
pub fn count_down(ticks: u64, mut count: impl FnMut() -> u64, bits: u32) {
    let mask = (1u64 << bits) - 1;
    let (mut elapsed, mut stuck, mut last) = (0u64, 0u32, count());
    while elapsed < ticks && stuck < STUCK_READS {
        let now = count();
        let d = last.wrapping_sub(now) & mask;
        stuck = if d == 0 { stuck + 1 } else { 0 };
        elapsed += d;
        last = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A counter of `bits` bits that starts at `start` and goes down by `step` at each read;
    /// returns how many reads `count_down(ticks)` made.
    fn reads(ticks: u64, bits: u32, start: u64, step: u64) -> u64 {
        let (mut value, mut reads) = (start, 0);
        count_down(
            ticks,
            || {
                reads += 1;
                let now = value;
                value = value.wrapping_sub(step) & ((1 << bits) - 1);
                now
            },
            bits,
        );
        reads
    }

    #[test]
    fn counts_the_ticks_and_no_more() {
        // One read to start, then one per 100 ticks.
        assert_eq!(reads(1000, 32, 50_000, 100), 11);
        assert_eq!(reads(1001, 32, 50_000, 100), 12);
        assert_eq!(reads(0, 32, 50_000, 100), 1);
    }

    #[test]
    fn counts_across_a_wrap() {
        // A 16-bit counter (the PIT's) wraps from 0 to 0xFFFF several times over 200 000 ticks.
        assert_eq!(reads(200_000, 16, 300, 1000), 201);
        // The APIC's 32-bit counter wraps the same way.
        assert_eq!(reads(10_000, 32, 10, 1000), 11);
    }

    /// A 32-bit counter from 1_000_000 whose `k`th read (from 0) shows `at(k)` ticks counted;
    /// returns how many reads `count_down(ticks)` made.
    fn reads_of(ticks: u64, at: impl Fn(u64) -> u64) -> u64 {
        let mut reads = 0;
        count_down(
            ticks,
            || {
                reads += 1;
                1_000_000 - at(reads - 1)
            },
            32,
        );
        reads
    }

    #[test]
    fn a_counter_that_stops_ends_the_wait() {
        assert_eq!(reads(u64::MAX, 32, 7, 0), 1 + u64::from(STUCK_READS));
        // Stopped after 500 ticks, of 1000.
        assert_eq!(reads_of(1000, |k| k.min(500)), 1 + 500 + u64::from(STUCK_READS));
    }

    #[test]
    fn a_slow_counter_is_waited_for() {
        // One tick every other read: unchanged reads in a row never add up to the limit.
        assert_eq!(reads_of(1000, |k| k / 2), 1 + 2000);
        // One tick every STUCK_READS reads: still counting.
        let slow = u64::from(STUCK_READS);
        assert_eq!(reads_of(3, |k| k / slow), 1 + 3 * slow);
    }
}
