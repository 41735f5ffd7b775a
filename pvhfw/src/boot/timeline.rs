//! The timeline: the TSC at the end of each phase, kept in memory and printed once before the
//! jump. Printing as the boot goes would add the cost of the printing itself (a VM exit per
//! byte, and the instructions) to the phases measured.

use super::Boot;
use crate::console::Line;
use crate::fw_cfg::FwCfgIo;
use crate::platform::Platform;

#[derive(Default)]
pub(super) struct Timeline {
    stamps: [(&'static str, u64); 10],
    len: usize,
}

impl<F: FwCfgIo + ?Sized, P: Platform + ?Sized> Boot<'_, F, P> {
    /// With `timeline` logging, notes the TSC (guest instructions under `-icount shift=0`) at
    /// the end of a phase.
    pub(super) fn phase(&mut self, name: &'static str) {
        if let Some(t) = &mut self.timeline {
            let tsc = self.platform.tsc();
            if let Some(slot) = t.stamps.get_mut(t.len) {
                *slot = (name, tsc);
                t.len += 1;
            }
        }
    }

    /// Prints the phases noted so far, one `pvhfw: tsc N PHASE` line each.
    pub(super) fn print_timeline(&mut self) {
        let Some(t) = &self.timeline else { return };
        for &(name, tsc) in &t.stamps[..t.len] {
            Line::new(self.con).str("tsc ").dec(tsc).str(" ").str(name).end();
        }
    }
}
